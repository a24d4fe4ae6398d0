//! Who is signed in to a page, and forms that prove they came from one of our own pages.
//!
//! Sign-in sets a session cookie (HttpOnly, SameSite=Lax; Secure when the browser came over TLS:
//! `HOLDFAST_SECURE_COOKIES=1`, or a trusted proxy's `X-Forwarded-Proto: https`). Every signed-in form carries a CSRF token derived from the session
//! secret; [`SignedForm`] refuses a post without it. The sign-in and first-run forms, which have no
//! session yet, use a random token also set as a cookie (double submit).

use std::collections::HashMap;

use axum::Form;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use holdfast_core::coworker::{Actor, Status};
use holdfast_core::{CoreError, Holdfast};
use holdfast_store::Store;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::error::PageError;
use super::view::{Me, encode};
use crate::extract::client_of;
use crate::problem::ApiError;
use crate::state::{AppState, blocking};

pub(crate) const SESSION_COOKIE: &str = "holdfast_session";
pub(crate) const LOGIN_COOKIE: &str = "holdfast_login";
/// Remembers a browser that signed in, so that others' password guesses never hold it back.
pub(crate) const DEVICE_COOKIE: &str = "holdfast_device";

/// A cookie's value from the request.
pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// Adds a `Set-Cookie` header to a response.
pub(crate) fn set_cookie(resp: &mut Response, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// `; Secure` when the browser reached us over TLS ([`crate::extract::over_tls`]), so the
/// cookie never travels in clear text.
fn secure(tls: bool) -> &'static str {
    if tls { "; Secure" } else { "" }
}

/// The session cookie for a new session.
pub(crate) fn session_cookie(session: &str, tls: bool) -> String {
    format!(
        "{SESSION_COOKIE}={session}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{}",
        holdfast_core::service::SESSION_DAYS * 86_400,
        secure(tls)
    )
}

/// The device cookie: sent only to the sign-in form.
pub(crate) fn device_cookie(device: &str, tls: bool) -> String {
    format!(
        "{DEVICE_COOKIE}={device}; Path=/login; HttpOnly; SameSite=Lax; Max-Age={}{}",
        holdfast_core::service::DEVICE_DAYS * 86_400,
        secure(tls)
    )
}

fn csrf_for(session: &str) -> String {
    hex::encode(Sha256::digest(format!("holdfast-csrf\0{session}").as_bytes()))[..40].to_string()
}

/// Compares two secrets in time that does not depend on where they differ.
pub(crate) fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The signed-in co-worker of a page request; anyone else is sent to the sign-in page.
pub struct PageUser {
    pub(crate) actor: Actor,
    csrf: String,
    /// Open alerts this co-worker may see (managers and admins; a rep, those addressed to them),
    /// for the navigation.
    open_alerts: i64,
    /// Unread notifications (a lead routed to them, a lead past its clock).
    unread: i64,
}

impl PageUser {
    /// Whether this co-worker may change a record with this owner and account team (to offer
    /// Edit only to who may use it; the service checks again).
    pub(crate) fn may_edit(&self, owner: Option<uuid::Uuid>, team: &[uuid::Uuid]) -> bool {
        holdfast_core::access::may_edit(&self.actor, owner, team)
    }

    pub(crate) fn csrf(&self) -> String {
        self.csrf.clone()
    }

    /// Who the page's header shows as signed in.
    pub(crate) fn me(&self) -> Option<Me> {
        let c = self.actor.coworker.as_ref()?;
        Some(Me {
            name: c.name.clone(),
            admin: self.actor.is_admin(),
            reviewer: self.actor.role() != holdfast_core::coworker::Role::Rep,
            open_alerts: u32::try_from(self.open_alerts).unwrap_or(u32::MAX),
            unread: u32::try_from(self.unread).unwrap_or(u32::MAX),
            csrf: self.csrf.clone(),
        })
    }

    /// A failure as this co-worker's error page.
    pub(crate) fn fail(&self, e: impl Into<PageError>) -> PageError {
        e.into().for_user(self.me())
    }

    /// The record id in a page's path, or the not-found page.
    pub(crate) fn id(&self, text: &str, what: &str) -> Result<Uuid, PageError> {
        Uuid::parse_str(text).map_err(|_| self.fail(PageError::not_found(what)))
    }

    /// Runs a service call as this co-worker on the blocking pool; a refusal or failure becomes
    /// their error page.
    pub(crate) async fn call<T: Send + 'static>(
        &self,
        s: &AppState,
        f: impl FnOnce(&Holdfast<Store>, &Actor) -> Result<T, CoreError> + Send + 'static,
    ) -> Result<T, PageError> {
        self.attempt(s, f).await.map_err(|e| self.fail(e))
    }

    /// Like [`PageUser::call`], but hands the service's error back, for a form to show beside
    /// its fields.
    pub(crate) async fn attempt<T: Send + 'static>(
        &self,
        s: &AppState,
        f: impl FnOnce(&Holdfast<Store>, &Actor) -> Result<T, CoreError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let (services, actor) = (s.clone(), self.actor.clone());
        blocking(move || f(&services, &actor)).await
    }
}

impl FromRequestParts<AppState> for PageUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let next = parts.uri.path_and_query().map(|p| p.as_str().to_string()).unwrap_or_else(|| "/".into());
        let to_login = || Redirect::to(&format!("/login?next={}", encode(&next))).into_response();
        let Some(session) = cookie(&parts.headers, SESSION_COOKIE) else { return Err(to_login()) };
        let (addr, agent) = client_of(parts);
        let services = state.clone();
        let secret = session.clone();
        let Ok(actor) = blocking(move || services.authenticate(&secret, addr, agent)).await else {
            return Err(to_login());
        };
        if actor.channel == holdfast_core::coworker::Channel::Scim {
            return Err(to_login());
        }
        // A password someone else set is replaced before anything else.
        let must_change = actor.coworker.as_ref().is_some_and(|c| c.password_must_change);
        if must_change && !["/password", "/logout"].contains(&parts.uri.path()) {
            return Err(Redirect::to(&format!("/password?next={}", encode(&next))).into_response());
        }
        // An admin who must sign in with a second factor and has none sets it up first.
        if !parts.uri.path().starts_with("/two-factor") && !["/logout", "/password"].contains(&parts.uri.path()) {
            let (services, a) = (state.clone(), actor.clone());
            // Fails closed: when it cannot be told, the enrolment page is where the admin goes.
            if !matches!(blocking(move || services.must_enrol_two_factor(&a)).await, Ok(false)) {
                return Err(Redirect::to(&format!("/two-factor?next={}", encode(&next))).into_response());
            }
        }
        // The confidentiality notice comes before anything else: at a co-worker's first sign-in,
        // and once more while they are departing.
        let signed = actor.coworker.as_ref().is_some_and(|c| matches!(c.status, Status::Active | Status::Departing));
        let exempt = ["/confidentiality", "/logout", "/password"].contains(&parts.uri.path());
        if signed && !exempt {
            let services = state.clone();
            let a = actor.clone();
            if let Ok(Some(_)) = blocking(move || services.pending_confidentiality(&a)).await {
                return Err(Redirect::to(&format!("/confidentiality?next={}", encode(&next))).into_response());
            }
        }
        let open_alerts = {
            let (services, a) = (state.clone(), actor.clone());
            blocking(move || services.open_alert_count(&a)).await.unwrap_or(0)
        };
        let unread = {
            let (services, a) = (state.clone(), actor.clone());
            blocking(move || services.unread_notifications(&a)).await.unwrap_or(0)
        };
        Ok(PageUser { actor, csrf: csrf_for(&session), open_alerts, unread })
    }
}

/// A form posted by the signed-in co-worker from one of our pages (its CSRF token checked).
pub struct SignedForm {
    pub(crate) user: PageUser,
    pairs: Vec<(String, String)>,
}

impl SignedForm {
    /// A field's value (the last, when it was sent more than once).
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.pairs.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// A field's value, empty when it was not sent.
    pub(crate) fn text(&self, name: &str) -> String {
        self.get(name).unwrap_or_default().to_string()
    }

    /// Every value sent for a field (checkboxes, multi-selects).
    pub(crate) fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> {
        self.pairs.iter().filter(move |(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    pub(crate) fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// The fields by name.
    pub(crate) fn map(&self) -> HashMap<String, String> {
        self.pairs.iter().cloned().collect()
    }
}

impl FromRequest<AppState> for SignedForm {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let user = PageUser::from_request_parts(&mut parts, state).await?;
        let Form(pairs) = Form::<Vec<(String, String)>>::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(IntoResponse::into_response)?;
        let form = SignedForm { user, pairs };
        match form.get("csrf_token") {
            Some(t) if same(t, &form.user.csrf) => Ok(form),
            _ => Err(form
                .user
                .fail(PageError::new(StatusCode::FORBIDDEN, "This form has expired", "Reload the page and try again."))
                .into_response()),
        }
    }
}
