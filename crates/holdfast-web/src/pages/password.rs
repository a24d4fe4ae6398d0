//! A co-worker changes their own password; one who signed in with a password someone else set for
//! them is sent here before any other page.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use holdfast_core::CoreError;
use holdfast_core::secret::MIN_PASSWORD_LEN;

use super::error::PageResult;
use super::session::{PageUser, SignedForm};
use super::view::{Me, go, render, safe_next};
use crate::problem::ApiError;
use crate::state::AppState;

#[derive(Template)]
#[template(path = "password.html")]
struct PasswordPage {
    me: Option<Me>,
    csrf: String,
    /// The password was set for them: they must choose their own.
    must: bool,
    next: String,
    min: usize,
    error: Option<String>,
}

fn page(user: &PageUser, next: &str, error: Option<String>, status: StatusCode) -> PageResult {
    let must = user.actor.coworker.as_ref().is_some_and(|c| c.password_must_change);
    let next = safe_next(next).to_string();
    let p = PasswordPage { me: user.me(), csrf: user.csrf(), must, next, min: MIN_PASSWORD_LEN, error };
    Ok(render(&p, status))
}

pub async fn password_form(user: PageUser, Query(q): Query<HashMap<String, String>>) -> PageResult {
    page(&user, q.get("next").map(String::as_str).unwrap_or("/"), None, StatusCode::OK)
}

pub async fn change_password(State(s): State<AppState>, form: SignedForm) -> PageResult {
    let next = form.text("next");
    let (current, new) = (form.text("current_password"), form.text("new_password"));
    if new != form.text("confirm_password") {
        let error = Some("The two new passwords differ; type the same one twice.".to_string());
        return page(&form.user, &next, error, StatusCode::UNPROCESSABLE_ENTITY);
    }
    match form.user.attempt(&s, move |s, actor| s.change_own_password(actor, &current, &new)).await {
        Ok(()) => Ok(go(safe_next(&next))),
        Err(ApiError::Core(CoreError::Invalid(errors))) => {
            let error = errors
                .iter()
                .map(|e| format!("{} {}", e.field.replace('_', " "), e.reason))
                .collect::<Vec<_>>()
                .join("; ");
            page(&form.user, &next, Some(error), StatusCode::UNPROCESSABLE_ENTITY)
        }
        Err(ApiError::Core(CoreError::TooManyAttempts(why))) => {
            page(&form.user, &next, Some(why), StatusCode::TOO_MANY_REQUESTS)
        }
        Err(e) => Err(form.user.fail(e)),
    }
}
