//! The guard over HTTP: exports (ask, approve, deny, download once), alerts and their delivery
//! log, export and reading policies, and the confidentiality notice a departing co-worker must
//! acknowledge before bulk reads. Handlers only translate HTTP to service calls and back.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use holdfast_core::guard::{AlertState, ExportFormat, PolicyPatch};
use holdfast_core::record::RecordKind;
use holdfast_core::service::{ExportAsk, ExportFile, ExportList, PolicyScope};
use holdfast_core::time::format_timestamp;
use serde::Deserialize;
use serde_json::{Value as Json, json};

use crate::api::parse_id;
use crate::extract::{Caller, JsonBody, RawBody};
use crate::problem::{ApiError, body_error};
use crate::query::{list_request, parse_num};
use crate::state::{AppState, blocking};

type J = axum::Json<Json>;
type Params = Query<Vec<(String, String)>>;

/// An export file as a download: streamed from its temporary file, with its hash in a header.
pub(crate) fn file_response(file: ExportFile) -> Response {
    let disposition = format!("attachment; filename=\"{}\"", file.file_name);
    let stream = tokio_util::io::ReaderStream::new(tokio::fs::File::from_std(file.file));
    let mut resp = (StatusCode::OK, Body::from_stream(stream)).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(file.content_type));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(file.bytes));
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    if let Ok(v) = HeaderValue::from_str(&file.sha256) {
        h.insert("x-holdfast-sha256", v);
    }
    if let Ok(v) = HeaderValue::from_str(&file.export_id.to_string()) {
        h.insert("x-holdfast-export", v);
    }
    resp
}

/// `POST /api/v1/exports` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportBody {
    kind: String,
    #[serde(default)]
    q: Option<String>,
    #[serde(default)]
    owner: Option<String>,
    /// Field filters, `{"tier": "enterprise"}`.
    #[serde(default)]
    filters: Option<serde_json::Map<String, Json>>,
    #[serde(default)]
    ids: Option<Vec<String>>,
    #[serde(default)]
    limit: Option<i64>,
    #[serde(default)]
    format: Option<String>,
    #[serde(default)]
    columns: Option<Vec<String>>,
    #[serde(default)]
    reason: Option<String>,
}

fn kind_named(plural: &str) -> Result<&'static RecordKind, ApiError> {
    RecordKind::by_plural(plural.trim()).ok_or_else(|| {
        ApiError::field(
            "kind",
            format!(
                "'{plural}' is not a kind of record; use {}",
                holdfast_core::record::ALL_KINDS.iter().map(|k| k.plural).collect::<Vec<_>>().join(", ")
            ),
        )
    })
}

fn format_named(text: Option<&str>) -> Result<ExportFormat, ApiError> {
    ExportFormat::parse(text.unwrap_or("csv")).map_err(|r| ApiError::field("format", r))
}

impl ExportBody {
    fn ask(self) -> Result<ExportAsk, ApiError> {
        let kind = kind_named(&self.kind)?;
        let mut pairs = Vec::new();
        if let Some(q) = self.q {
            pairs.push(("q".to_string(), q));
        }
        if let Some(o) = self.owner {
            pairs.push(("owner".to_string(), o));
        }
        for (k, v) in self.filters.unwrap_or_default() {
            let v = match v {
                Json::String(s) => s,
                Json::Number(n) => n.to_string(),
                Json::Bool(b) => b.to_string(),
                _ => return Err(ApiError::field(&k, "a filter value is text or a number")),
            };
            pairs.push((k, v));
        }
        let ids = match self.ids {
            None => None,
            Some(ids) => Some(
                ids.iter()
                    .map(|i| {
                        uuid::Uuid::parse_str(i).map_err(|_| ApiError::field("ids", format!("'{i}' is not an id")))
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
        };
        Ok(ExportAsk {
            kind,
            list: list_request(pairs)?,
            ids,
            limit: self.limit,
            format: format_named(self.format.as_deref())?,
            columns: self.columns,
            reason: self.reason,
        })
    }
}

/// `POST /api/v1/exports`: 201 ready (with `download_url`), 202 pending approval, 403 refused.
pub async fn request_export(
    State(s): State<AppState>,
    Caller(actor): Caller,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let body: ExportBody = serde_json::from_value(body).map_err(|e| body_error(&e))?;
    let ask = body.ask()?;
    let svc = s.clone();
    let e = blocking(move || svc.request_export(&actor, &ask)).await?;
    let status = match e.status {
        holdfast_core::guard::ExportStatus::Pending => StatusCode::ACCEPTED,
        _ => StatusCode::CREATED,
    };
    let location = format!("/api/v1/exports/{}", e.id);
    Ok((status, [(header::LOCATION, location)], axum::Json(e.to_json(s.now()))).into_response())
}

/// `GET /api/v1/exports?which=mine|to_approve|all`.
pub async fn exports(State(s): State<AppState>, Caller(actor): Caller, Query(params): Params) -> Result<J, ApiError> {
    let mut which = ExportList::Mine;
    let mut limit = 100;
    for (k, v) in params {
        match k.as_str() {
            "which" => {
                which = match v.as_str() {
                    "mine" => ExportList::Mine,
                    "to_approve" => ExportList::ToApprove,
                    "all" => ExportList::Visible,
                    _ => return Err(ApiError::field("which", "use mine, to_approve or all")),
                }
            }
            "limit" => limit = parse_num("limit", &v)?,
            other => return Err(ApiError::field(other, "is not an export list option; use which, limit")),
        }
    }
    let svc = s.clone();
    let list = blocking(move || svc.exports(&actor, which, limit)).await?;
    let now = s.now();
    Ok(axum::Json(json!({"items": list.iter().map(|e| e.to_json(now)).collect::<Vec<_>>()})))
}

pub async fn export(State(s): State<AppState>, Caller(actor): Caller, Path(id): Path<String>) -> Result<J, ApiError> {
    let id = parse_id("export", &id)?;
    let svc = s.clone();
    let e = blocking(move || svc.export_request(&actor, id)).await?;
    Ok(axum::Json(e.to_json(s.now())))
}

/// `GET /api/v1/exports/{id}/file`: the file, once.
pub async fn export_file(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_id("export", &id)?;
    let file = blocking(move || s.download_export(&actor, id)).await?;
    Ok(file_response(file))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ReasonBody {
    #[serde(default)]
    reason: Option<String>,
}

fn reason_of(body: Json) -> Result<Option<String>, ApiError> {
    if body.is_null() {
        return Ok(None);
    }
    let b: ReasonBody = serde_json::from_value(body).map_err(|e| body_error(&e))?;
    Ok(b.reason)
}

pub async fn approve_export(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    RawBody(body): RawBody,
) -> Result<J, ApiError> {
    let id = parse_id("export", &id)?;
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        Json::Null
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::BadJson(e.to_string()))?
    };
    let reason = reason_of(body)?;
    let svc = s.clone();
    let e = blocking(move || svc.approve_export(&actor, id, reason.as_deref())).await?;
    Ok(axum::Json(e.to_json(s.now())))
}

pub async fn deny_export(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<J, ApiError> {
    let id = parse_id("export", &id)?;
    let reason = reason_of(body)?.unwrap_or_default();
    let svc = s.clone();
    let e = blocking(move || svc.deny_export(&actor, id, &reason)).await?;
    Ok(axum::Json(e.to_json(s.now())))
}

/// `GET /api/v1/alerts?state=open&limit=N`: newest first (admins: all; managers: their people).
pub async fn alerts(State(s): State<AppState>, Caller(actor): Caller, Query(params): Params) -> Result<J, ApiError> {
    let mut state = None;
    let mut limit = 200;
    for (k, v) in params {
        match k.as_str() {
            "state" => state = Some(AlertState::parse(&v).map_err(|r| ApiError::field("state", r))?),
            "limit" => limit = parse_num("limit", &v)?,
            other => return Err(ApiError::field(other, "is not an alert list option; use state, limit")),
        }
    }
    let list = blocking(move || s.alerts(&actor, state, limit)).await?;
    Ok(axum::Json(json!({"items": list.iter().map(|(a, email)| a.to_json(email)).collect::<Vec<_>>()})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertStateBody {
    state: String,
    #[serde(default)]
    reason: Option<String>,
}

/// `POST /api/v1/alerts/{id}/state {"state", "reason"}`.
pub async fn alert_state(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<J, ApiError> {
    let id = parse_id("alert", &id)?;
    let body: AlertStateBody = serde_json::from_value(body).map_err(|e| body_error(&e))?;
    let to = AlertState::parse(&body.state).map_err(|r| ApiError::field("state", r))?;
    let svc = s.clone();
    let a = blocking(move || svc.set_alert_state(&actor, id, to, body.reason.as_deref())).await?;
    Ok(axum::Json(a.to_json("")))
}

/// `GET /api/v1/alert-deliveries`: the delivery log (admins).
pub async fn deliveries(State(s): State<AppState>, Caller(actor): Caller) -> Result<J, ApiError> {
    let list = blocking(move || s.alert_deliveries(&actor, 200)).await?;
    Ok(axum::Json(json!({"items": list.iter().map(|d| json!({
        "id": d.id, "alert_id": d.alert_id, "channel": d.channel, "target": d.target, "attempts": d.attempts,
        "next_at": format_timestamp(d.next_at), "delivered_at": d.delivered_at.map(format_timestamp),
        "failed_at": d.failed_at.map(format_timestamp), "last_error": d.last_error,
        "created_at": format_timestamp(d.created_at),
    })).collect::<Vec<_>>()})))
}

/// `GET /api/v1/policies`: every policy set, and the limits in force for the caller.
pub async fn policies(State(s): State<AppState>, Caller(actor): Caller) -> Result<J, ApiError> {
    let me = actor.coworker.as_ref().map(|c| c.email.clone()).unwrap_or_default();
    let (settings, mine) = blocking(move || Ok((s.settings()?, s.limits_of(&actor, &me).ok()))).await?;
    Ok(axum::Json(json!({"policies": settings.policies, "mine": mine})))
}

/// `PUT /api/v1/policies/{scope}/{name}` with a policy (`export_rows`, `daily_rows`,
/// `weekly_rows`, `denied_columns`, `over_limit`); `DELETE` removes it (admins).
pub async fn set_policy(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path((scope, name)): Path<(String, String)>,
    JsonBody(body): JsonBody,
) -> Result<J, ApiError> {
    let scope = PolicyScope::parse(&scope).map_err(|r| ApiError::field("scope", r))?;
    let patch: PolicyPatch = serde_json::from_value(body).map_err(|e| body_error(&e))?;
    let settings = blocking(move || s.set_policy(&actor, scope, &name, Some(patch))).await?;
    Ok(axum::Json(json!({"policies": settings.policies})))
}

pub async fn remove_policy(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path((scope, name)): Path<(String, String)>,
) -> Result<J, ApiError> {
    let scope = PolicyScope::parse(&scope).map_err(|r| ApiError::field("scope", r))?;
    let settings = blocking(move || s.set_policy(&actor, scope, &name, None)).await?;
    Ok(axum::Json(json!({"policies": settings.policies})))
}

/// `GET /api/v1/me/confidentiality`: the notice the caller still has to acknowledge, if any.
pub async fn confidentiality(State(s): State<AppState>, Caller(actor): Caller) -> Result<J, ApiError> {
    let pending = blocking(move || s.pending_confidentiality(&actor)).await?;
    Ok(axum::Json(match pending {
        Some(n) => json!({"pending": true, "text": n.text, "sha256": n.sha256}),
        None => json!({"pending": false}),
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Acknowledgement {
    sha256: String,
}

/// `POST /api/v1/me/confidentiality {"sha256"}`: acknowledges the notice with that fingerprint.
pub async fn acknowledge(
    State(s): State<AppState>,
    Caller(actor): Caller,
    JsonBody(body): JsonBody,
) -> Result<StatusCode, ApiError> {
    let body: Acknowledgement = serde_json::from_value(body).map_err(|e| body_error(&e))?;
    blocking(move || s.acknowledge_confidentiality(&actor, &body.sha256)).await?;
    Ok(StatusCode::NO_CONTENT)
}
