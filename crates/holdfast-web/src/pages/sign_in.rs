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
    /// The identity provider's name, when single sign-on is set up.
    sso: Option<String>,
    /// Whether everyone may sign in with a password (off: only the break-glass admin).
    passwords: bool,
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

async fn login_form(s: &AppState, next: &str, email: &str, error: Option<String>, status: StatusCode) -> Response {
    let next = safe_next(next).to_string();
    let services = s.clone();
    let sso = blocking(move || Ok(services.settings()?.single_sign_on.clone())).await.ok().flatten();
    let passwords = sso.as_ref().is_none_or(|s| s.passwords);
    let sso = sso.map(|s| s.name);
    with_form_token(
        |csrf| render(&LoginPage { me: None, csrf, next, email: email.into(), error, sso, passwords }, status),
        "/login",
    )
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
    let services = s.clone();
    if let Ok(false) = blocking(move || services.has_coworkers()).await {
        return setup_form(None, StatusCode::OK);
    }
    login_form(&s, q.get("next").map(String::as_str).unwrap_or("/"), "", None, StatusCode::OK).await
}

/// Where the identity provider sends the browser back.
fn callback_url(parts: &Parts) -> String {
    format!("{}{SSO_CALLBACK}", crate::extract::public_base(parts))
}

/// The cookie that ties a single sign-on to the browser that began it (so nobody can hand a
/// victim the tail of their own sign-on and have them signed in as the attacker).
const SSO_COOKIE: &str = "holdfast_sso";

/// The path the identity provider sends the browser back to (register it with the provider).
pub const SSO_CALLBACK: &str = "/login/sso/callback";

/// "Sign in with …": sends the browser to the identity provider with a fresh state, nonce and
/// PKCE challenge (kept until it comes back, usable once).
pub async fn single_sign_on(
    State(s): State<AppState>,
    parts: Parts,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let next: String = safe_next(q.get("next").map(String::as_str).unwrap_or("/")).chars().take(1000).collect();
    let next = safe_next(&next).to_string();
    let redirect = callback_url(&parts);
    let (services, kept) = (s.clone(), next.clone());
    let begun = blocking(move || {
        let sso = services.settings()?.single_sign_on.clone().ok_or_else(|| {
            CoreError::Unauthenticated("single sign-on is not set up here; sign in with your password".into())
        })?;
        let begun = crate::single_sign_on::begin(&sso, &redirect)?;
        services.remember_sign_in_request(&begun.state, &begun.nonce, &begun.pkce_verifier, &kept)?;
        Ok((begun.authorize_url, begun.state))
    })
    .await;
    match begun {
        Ok((url, state)) => {
            let mut resp = go(&url);
            let secure = if over_tls(&parts) { "; Secure" } else { "" };
            set_cookie(
                &mut resp,
                &format!("{SSO_COOKIE}={state}; Path=/login/sso; HttpOnly; SameSite=Lax; Max-Age=600{secure}"),
            );
            resp
        }
        Err(ApiError::Core(CoreError::Unauthenticated(why))) => {
            login_form(&s, &next, "", Some(why), StatusCode::SERVICE_UNAVAILABLE).await
        }
        Err(other) => PageError::from(other).into_response(),
    }
}

/// The identity provider sends the browser back here with a code (or an error): the sign-on it
/// names is taken (once), the code exchanged, the ID token checked, and a session opened.
pub async fn single_sign_on_callback(
    State(s): State<AppState>,
    parts: Parts,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let (addr, agent) = client_of(&parts);
    let tls = over_tls(&parts);
    let redirect = callback_url(&parts);
    let get = |k: &str| q.get(k).cloned().unwrap_or_default();
    let (code, state, error) = (get("code"), get("state"), get("error"));
    // What the provider said, when it refused: its words, printable and short.
    let described: String = get("error_description").chars().filter(|c| !c.is_control()).take(200).collect();
    let began_here = cookie(&parts.headers, SSO_COOKIE).is_some_and(|c| !state.is_empty() && same(&c, &state));
    let services = s.clone();
    let signed_in = blocking(move || {
        if !began_here {
            services.note_refused_sign_on("the sign-on was not begun in this browser", addr, agent)?;
            return Err(CoreError::Unauthenticated(
                "this sign-in was not started in this browser; start again from the sign-in page".into(),
            ));
        }
        let request = services.take_sign_in_request(&state, addr.clone(), agent.clone())?;
        let sso = services
            .settings()?
            .single_sign_on
            .clone()
            .ok_or_else(|| CoreError::Unauthenticated("single sign-on is not set up here".into()))?;
        let checked = if !error.is_empty() {
            let error: String = error.chars().filter(|c| c.is_ascii_graphic()).take(60).collect();
            let why = if described.is_empty() { error } else { format!("{error}: {described}") };
            Err(CoreError::Unauthenticated(format!("{} did not sign you in ({why}).", sso.name)))
        } else {
            crate::single_sign_on::finish(&sso, &redirect, &code, &request.pkce_verifier, &request.nonce)
        };
        let who = match checked {
            Ok(who) => who,
            Err(e) => {
                services.note_refused_sign_on(&e.to_string(), addr, agent)?;
                return Err(e);
            }
        };
        let done = services.sign_in_with_provider(&who, addr, agent)?;
        Ok((done, request.next))
    })
    .await;
    match signed_in {
        Ok((done, next)) => {
            let mut resp = go(safe_next(&next));
            set_cookie(&mut resp, &session_cookie(&done.session, tls));
            set_cookie(&mut resp, &format!("{SSO_COOKIE}=; Path=/login/sso; Max-Age=0"));
            resp
        }
        Err(ApiError::Core(CoreError::Unauthenticated(why))) => {
            login_form(&s, "/", "", Some(why), StatusCode::UNAUTHORIZED).await
        }
        Err(other) => PageError::from(other).into_response(),
    }
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
        return login_form(&s, &next, &email, expired, StatusCode::FORBIDDEN).await;
    }
    let (addr, agent) = client_of(&parts);
    let tls = over_tls(&parts);
    let device = cookie(&parts.headers, DEVICE_COOKIE);
    let login_email = email.clone();
    let services = s.clone();
    let signed_in = blocking(move || {
        let attempt = SignIn {
            email: &login_email,
            password: &password,
            client_addr: addr,
            user_agent: agent,
            device: device.as_deref(),
            remember_device: true,
            code: None,
            pending_allowed: true,
        };
        services.sign_in(attempt)
    });
    match signed_in.await {
        Ok(done) if done.pending => {
            // The password was right; the second factor comes next, on its own page.
            let mut resp = go(&format!("/login/code?next={}", super::view::encode(safe_next(&next))));
            let secure = if tls { "; Secure" } else { "" };
            set_cookie(
                &mut resp,
                &format!("{PENDING_COOKIE}={}; Path=/login; HttpOnly; SameSite=Lax; Max-Age=300{secure}", done.session),
            );
            resp
        }
        Ok(done) => {
            let mut resp = go(safe_next(&next));
            set_cookie(&mut resp, &session_cookie(&done.session, tls));
            set_cookie(&mut resp, &format!("{LOGIN_COOKIE}=; Path=/login; Max-Age=0"));
            if let Some(device) = done.device {
                set_cookie(&mut resp, &device_cookie(&device, tls));
            }
            resp
        }
        Err(ApiError::Core(CoreError::Forbidden(why))) => {
            login_form(&s, &next, &email, Some(why), StatusCode::FORBIDDEN).await
        }
        Err(ApiError::Core(CoreError::TooManyAttempts(why))) => {
            login_form(&s, &next, &email, Some(why), StatusCode::TOO_MANY_REQUESTS).await
        }
        Err(ApiError::Core(CoreError::Unauthenticated(_))) => {
            let wrong = Some("That email and password do not match.".into());
            login_form(&s, &next, &email, wrong, StatusCode::UNAUTHORIZED).await
        }
        Err(other) => PageError::from(other).into_response(),
    }
}

/// The cookie that carries a sign-in waiting for its second factor (five minutes, `/login` only).
const PENDING_COOKIE: &str = "holdfast_pending";

#[derive(Template)]
#[template(path = "login_code.html")]
struct CodePage {
    me: Option<Me>,
    csrf: String,
    next: String,
    error: Option<String>,
}

fn code_form(next: &str, error: Option<String>, status: StatusCode) -> Response {
    let next = safe_next(next).to_string();
    with_form_token(|csrf| render(&CodePage { me: None, csrf, next, error }, status), "/login")
}

/// The second step of a password sign-in for a co-worker with two-factor sign-in.
pub async fn code_page(parts: Parts, Query(q): Query<HashMap<String, String>>) -> Response {
    let next = q.get("next").map(String::as_str).unwrap_or("/");
    if cookie(&parts.headers, PENDING_COOKIE).is_none() {
        return go(&format!("/login?next={}", super::view::encode(safe_next(next))));
    }
    code_form(next, None, StatusCode::OK)
}

/// Checks the code and opens the session.
pub async fn code_submit(
    State(s): State<AppState>,
    parts: Parts,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let field = |k: &str| form.get(k).cloned().unwrap_or_default();
    let (code, next) = (field("code"), field("next"));
    if !genuine(&parts, &form) {
        return code_form(
            &next,
            Some("The form had expired. Please type the code again.".into()),
            StatusCode::FORBIDDEN,
        );
    }
    let Some(pending) = cookie(&parts.headers, PENDING_COOKIE) else {
        return login_form(
            &s,
            &next,
            "",
            Some("Your sign-in expired; enter your password again.".into()),
            StatusCode::UNAUTHORIZED,
        )
        .await;
    };
    let (addr, agent) = client_of(&parts);
    let tls = over_tls(&parts);
    let services = s.clone();
    // A browser that has no device cookie yet is remembered, as after a password alone.
    let remember = cookie(&parts.headers, DEVICE_COOKIE).is_none();
    let done = blocking(move || services.complete_sign_in(&pending, &code, addr, agent, remember)).await;
    match done {
        Ok(done) => {
            let mut resp = go(safe_next(&next));
            set_cookie(&mut resp, &session_cookie(&done.session, tls));
            set_cookie(&mut resp, &format!("{PENDING_COOKIE}=; Path=/login; Max-Age=0"));
            set_cookie(&mut resp, &format!("{LOGIN_COOKIE}=; Path=/login; Max-Age=0"));
            if let Some(device) = done.device {
                set_cookie(&mut resp, &device_cookie(&device, tls));
            }
            resp
        }
        Err(ApiError::Core(CoreError::Unauthenticated(why))) if why.contains("expired") => {
            login_form(&s, &next, "", Some(format!("{why}.")), StatusCode::UNAUTHORIZED).await
        }
        Err(ApiError::Core(CoreError::Unauthenticated(_))) => code_form(
            &next,
            Some("That code is wrong or was already used. Try the code the app shows now.".into()),
            StatusCode::UNAUTHORIZED,
        ),
        Err(ApiError::Core(CoreError::TooManyAttempts(why))) => {
            code_form(&next, Some(why), StatusCode::TOO_MANY_REQUESTS)
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
