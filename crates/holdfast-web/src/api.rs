//! The JSON API under `/api/v1`. Handlers only translate HTTP to service calls and back.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::IntoResponse;
use holdfast_core::CoreError;
use holdfast_core::coworker::{Role, Seniority, Status};
use holdfast_core::event::EventFilter;
use holdfast_core::record::search_words;
use holdfast_core::service::{CoWorkerChanges, ConversionDeal, ImportOptions, NewCoWorker, Settings, SettingsChange};
use holdfast_core::storage::Credential;
use holdfast_core::time::{format_timestamp, parse_timestamp};
use serde::Deserialize;
use serde_json::{Value as Json, json};

type J = axum::Json<Json>;
use uuid::Uuid;

use crate::extract::{Caller, JsonBody, KindPath, RawBody, RecordPath, client_of};
use crate::problem::{ApiError, body_error};
use crate::query::{list_request, parse_bool, parse_num};
use crate::state::{AppState, blocking};

type Params = Query<Vec<(String, String)>>;

pub(crate) fn parse_id(what: &'static str, text: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(text).map_err(|_| ApiError::Core(CoreError::not_found(what, text)))
}

pub async fn list(
    State(s): State<AppState>,
    Caller(actor): Caller,
    KindPath(kind): KindPath,
    Query(params): Params,
) -> Result<J, ApiError> {
    let req = list_request(params)?;
    let page = blocking(move || s.list_records(&actor, kind, &req)).await?;
    Ok(axum::Json(json!({
        "items": page.items.iter().map(|r| r.to_json(kind)).collect::<Vec<_>>(),
        "next_cursor": page.next_cursor,
        "counted_as_export": page.counted_as_export,
    })))
}

pub async fn create(
    State(s): State<AppState>,
    Caller(actor): Caller,
    KindPath(kind): KindPath,
    JsonBody(body): JsonBody,
) -> Result<axum::response::Response, ApiError> {
    if kind.kind == holdfast_core::record::Kind::Lead {
        return crate::lead_api::create_lead(s, actor, body).await;
    }
    let rec = blocking(move || s.create_record(&actor, kind, &body)).await?;
    let location = format!("/api/v1/{}/{}", kind.plural, rec.id);
    Ok((StatusCode::CREATED, [(axum::http::header::LOCATION, location)], axum::Json(rec.to_json(kind))).into_response())
}

pub async fn get(
    State(s): State<AppState>,
    Caller(actor): Caller,
    RecordPath(kind, id): RecordPath,
) -> Result<J, ApiError> {
    let rec = blocking(move || s.get_record(&actor, kind, id)).await?;
    Ok(axum::Json(rec.to_json(kind)))
}

pub async fn update(
    State(s): State<AppState>,
    Caller(actor): Caller,
    RecordPath(kind, id): RecordPath,
    JsonBody(body): JsonBody,
) -> Result<J, ApiError> {
    let rec = blocking(move || s.update_record(&actor, kind, id, &body)).await?;
    Ok(axum::Json(rec.to_json(kind)))
}

pub async fn delete(
    State(s): State<AppState>,
    Caller(actor): Caller,
    RecordPath(kind, id): RecordPath,
) -> Result<StatusCode, ApiError> {
    blocking(move || s.delete_record(&actor, kind, id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn history(
    State(s): State<AppState>,
    Caller(actor): Caller,
    RecordPath(kind, id): RecordPath,
) -> Result<J, ApiError> {
    let history = blocking(move || s.record_history(&actor, kind, id)).await?;
    let items: Vec<Json> = history
        .events
        .iter()
        .map(|e| {
            let mut item = json!({
                "seq": e.seq,
                "at": format_timestamp(e.event.at),
                "coworker_id": e.event.coworker_id,
                "action": e.event.action,
                "changes": e.event.details.get("changes").or_else(|| e.event.details.get("fields")).cloned().unwrap_or(Json::Null),
            });
            // A bulk change, handover, undo or import: which operation, and for an import whether
            // it matched the record rather than created it.
            for key in ["operation", "merged"] {
                if let Some(v) = e.event.details.get(key) {
                    item[key] = v.clone();
                }
            }
            item
        })
        .collect();
    Ok(axum::Json(json!({"items": items, "next_cursor": null})))
}

pub async fn restore(
    State(s): State<AppState>,
    Caller(actor): Caller,
    RecordPath(kind, id): RecordPath,
) -> Result<J, ApiError> {
    let rec = blocking(move || s.restore_record(&actor, kind, id)).await?;
    Ok(axum::Json(rec.to_json(kind)))
}

pub async fn search(State(s): State<AppState>, Caller(actor): Caller, Query(params): Params) -> Result<J, ApiError> {
    let mut q = String::new();
    let mut limit = 10;
    for (k, v) in params {
        match k.as_str() {
            "q" => q = v,
            "limit" => limit = parse_num("limit", &v)?,
            other => return Err(ApiError::field(other, "is not a search parameter; use q and limit")),
        }
    }
    if search_words(&q).is_empty() {
        return Err(ApiError::field("q", "type at least one letter or digit to search for"));
    }
    let hits = blocking(move || s.search(&actor, &q, limit)).await?;
    let mut out = serde_json::Map::new();
    let mut items = Vec::new();
    for hit in hits {
        out.insert(hit.kind.plural.into(), json!(hit.records.iter().map(|r| r.to_json(hit.kind)).collect::<Vec<_>>()));
        for r in &hit.records {
            let mut item = r.to_json(hit.kind);
            item["kind"] = json!(hit.kind.name);
            item["label"] = json!(r.label(hit.kind));
            items.push(item);
        }
    }
    out.insert("items".into(), Json::Array(items));
    Ok(axum::Json(Json::Object(out)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Login {
    email: String,
    password: String,
    /// The second factor, for co-workers who have one (an authenticator code or a recovery code).
    #[serde(default)]
    code: Option<String>,
}

pub async fn login(
    State(s): State<AppState>,
    parts: Parts,
    JsonBody(body): JsonBody,
) -> Result<impl IntoResponse, ApiError> {
    let login: Login = serde_json::from_value(body).map_err(|e| body_error(&e))?;
    let (addr, agent) = client_of(&parts);
    let done = blocking(move || {
        s.sign_in(holdfast_core::service::SignIn {
            email: &login.email,
            password: &login.password,
            client_addr: addr,
            user_agent: agent,
            device: None,
            remember_device: false,
            code: login.code.as_deref(),
            pending_allowed: false,
        })
    })
    .await?;
    Ok((StatusCode::CREATED, axum::Json(json!({"token": done.session, "coworker": done.coworker.to_json()}))))
}

pub async fn logout(State(s): State<AppState>, Caller(actor): Caller) -> Result<StatusCode, ApiError> {
    blocking(move || s.logout(&actor)).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn me(Caller(actor): Caller) -> Result<J, ApiError> {
    let c = actor.coworker.as_ref().ok_or(ApiError::Internal)?;
    Ok(axum::Json(json!({"coworker": c.to_json(), "via": actor.channel.as_str(), "manages": actor.manages})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    current_password: String,
    new_password: String,
}

/// `POST /api/v1/me/password {"current_password", "new_password"}`: one's own password; the
/// other sessions end.
pub async fn change_password(
    State(s): State<AppState>,
    Caller(actor): Caller,
    JsonBody(body): JsonBody,
) -> Result<StatusCode, ApiError> {
    let b: PasswordChange = serde_json::from_value(body).map_err(|e| body_error(&e))?;
    blocking(move || s.change_own_password(&actor, &b.current_password, &b.new_password)).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn coworkers(State(s): State<AppState>, Caller(actor): Caller) -> Result<J, ApiError> {
    let list = blocking(move || s.list_coworkers(&actor)).await?;
    Ok(axum::Json(json!({"items": list.iter().map(|c| c.to_json()).collect::<Vec<_>>(), "next_cursor": null})))
}

pub async fn coworker(State(s): State<AppState>, Caller(actor): Caller, Path(id): Path<String>) -> Result<J, ApiError> {
    let c = blocking(move || s.get_coworker(&actor, &id)).await?;
    Ok(axum::Json(c.to_json()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoWorkerBody {
    email: Option<String>,
    name: Option<String>,
    role: Option<String>,
    status: Option<String>,
    seniority: Option<String>,
    #[serde(default, with = "double_option")]
    team: Option<Option<String>>,
    #[serde(default, with = "double_option")]
    manager: Option<Option<String>>,
    #[serde(default, with = "double_option")]
    title: Option<Option<String>>,
    password: Option<String>,
    /// With `status: departed`: yes, they leave owning records (the refusal said how many).
    confirm_owned_records: Option<bool>,
}

mod double_option {
    use serde::{Deserialize, Deserializer};
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
        Option::<String>::deserialize(d).map(Some)
    }
}

fn parse_enum<T>(field: &str, v: Option<String>, f: fn(&str) -> Result<T, String>) -> Result<Option<T>, ApiError> {
    v.map(|s| f(&s).map_err(|r| ApiError::field(field, r))).transpose()
}

pub async fn add_coworker(
    State(s): State<AppState>,
    Caller(actor): Caller,
    JsonBody(body): JsonBody,
) -> Result<impl IntoResponse, ApiError> {
    let b: CoWorkerBody = serde_json::from_value(body).map_err(|e| body_error(&e))?;
    let new = NewCoWorker {
        email: b.email.ok_or_else(|| ApiError::field("email", "is required"))?,
        name: b.name.ok_or_else(|| ApiError::field("name", "is required"))?,
        role: parse_enum("role", b.role, Role::parse)?
            .ok_or_else(|| ApiError::field("role", "is required: admin, manager or rep"))?,
        seniority: parse_enum("seniority", b.seniority, Seniority::parse)?,
        team: b.team.flatten(),
        manager: b.manager.flatten(),
        title: b.title.flatten(),
        password: b.password,
        password_must_change: false,
    };
    if b.status.is_some() {
        return Err(ApiError::field("status", "new co-workers start active; change the status afterwards"));
    }
    let c = blocking(move || s.add_coworker(&actor, new)).await?;
    Ok((StatusCode::CREATED, axum::Json(c.to_json())))
}

pub async fn update_coworker(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<J, ApiError> {
    let b: CoWorkerBody = serde_json::from_value(body).map_err(|e| body_error(&e))?;
    if b.email.is_some() {
        return Err(ApiError::field("email", "cannot be changed; add a new co-worker instead"));
    }
    let changes = CoWorkerChanges {
        email: None,
        name: b.name,
        role: parse_enum("role", b.role, Role::parse)?,
        status: parse_enum("status", b.status, Status::parse)?,
        seniority: parse_enum("seniority", b.seniority, Seniority::parse)?,
        team: b.team,
        manager: b.manager,
        title: b.title,
        // A password an admin sets for someone is theirs to replace at the next sign-in.
        password_must_change: b.password.is_some(),
        password: b.password,
        confirm_owned_records: b.confirm_owned_records.unwrap_or(false),
    };
    let c = blocking(move || s.update_coworker(&actor, &id, changes)).await?;
    Ok(axum::Json(c.to_json()))
}

fn event_filter(params: Vec<(String, String)>) -> Result<EventFilter, ApiError> {
    let mut f = EventFilter { limit: 100, ..Default::default() };
    for (k, v) in params {
        match k.as_str() {
            "action" => f.action = Some(v),
            "object_type" => f.object_type = Some(v),
            "object_id" => f.object_id = Some(v),
            "since" => f.since = Some(parse_timestamp(&v).map_err(|r| ApiError::field("since", r))?),
            "until" => f.until = Some(parse_timestamp(&v).map_err(|r| ApiError::field("until", r))?),
            "before" => f.before_seq = Some(parse_num("before", &v)?),
            "limit" => f.limit = parse_num("limit", &v)?,
            other => {
                return Err(ApiError::field(
                    other,
                    "is not an event filter; use action, object_type, object_id, since, until, before, limit",
                ));
            }
        }
    }
    Ok(f)
}

fn events_page(events: Vec<holdfast_core::event::SystemEvent>, limit: usize) -> Json {
    let next = if events.len() >= limit { events.last().map(|e| e.seq.to_string()) } else { None };
    json!({"items": events.iter().map(|e| e.to_json()).collect::<Vec<_>>(), "next_cursor": next})
}

pub async fn coworker_events(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    Query(params): Params,
) -> Result<J, ApiError> {
    let mut params = params;
    for p in &mut params {
        if p.0 == "cursor" {
            p.0 = "before".into();
        }
    }
    let filter = event_filter(params)?;
    let limit = filter.limit;
    let events = blocking(move || s.coworker_events(&actor, &id, filter)).await?;
    Ok(axum::Json(events_page(events, limit)))
}

pub async fn all_events(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Query(params): Params,
) -> Result<J, ApiError> {
    let filter = event_filter(params)?;
    let limit = filter.limit;
    let events = blocking(move || s.events(&actor, &filter)).await?;
    Ok(axum::Json(events_page(events, limit)))
}

fn credential_json(c: &Credential) -> Json {
    json!({
        "id": c.id, "coworker_id": c.coworker_id, "kind": c.kind, "name": c.name,
        "created_at": format_timestamp(c.created_at),
        "expires_at": c.expires_at.map(format_timestamp),
        "last_used_at": c.last_used_at.map(format_timestamp),
        "revoked_at": c.revoked_at.map(format_timestamp),
    })
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TokenBody {
    #[serde(default)]
    name: String,
    /// `api` (the default) or `scim`: a token for the identity provider that opens `/scim/v2` only.
    #[serde(default)]
    kind: Option<String>,
}

/// A JSON body that may be left out (empty means the defaults).
pub(crate) fn optional_body<T: Default + serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    let v: Json = serde_json::from_slice(body).map_err(|e| ApiError::BadJson(e.to_string()))?;
    serde_json::from_value(v).map_err(|e| body_error(&e))
}

pub async fn create_token(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    RawBody(body): RawBody,
) -> Result<impl IntoResponse, ApiError> {
    let b: TokenBody = optional_body(&body)?;
    let t = match b.kind.as_deref().map(str::trim) {
        None | Some("api") => blocking(move || s.create_token(&actor, &id, &b.name)).await?,
        Some("scim") => blocking(move || s.create_scim_token(&actor, &id, &b.name)).await?,
        Some(other) => return Err(ApiError::field("kind", format!("'{other}' is not a token kind; use api or scim"))),
    };
    let mut out = credential_json(&t.credential);
    out["token"] = json!(t.secret);
    Ok((StatusCode::CREATED, axum::Json(out)))
}

pub async fn tokens(State(s): State<AppState>, Caller(actor): Caller, Path(id): Path<String>) -> Result<J, ApiError> {
    let list = blocking(move || s.list_credentials(&actor, &id)).await?;
    Ok(axum::Json(json!({"items": list.iter().map(credential_json).collect::<Vec<_>>(), "next_cursor": null})))
}

pub async fn revoke_token(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path((id, token)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let token = parse_id("token", &token)?;
    blocking(move || s.revoke_token(&actor, &id, token)).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn settings_json(s: &Settings) -> Json {
    json!({
        "read_policy": s.read_policy.as_str(), "export_policy": s.export_policy.as_str(), "bulk_read_limit": s.bulk_read_limit,
        "alert_webhook_url": s.alert_webhook_url, "alert_webhook_secret_set": s.alert_webhook_secret.is_some(),
        "alert_smtp_set": s.alert_smtp_url.is_some(), "alert_email_from": s.alert_email_from,
        "introduction_template": s.introduction_template,
        "senior_cadence": s.senior_cadence.to_text(),
        "single_sign_on": s.single_sign_on.as_ref().map(|sso| sso.to_public_json()),
        "two_factor_for_admins": s.two_factor_for_admins,
        "canary_email_domain": s.leak_tracing.canary_email_domain,
        "canary_phone_prefix": s.leak_tracing.canary_phone_prefix,
        "company_email_domains": s.leak_tracing.company_email_domains,
        "mail_alert_threshold": s.leak_tracing.mail_alert_threshold,
    })
}

/// `PUT /api/v1/settings/single-sign-on`: turns single sign-on on or changes it (admins).
pub async fn set_single_sign_on(
    State(s): State<AppState>,
    Caller(actor): Caller,
    JsonBody(body): JsonBody,
) -> Result<J, ApiError> {
    let change: holdfast_core::service::SingleSignOnChange =
        serde_json::from_value(body).map_err(|e| body_error(&e))?;
    let sso = blocking(move || s.set_single_sign_on(&actor, Some(change))).await?;
    Ok(axum::Json(sso.map(|s| s.to_public_json()).unwrap_or(Json::Null)))
}

/// `POST /api/v1/coworkers/{id}/two-factor/reset`: another admin removes a co-worker's
/// authenticator and recovery codes (a lost device); their sessions end.
pub async fn reset_two_factor(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<J, ApiError> {
    let c = blocking(move || s.reset_two_factor(&actor, &id)).await?;
    Ok(axum::Json(c.to_json()))
}

/// `DELETE /api/v1/settings/single-sign-on`: turns it off; passwords work again for everyone.
pub async fn remove_single_sign_on(State(s): State<AppState>, Caller(actor): Caller) -> Result<StatusCode, ApiError> {
    blocking(move || s.set_single_sign_on(&actor, None)).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn settings(State(s): State<AppState>, Caller(actor): Caller) -> Result<J, ApiError> {
    let settings = blocking(move || s.settings()).await?;
    let mut out = settings_json(&settings);
    // Who keeps a password when passwords are off is for admins to know.
    if !actor.is_admin()
        && let Some(sso) = out.get_mut("single_sign_on").and_then(|v| v.as_object_mut())
    {
        sso.remove("break_glass");
    }
    Ok(axum::Json(out))
}

/// The settings a PUT or PATCH may change; any JSON type is taken so that a wrong one is named.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsBody {
    read_policy: Option<Json>,
    export_policy: Option<Json>,
    bulk_read_limit: Option<Json>,
    alert_webhook_url: Option<Json>,
    alert_webhook_secret: Option<Json>,
    alert_smtp_url: Option<Json>,
    alert_email_from: Option<Json>,
    introduction_template: Option<Json>,
    senior_cadence: Option<Json>,
    two_factor_for_admins: Option<Json>,
    canary_email_domain: Option<Json>,
    canary_phone_prefix: Option<Json>,
    company_email_domains: Option<Json>,
    mail_alert_threshold: Option<Json>,
}

impl SettingsBody {
    fn change(self) -> Result<SettingsChange, ApiError> {
        let text = |v: Option<Json>, field: &str, words: &str| match v {
            None => Ok(None),
            Some(Json::String(p)) => Ok(Some(p)),
            Some(_) => Err(ApiError::field(field, format!("must be {words}"))),
        };
        let change = SettingsChange {
            read_policy: text(self.read_policy, "read_policy", "all, team or own")?,
            export_policy: text(self.export_policy, "export_policy", "everyone, managers or admins")?,
            bulk_read_limit: match self.bulk_read_limit {
                None => None,
                Some(v) => Some(
                    v.as_i64().ok_or_else(|| ApiError::field("bulk_read_limit", "must be a whole number of rows"))?,
                ),
            },
            confidentiality_notice: None,
            introduction_template: text(
                self.introduction_template,
                "introduction_template",
                "the introduction email's text, or empty for the default",
            )?,
            policies: None,
            two_factor_for_admins: match self.two_factor_for_admins {
                None => None,
                Some(v) => {
                    Some(v.as_bool().ok_or_else(|| ApiError::field("two_factor_for_admins", "must be true or false"))?)
                }
            },
            alert_webhook_url: text(self.alert_webhook_url, "alert_webhook_url", "an http(s) URL, or empty")?,
            alert_webhook_secret: text(self.alert_webhook_secret, "alert_webhook_secret", "a whsec_ secret, or empty")?,
            alert_smtp_url: text(self.alert_smtp_url, "alert_smtp_url", "an smtp:// or smtps:// URL, or empty")?,
            alert_email_from: text(self.alert_email_from, "alert_email_from", "an email address, or empty")?,
            senior_cadence: text(
                self.senior_cadence,
                "senior_cadence",
                "tier=days pairs, e.g. \"strategic=60, enterprise=90, mid_market=120, smb=180\"",
            )?,
            canary_email_domain: text(
                self.canary_email_domain,
                "canary_email_domain",
                "a domain the company controls, or empty to turn canaries off",
            )?,
            canary_phone_prefix: text(
                self.canary_phone_prefix,
                "canary_phone_prefix",
                "the start of a phone range, like +1 555 01",
            )?,
            company_email_domains: match self.company_email_domains {
                None => None,
                Some(Json::String(t)) => Some(t),
                Some(Json::Array(items)) => Some(
                    items
                        .iter()
                        .map(|d| d.as_str().map(String::from))
                        .collect::<Option<Vec<_>>>()
                        .ok_or_else(|| ApiError::field("company_email_domains", "must be domains, as text"))?
                        .join(", "),
                ),
                Some(_) => return Err(ApiError::field("company_email_domains", "must be a list of domains")),
            },
            mail_alert_threshold: match self.mail_alert_threshold {
                None => None,
                Some(v) => {
                    Some(v.as_i64().ok_or_else(|| {
                        ApiError::field("mail_alert_threshold", "must be a whole number of customers")
                    })?)
                }
            },
        };
        if change.is_empty() {
            return Err(ApiError::field(
                "",
                "name at least one setting: read_policy, export_policy, bulk_read_limit, alert_webhook_url, \
                 alert_webhook_secret, alert_smtp_url, alert_email_from, introduction_template, senior_cadence, \
                 two_factor_for_admins, canary_email_domain, canary_phone_prefix, company_email_domains, \
                 mail_alert_threshold",
            ));
        }
        Ok(change)
    }
}

/// Changes any of `read_policy`, `export_policy` and `bulk_read_limit` (admins), all or nothing.
pub async fn update_settings(
    State(s): State<AppState>,
    Caller(actor): Caller,
    JsonBody(body): JsonBody,
) -> Result<J, ApiError> {
    let body: SettingsBody = serde_json::from_value(body).map_err(|e| body_error(&e))?;
    let change = body.change()?;
    let settings = blocking(move || s.change_settings(&actor, &change)).await?;
    Ok(axum::Json(settings_json(&settings)))
}

/// An import's query options (`dry_run`, `source`), the same for contacts and leads.
pub(crate) fn import_options(params: Vec<(String, String)>) -> Result<ImportOptions, ApiError> {
    let mut options = ImportOptions { source: Some("api upload".into()), ..Default::default() };
    for (k, v) in params {
        match k.as_str() {
            "dry_run" => options.dry_run = parse_bool("dry_run", &v)?,
            "source" => options.source = Some(v),
            other => return Err(ApiError::field(other, "is not an import option; use dry_run")),
        }
    }
    Ok(options)
}

pub async fn import_contacts(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Query(params): Params,
    RawBody(body): RawBody,
) -> Result<J, ApiError> {
    let options = import_options(params)?;
    let report =
        blocking(move || s.import_contacts(&actor, &mut std::io::Cursor::new(body.as_ref()), &options, &|_, _| {}))
            .await?;
    Ok(axum::Json(serde_json::to_value(report).map_err(|_| ApiError::Internal)?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulkAssign {
    ids: Vec<String>,
    owner: String,
}

fn outcome_json(o: &holdfast_core::service::BulkOutcome) -> Json {
    json!({"operation": o.operation, "changed": o.changed, "skipped": o.skipped, "along": o.along})
}

fn parse_ids(ids: &[String]) -> Result<Vec<Uuid>, ApiError> {
    ids.iter().map(|i| Uuid::parse_str(i).map_err(|_| ApiError::field("ids", format!("'{i}' is not an id")))).collect()
}

/// `POST /api/v1/{kind}/bulk/assign {"ids": [...], "owner": "id or email"}`: one step, all or nothing.
pub async fn bulk_assign(
    State(s): State<AppState>,
    Caller(actor): Caller,
    KindPath(kind): KindPath,
    JsonBody(body): JsonBody,
) -> Result<J, ApiError> {
    let req: BulkAssign = serde_json::from_value(body).map_err(|e| body_error(&e))?;
    let ids = parse_ids(&req.ids)?;
    let done = blocking(move || s.bulk_assign(&actor, kind, &ids, &req.owner)).await?;
    Ok(axum::Json(outcome_json(&done)))
}

/// `POST /api/v1/bulk-operations/{id}/undo`.
pub async fn undo_bulk(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<J, ApiError> {
    let id = parse_id("bulk operation", &id)?;
    let done = blocking(move || s.undo_bulk(&actor, id)).await?;
    Ok(axum::Json(outcome_json(&done)))
}

/// `GET /api/v1/{kind}/export?<list filters>&format=csv|xlsx|vcard` or `&ids=a,b,c`: the file
/// when the export is within the caller's limits, or 202 with the export waiting for approval;
/// through the same export service as `POST /api/v1/exports`.
pub async fn export(
    State(s): State<AppState>,
    Caller(actor): Caller,
    KindPath(kind): KindPath,
    Query(params): Params,
) -> Result<axum::response::Response, ApiError> {
    use holdfast_core::guard::ExportFormat;
    use holdfast_core::service::ExportAsk;
    let mut ids = Vec::new();
    let mut format = ExportFormat::Csv;
    let mut columns = None;
    let mut limit = None;
    let mut rest = Vec::new();
    for (k, v) in params {
        match k.as_str() {
            "ids" => ids.extend(v.split(',').map(|v| v.trim().to_string()).filter(|v| !v.is_empty())),
            "limit" => {
                let n = v.trim().parse::<i64>().ok().filter(|n| *n > 0);
                limit = Some(n.ok_or_else(|| ApiError::field("limit", "must be a whole number of rows above 0"))?);
            }
            "format" => format = ExportFormat::parse(&v).map_err(|r| ApiError::field("format", r))?,
            "columns" => columns = Some(v.split(',').map(|c| c.trim().to_string()).collect()),
            _ => rest.push((k, v)),
        }
    }
    let ask = ExportAsk {
        kind,
        list: list_request(rest)?,
        ids: if ids.is_empty() { None } else { Some(parse_ids(&ids)?) },
        limit,
        format,
        columns,
        reason: None,
    };
    let svc = s.clone();
    match blocking(move || svc.export_now(&actor, &ask)).await? {
        Ok(file) => Ok(crate::guard_api::file_response(file)),
        Err(waiting) => Ok((StatusCode::ACCEPTED, axum::Json(waiting.to_json(s.now()))).into_response()),
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ConvertRequest {
    #[serde(default)]
    account_id: Option<String>,
    /// Open a deal in the same step: `true`, or `{"name": …, "amount": …}`.
    #[serde(default)]
    deal: Option<Json>,
}

/// `POST /api/v1/leads/{id}/convert [{"account_id": "…"}]`: the lead becomes a contact.
pub async fn convert_lead(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    RawBody(body): RawBody,
) -> Result<(StatusCode, J), ApiError> {
    let id = parse_id("lead", &id)?;
    let req: ConvertRequest = optional_body(&body)?;
    let account = match req.account_id {
        Some(a) => Some(Uuid::parse_str(&a).map_err(|_| ApiError::field("account_id", "is not an id"))?),
        None => None,
    };
    let deal = match req.deal {
        None | Some(Json::Null) | Some(Json::Bool(false)) => None,
        Some(Json::Bool(true)) => Some(ConversionDeal::default()),
        Some(Json::Object(d)) => {
            let name = d.get("name").and_then(Json::as_str).map(String::from);
            Some(ConversionDeal { name, amount: d.get("amount").cloned() })
        }
        Some(_) => return Err(ApiError::field("deal", "is true or an object with name and amount")),
    };
    let done = blocking(move || s.convert_lead(&actor, id, account, deal)).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({
            "account_id": done.account_id,
            "contact_id": done.contact_id,
            "deal_id": done.deal_id,
            "new_account": done.new_account,
            "new_contact": done.new_contact,
        })),
    ))
}
