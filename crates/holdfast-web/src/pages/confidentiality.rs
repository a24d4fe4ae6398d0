//! The confidentiality notice a departing co-worker is shown once, before anything else, and
//! their acknowledgement (recorded with the SHA-256 of the exact text they saw).

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;

use super::error::PageResult;
use super::session::{PageUser, SignedForm};
use super::view::{Me, go, render, safe_next};
use crate::state::AppState;

#[derive(Template)]
#[template(path = "confidentiality.html")]
struct ConfidentialityPage {
    me: Option<Me>,
    csrf: String,
    text: String,
    sha256: String,
    next: String,
}

pub async fn confidentiality(
    State(s): State<AppState>,
    user: PageUser,
    Query(q): Query<HashMap<String, String>>,
) -> PageResult {
    let Some(notice) = user.call(&s, |s, actor| s.pending_confidentiality(actor)).await? else { return Ok(go("/")) };
    let page = ConfidentialityPage {
        me: user.me(),
        csrf: user.csrf(),
        text: notice.text,
        sha256: notice.sha256,
        next: safe_next(q.get("next").map(String::as_str).unwrap_or("/")).to_string(),
    };
    Ok(render(&page, StatusCode::OK))
}

pub async fn acknowledge_confidentiality(State(s): State<AppState>, form: SignedForm) -> PageResult {
    let next = safe_next(form.get("next").unwrap_or("/")).to_string();
    let sha = form.text("sha256");
    form.user.call(&s, move |s, actor| s.acknowledge_confidentiality(actor, &sha)).await?;
    Ok(go(&next))
}
