//! Settings: for admins the read policy, export policy, bulk-read limit and confidentiality
//! notice; for everyone their own API tokens and a link to their own system events.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use holdfast_core::CoreError;
use holdfast_core::service::SettingsChange;
use uuid::Uuid;

use super::error::PageResult;
use super::session::{PageUser, SignedForm};
use super::view::{Me, go, render, short_time};
use crate::state::AppState;

struct TokenRow {
    id: Uuid,
    name: String,
    created: String,
    used: String,
    live: bool,
}

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage {
    me: Option<Me>,
    admin: bool,
    csrf: String,
    policy: String,
    saved: bool,
    tokens: Vec<TokenRow>,
    new_token: Option<String>,
    /// The admin's SCIM tokens (the identity provider's), and one just made.
    scim_tokens: Vec<TokenRow>,
    new_scim_token: Option<String>,
    /// This server's SCIM base URL, as the browser reached it.
    scim_url: String,
    /// The confidentiality notice departing co-workers acknowledge.
    notice: String,
    /// Its versions, newest first.
    versions: Vec<String>,
    /// The introduction email a departure's introduction tasks carry.
    introduction: String,
    /// Senior-contact cadences by tier, as text.
    cadence: String,
    export_policy: String,
    bulk_read_limit: i64,
    /// The signed-in co-worker's id, for "what Holdfast records about you".
    my_id: String,
}

/// A token made on this response, shown once.
enum Made {
    Nothing,
    Api(String),
    Scim(String),
}

/// The SCIM base URL as the browser reached this server.
fn scim_url(headers: &HeaderMap) -> String {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
    let host: String = host.chars().filter(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(*c)).collect();
    let proto = headers.get("x-forwarded-proto").and_then(|h| h.to_str().ok()).unwrap_or("http");
    let scheme = if proto.eq_ignore_ascii_case("https") { "https" } else { "http" };
    format!("{scheme}://{host}/scim/v2")
}

async fn settings_page(s: AppState, user: &PageUser, saved: bool, made: Made, headers: &HeaderMap) -> PageResult {
    let my_id = user.actor.id().map(|i| i.to_string()).unwrap_or_default();
    let me = my_id.clone();
    let (settings, tokens, versions) = user
        .call(&s, move |s, actor| Ok((s.settings()?, s.list_credentials(actor, &me)?, s.notice_versions()?)))
        .await?;
    let versions = versions
        .iter()
        .rev()
        .map(|v| {
            format!("version {} of {} ({})", v.version, short_time(v.published_at), &v.sha256[..12.min(v.sha256.len())])
        })
        .collect();
    let rows = |kind: &str| -> Vec<TokenRow> {
        tokens
            .iter()
            .filter(|t| t.kind == kind)
            .map(|t| TokenRow {
                id: t.id,
                name: t.name.clone(),
                created: short_time(t.created_at),
                used: t.last_used_at.map(short_time).unwrap_or_else(|| "never".into()),
                live: t.revoked_at.is_none(),
            })
            .collect()
    };
    let (new_token, new_scim_token) = match made {
        Made::Nothing => (None, None),
        Made::Api(t) => (Some(t), None),
        Made::Scim(t) => (None, Some(t)),
    };
    let page = SettingsPage {
        me: user.me(),
        admin: user.actor.is_admin(),
        csrf: user.csrf(),
        policy: settings.read_policy.as_str().into(),
        saved,
        tokens: rows("api"),
        new_token,
        scim_tokens: rows("scim"),
        new_scim_token,
        scim_url: scim_url(headers),
        notice: settings.confidentiality_notice.text.clone(),
        versions,
        introduction: settings.introduction_template.clone(),
        cadence: settings.senior_cadence.to_text(),
        my_id,
        export_policy: settings.export_policy.as_str().into(),
        bulk_read_limit: settings.bulk_read_limit,
    };
    Ok(render(&page, StatusCode::OK))
}

pub async fn settings(
    State(s): State<AppState>,
    user: PageUser,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> PageResult {
    settings_page(s, &user, q.contains_key("saved"), Made::Nothing, &headers).await
}

/// Saves the read policy, export policy and bulk-read limit (admins), all or nothing.
pub async fn save_settings(State(s): State<AppState>, form: SignedForm) -> PageResult {
    let bulk_read_limit =
        match form.get("bulk_read_limit") {
            Some(l) => Some(l.trim().replace(',', "").parse::<i64>().map_err(|_| {
                form.user.fail(CoreError::invalid("bulk_read_limit", "must be a whole number of rows"))
            })?),
            None => None,
        };
    let change = SettingsChange {
        read_policy: Some(form.text("read_policy")),
        export_policy: form.get("export_policy").map(String::from),
        bulk_read_limit,
        ..Default::default()
    };
    form.user.call(&s, move |s, actor| s.change_settings(actor, &change)).await?;
    Ok(go("/settings?saved=1"))
}

/// Saves the confidentiality notice (admins).
pub async fn save_confidentiality_notice(State(s): State<AppState>, form: SignedForm) -> PageResult {
    let change = SettingsChange { confidentiality_notice: Some(form.text("notice")), ..Default::default() };
    form.user.call(&s, move |s, actor| s.change_settings(actor, &change)).await?;
    Ok(go("/settings?saved=1"))
}

/// Saves the senior-contact cadences by tier (admins).
pub async fn save_cadence(State(s): State<AppState>, form: SignedForm) -> PageResult {
    let change = SettingsChange { senior_cadence: Some(form.text("senior_cadence")), ..Default::default() };
    form.user.call(&s, move |s, actor| s.change_settings(actor, &change)).await?;
    Ok(go("/settings?saved=1"))
}

/// Saves the introduction email template (admins).
pub async fn save_introduction(State(s): State<AppState>, form: SignedForm) -> PageResult {
    let change = SettingsChange { introduction_template: Some(form.text("introduction")), ..Default::default() };
    form.user.call(&s, move |s, actor| s.change_settings(actor, &change)).await?;
    Ok(go("/settings?saved=1"))
}

/// Creates one of the co-worker's own API tokens and shows it once, on this response only.
pub async fn create_token(State(s): State<AppState>, headers: HeaderMap, form: SignedForm) -> PageResult {
    let name = form.text("name");
    let t = form
        .user
        .call(&s, move |s, actor| s.create_token(actor, &actor.id().map(|i| i.to_string()).unwrap_or_default(), &name))
        .await?;
    settings_page(s, &form.user, false, Made::Api(t.secret), &headers).await
}

/// Creates a SCIM token for the identity provider (an admin's own) and shows it once.
pub async fn create_scim_token(State(s): State<AppState>, headers: HeaderMap, form: SignedForm) -> PageResult {
    let name = form.text("name");
    let t = form
        .user
        .call(&s, move |s, actor| {
            s.create_scim_token(actor, &actor.id().map(|i| i.to_string()).unwrap_or_default(), &name)
        })
        .await?;
    settings_page(s, &form.user, false, Made::Scim(t.secret), &headers).await
}

pub async fn revoke_token(State(s): State<AppState>, Path(id): Path<String>, form: SignedForm) -> PageResult {
    let token = form.user.id(&id, "token")?;
    form.user
        .call(&s, move |s, actor| s.revoke_token(actor, &actor.id().map(|i| i.to_string()).unwrap_or_default(), token))
        .await?;
    Ok(go("/settings"))
}
