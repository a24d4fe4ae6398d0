//! Settings: for admins the read policy, export policy, bulk-read limit and confidentiality
//! notice; for everyone their own API tokens and a link to their own system events.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
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
    /// Single sign-on as configured (never its secret), and the redirect URI to register.
    sso: Option<holdfast_core::service::SingleSignOn>,
    sso_callback: String,
    /// Whether everyone may sign in with a password.
    passwords_on: bool,
    two_factor_for_admins: bool,
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

async fn settings_page(s: AppState, user: &PageUser, saved: bool, made: Made, parts: &Parts) -> PageResult {
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
        scim_url: format!("{}/scim/v2", crate::extract::public_base(parts)),
        sso: settings.single_sign_on.clone().map(|mut sso| {
            sso.client_secret = String::new();
            sso
        }),
        two_factor_for_admins: settings.two_factor_for_admins,
        passwords_on: settings.single_sign_on.as_ref().is_none_or(|s| s.passwords),
        sso_callback: format!("{}{}", crate::extract::public_base(parts), super::sign_in::SSO_CALLBACK),
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
    parts: Parts,
    Query(q): Query<HashMap<String, String>>,
) -> PageResult {
    settings_page(s, &user, q.contains_key("saved"), Made::Nothing, &parts).await
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
pub async fn create_token(State(s): State<AppState>, parts: Parts, form: SignedForm) -> PageResult {
    let name = form.text("name");
    let t = form
        .user
        .call(&s, move |s, actor| s.create_token(actor, &actor.id().map(|i| i.to_string()).unwrap_or_default(), &name))
        .await?;
    settings_page(s, &form.user, false, Made::Api(t.secret), &parts).await
}

/// Whether admins must use two-factor sign-in (admins).
pub async fn save_two_factor(State(s): State<AppState>, form: SignedForm) -> PageResult {
    let on = form.get("two_factor_for_admins") == Some("on");
    let change = SettingsChange { two_factor_for_admins: Some(on), ..Default::default() };
    form.user.call(&s, move |s, actor| s.change_settings(actor, &change)).await?;
    Ok(go("/settings?saved=1#two-factor-policy"))
}

/// Turns single sign-on on or changes it (admins).
pub async fn save_single_sign_on(State(s): State<AppState>, form: SignedForm) -> PageResult {
    let hours = match form.get("session_hours").map(str::trim).filter(|h| !h.is_empty()) {
        Some(h) => Some(
            h.parse::<i64>()
                .map_err(|_| form.user.fail(CoreError::invalid("session_hours", "must be a whole number of hours")))?,
        ),
        None => None,
    };
    let change = holdfast_core::service::SingleSignOnChange {
        issuer: Some(form.text("issuer")),
        client_id: Some(form.text("client_id")),
        client_secret: form.get("client_secret").map(String::from),
        name: Some(form.text("name")),
        passwords: Some(form.get("passwords") == Some("on")),
        break_glass: Some(form.text("break_glass")),
        session_hours: hours,
    };
    form.user.call(&s, move |s, actor| s.set_single_sign_on(actor, Some(change))).await?;
    Ok(go("/settings?saved=1#single-sign-on"))
}

/// Turns single sign-on off (admins).
pub async fn single_sign_on_off(State(s): State<AppState>, form: SignedForm) -> PageResult {
    form.user.call(&s, move |s, actor| s.set_single_sign_on(actor, None)).await?;
    Ok(go("/settings?saved=1#single-sign-on"))
}

/// Creates a SCIM token for the identity provider (an admin's own) and shows it once.
pub async fn create_scim_token(State(s): State<AppState>, parts: Parts, form: SignedForm) -> PageResult {
    let name = form.text("name");
    let t = form
        .user
        .call(&s, move |s, actor| {
            s.create_scim_token(actor, &actor.id().map(|i| i.to_string()).unwrap_or_default(), &name)
        })
        .await?;
    settings_page(s, &form.user, false, Made::Scim(t.secret), &parts).await
}

pub async fn revoke_token(State(s): State<AppState>, Path(id): Path<String>, form: SignedForm) -> PageResult {
    let token = form.user.id(&id, "token")?;
    form.user
        .call(&s, move |s, actor| s.revoke_token(actor, &actor.id().map(|i| i.to_string()).unwrap_or_default(), token))
        .await?;
    Ok(go("/settings"))
}
