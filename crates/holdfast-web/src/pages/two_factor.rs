//! Two-factor sign-in on the pages: the code step after a password, and enrolling an
//! authenticator app (a QR code drawn as SVG, confirmed by one code, then the recovery codes once).

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use holdfast_core::CoreError;
use holdfast_core::service::Enrolment;
use qrcodegen::{QrCode, QrCodeEcc};

use super::error::PageResult;
use super::session::{PageUser, SignedForm};
use super::view::{Me, render, safe_next};
use crate::state::AppState;

#[derive(Template)]
#[template(path = "two_factor.html")]
struct TwoFactorPage {
    me: Option<Me>,
    csrf: String,
    next: String,
    /// The admin setting requires it and they have none yet.
    must: bool,
    error: Option<String>,
    enrolment: Option<Enrolment>,
    qr_svg: String,
    recovery_codes: Option<Vec<String>>,
    recovery_left: Option<i64>,
}

/// A QR code as an inline SVG (black modules on white, a quiet zone of four).
pub(crate) fn qr_svg(text: &str) -> String {
    let Ok(qr) = QrCode::encode_text(text, QrCodeEcc::Medium) else { return String::new() };
    let size = qr.size();
    let mut path = String::new();
    for y in 0..size {
        for x in 0..size {
            if qr.get_module(x, y) {
                path.push_str(&format!("M{},{}h1v1h-1z", x + 4, y + 4));
            }
        }
    }
    let full = size + 8;
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {full} {full}\" width=\"220\" height=\"220\" role=\"img\" aria-label=\"QR code for your authenticator app\" shape-rendering=\"crispEdges\"><rect width=\"{full}\" height=\"{full}\" fill=\"#fff\"/><path d=\"{path}\" fill=\"#000\"/></svg>"
    )
}

struct Shown {
    error: Option<String>,
    enrolment: Option<Enrolment>,
    recovery_codes: Option<Vec<String>>,
}

async fn page(s: &AppState, user: &PageUser, next: &str, shown: Shown, status: StatusCode) -> PageResult {
    let me = user.actor.id().unwrap_or_default();
    let (left, must) =
        user.call(s, move |s, actor| Ok((s.two_factor_of(me)?, s.must_enrol_two_factor(actor)?))).await?;
    let qr_svg = shown.enrolment.as_ref().map(|e| qr_svg(&e.otpauth_url)).unwrap_or_default();
    let p = TwoFactorPage {
        me: user.me(),
        csrf: user.csrf(),
        next: safe_next(next).to_string(),
        must,
        error: shown.error,
        enrolment: shown.enrolment,
        qr_svg,
        recovery_codes: shown.recovery_codes,
        recovery_left: left,
    };
    Ok(render(&p, status))
}

pub async fn show(State(s): State<AppState>, user: PageUser, Query(q): Query<HashMap<String, String>>) -> PageResult {
    let next = q.get("next").cloned().unwrap_or_else(|| "/".into());
    page(&s, &user, &next, Shown { error: None, enrolment: None, recovery_codes: None }, StatusCode::OK).await
}

pub async fn begin(State(s): State<AppState>, form: SignedForm) -> PageResult {
    let (next, password) = (form.text("next"), form.text("password"));
    let (services, actor) = (s.clone(), form.user.actor.clone());
    match crate::state::blocking(move || services.begin_two_factor(&actor, &password)).await {
        Ok(enrolment) => {
            let shown = Shown { error: None, enrolment: Some(enrolment), recovery_codes: None };
            page(&s, &form.user, &next, shown, StatusCode::OK).await
        }
        Err(crate::problem::ApiError::Core(CoreError::Invalid(_))) => {
            let shown = Shown {
                error: Some("That is not your current password.".into()),
                enrolment: None,
                recovery_codes: None,
            };
            page(&s, &form.user, &next, shown, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn confirm(State(s): State<AppState>, form: SignedForm) -> PageResult {
    let (next, code) = (form.text("next"), form.text("code"));
    let (services, actor) = (s.clone(), form.user.actor.clone());
    match crate::state::blocking(move || services.confirm_two_factor(&actor, &code)).await {
        Ok(codes) => {
            let shown = Shown { error: None, enrolment: None, recovery_codes: Some(codes) };
            page(&s, &form.user, &next, shown, StatusCode::OK).await
        }
        Err(crate::problem::ApiError::Core(CoreError::Invalid(errors))) => {
            // The same secret stays in force: show it again with what was wrong.
            let again = form.user.call(&s, |s, actor| s.two_factor_enrolment(actor)).await?;
            let why = errors.first().map(|e| e.reason.clone()).unwrap_or_default();
            let shown = Shown { error: Some(why), enrolment: again, recovery_codes: None };
            page(&s, &form.user, &next, shown, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(e) => Err(e.into()),
    }
}

/// Another admin resets a co-worker's two-factor sign-in (from their profile).
pub async fn reset(
    State(s): State<AppState>,
    axum::extract::Path(id): axum::extract::Path<String>,
    form: SignedForm,
) -> PageResult {
    let back = format!("/coworkers/{id}");
    form.user.call(&s, move |s, actor| s.reset_two_factor(actor, &id).map(|_| ())).await?;
    Ok(super::view::go(&back))
}
