//! Signing in and out, and the first run (creating the first admin while there is nobody).

use std::collections::HashMap;

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use holdfast_core::coworker::Role;
use holdfast_core::service::{NewCoWorker, SignIn};
use holdfast_core::{CoreError, secret};

use super::error::{PageError, PageResult};
use super::session::{
    DEVICE_COOKIE, LOGIN_COOKIE, SESSION_COOKIE, SignedForm, cookie, device_cookie, same, session_cookie, set_cookie,
};
use super::view::{Me, go, render, safe_next};
use crate::extract::{client_of, over_tls};
use crate::problem::ApiError;
use crate::state::{AppState, blocking};

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    me: Option<Me>,
    csrf: String,
    next: String,
    email: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "setup.html")]
struct SetupPage {
    me: Option<Me>,
    csrf: String,
    error: Option<String>,
}

/// A fresh double-submit token for a form without a session, set as a cookie on `path`.
fn with_form_token(page: impl FnOnce(String) -> Response, path: &str) -> Response {
    let (token, _) = secret::new_token();
    let mut resp = page(token.clone());
    set_cookie(&mut resp, &format!("{LOGIN_COOKIE}={token}; Path={path}; HttpOnly; SameSite=Lax; Max-Age=3600"));
    resp
}

fn login_form(next: &str, email: &str, error: Option<String>, status: StatusCode) -> Response {
    let next = safe_next(next).to_string();
    with_form_token(|csrf| render(&LoginPage { me: None, csrf, next, email: email.into(), error }, status), "/login")
}

fn setup_form(error: Option<String>, status: StatusCode) -> Response {
    with_form_token(|csrf| render(&SetupPage { me: None, csrf, error }, status), "/")
}

/// Whether a sign-in or first-run form carries the token its cookie holds.
fn genuine(parts: &Parts, form: &HashMap<String, String>) -> bool {
    let expected = cookie(&parts.headers, LOGIN_COOKIE).unwrap_or_default();
    !expected.is_empty() && same(&expected, form.get("csrf_token").map(String::as_str).unwrap_or_default())
}

pub async fn login_page(State(s): State<AppState>, Query(q): Query<HashMap<String, String>>) -> Response {
    if let Ok(false) = blocking(move || s.has_coworkers()).await {
        return setup_form(None, StatusCode::OK);
    }
    login_form(q.get("next").map(String::as_str).unwrap_or("/"), "", None, StatusCode::OK)
}

/// First run: creates the first admin (only while there are no co-workers), then signs them in.
pub async fn setup_submit(
    State(s): State<AppState>,
    parts: Parts,
    Form(form): Form<HashMap<String, String>>,
) -> PageResult {
    if !genuine(&parts, &form) {
        return Ok(setup_form(Some("The form had expired. Please fill it in again.".into()), StatusCode::FORBIDDEN));
    }
    let field = |k: &str| form.get(k).cloned().unwrap_or_default();
    let (addr, agent) = client_of(&parts);
    let tls = over_tls(&parts);
    let new = NewCoWorker {
        email: field("email"),
        name: field("name"),
        role: Role::Admin,
        seniority: None,
        team: None,
        manager: None,
        title: None,
        password: Some(field("password")),
        password_must_change: false,
    };
    let (email, password) = (field("email"), field("password"));
    let created = blocking(move || {
        s.create_first_admin(new, addr.clone(), agent.clone())?;
        s.login(&email, &password, addr, agent)
    })
    .await;
    match created {
        Ok((_, session)) => {
            let mut resp = go("/");
            set_cookie(&mut resp, &session_cookie(&session, tls));
            Ok(resp)
        }
        Err(ApiError::Core(CoreError::Invalid(errors))) => {
            let msg = errors.iter().map(|e| format!("{} {}", e.field, e.reason)).collect::<Vec<_>>().join("; ");
            Ok(setup_form(Some(format!("Please check: {msg}")), StatusCode::UNPROCESSABLE_ENTITY))
        }
        Err(ApiError::Core(CoreError::Conflict(why))) => {
            Err(PageError::new(StatusCode::CONFLICT, "Already set up", &why))
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn login_submit(
    State(s): State<AppState>,
    parts: Parts,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let field = |k: &str| form.get(k).cloned().unwrap_or_default();
    let (email, password, next) = (field("email"), field("password"), field("next"));
    if !genuine(&parts, &form) {
        let expired = Some("The sign-in form had expired. Please sign in again.".into());
        return login_form(&next, &email, expired, StatusCode::FORBIDDEN);
    }
    let (addr, agent) = client_of(&parts);
    let tls = over_tls(&parts);
    let device = cookie(&parts.headers, DEVICE_COOKIE);
    let login_email = email.clone();
    let signed_in = blocking(move || {
        let attempt = SignIn {
            email: &login_email,
            password: &password,
            client_addr: addr,
            user_agent: agent,
            device: device.as_deref(),
            remember_device: true,
        };
        s.sign_in(attempt)
    });
    match signed_in.await {
        Ok(done) => {
            let mut resp = go(safe_next(&next));
            set_cookie(&mut resp, &session_cookie(&done.session, tls));
            set_cookie(&mut resp, &format!("{LOGIN_COOKIE}=; Path=/login; Max-Age=0"));
            if let Some(device) = done.device {
                set_cookie(&mut resp, &device_cookie(&device, tls));
            }
            resp
        }
        Err(ApiError::Core(CoreError::TooManyAttempts(why))) => {
            login_form(&next, &email, Some(why), StatusCode::TOO_MANY_REQUESTS)
        }
        Err(ApiError::Core(CoreError::Unauthenticated(_))) => {
            login_form(&next, &email, Some("That email and password do not match.".into()), StatusCode::UNAUTHORIZED)
        }
        Err(other) => PageError::from(other).into_response(),
    }
}

/// Signs out: the session ends at once, here and on every copy of the cookie.
pub async fn logout(State(s): State<AppState>, form: SignedForm) -> Response {
    let _ = form.user.call(&s, |s, actor| s.logout(actor)).await;
    let mut resp = go("/login");
    set_cookie(&mut resp, &format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"));
    resp
}
