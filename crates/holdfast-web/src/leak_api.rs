//! Leak tracing over HTTP: the mail journal, canary hits, tracing a found file, and an export's
//! canaries (admins; docs/leak-tracing.md).

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use holdfast_core::service::{CanaryReport, TraceReport};
use holdfast_core::time::format_timestamp;
use serde::Deserialize;
use serde_json::{Value as Json, json};

use crate::api::parse_id;
use crate::extract::{Caller, JsonBody, RawBody};
use crate::problem::ApiError;
use crate::state::{AppState, blocking};

type J = axum::Json<Json>;

/// A trace report as JSON: `matched`, then the exports best first.
pub(crate) fn trace_json(r: &TraceReport) -> Json {
    let matches: Vec<Json> = r
        .matches
        .iter()
        .map(|m| {
            json!({
                "export_id": m.export_id, "made_by": m.made_by, "made_by_name": m.made_by_name,
                "coworker_id": m.coworker_id, "made_at": format_timestamp(m.made_at), "door": m.door,
                "kind": m.kind, "format": m.format, "export_rows": m.export_rows,
                "export_columns": m.export_columns, "columns_kept": m.columns_kept,
                "columns_dropped": m.columns_dropped, "rows_matched": m.rows_matched,
                "share_of_file": m.share_of_file, "share_of_export": m.share_of_export,
                "canaries_found": m.canaries_found, "canaries_placed": m.canaries_placed,
                "approved_by": m.approved_by, "reason": m.reason,
            })
        })
        .collect();
    json!({
        "matched": !r.matches.is_empty(), "file_name": r.file_name, "sha256": r.sha256, "format": r.format,
        "separator": r.separator.map(String::from), "headers": r.headers, "rows": r.rows,
        "rows_with_identity": r.rows_with_identity, "exports_compared": r.exports_compared, "by_name": r.by_name,
        "matches": matches,
    })
}

/// `POST /api/v1/mail-journal` (`Content-Type: message/rfc822`): a journal copy of one outgoing
/// message; 202 with what it carried out (counts, hashes and addresses only).
pub async fn mail_journal(
    State(s): State<AppState>,
    Caller(actor): Caller,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<impl IntoResponse, ApiError> {
    let ctype = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_ascii_lowercase();
    if !(ctype.starts_with("message/rfc822") || ctype.starts_with("application/octet-stream") || ctype.is_empty()) {
        return Err(ApiError::UnsupportedMediaType("message/rfc822 (the whole message as the mail server has it)"));
    }
    let finding = blocking(move || s.journal_mail(&actor, &body)).await?;
    let body = serde_json::to_value(&finding).map_err(|_| ApiError::Internal)?;
    Ok((StatusCode::ACCEPTED, axum::Json(body)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HitBody {
    /// The canary's address or number (`to` is taken too, as a mail gateway names it).
    #[serde(default)]
    address: Option<String>,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    subject: Option<String>,
    #[serde(default)]
    via: Option<String>,
}

/// `POST /api/v1/canaries/hits {"address" | "to", "from", "subject", "via"}`: a message or call to
/// a canary. `canary: true` with the export it points to (and a critical alert), or `canary: false`.
pub async fn canary_hit(
    State(s): State<AppState>,
    Caller(actor): Caller,
    JsonBody(body): JsonBody,
) -> Result<J, ApiError> {
    let body: HitBody = serde_json::from_value(body).map_err(|e| crate::problem::body_error(&e))?;
    let address = body
        .address
        .or(body.to)
        .ok_or_else(|| ApiError::field("address", "give the canary's email address or phone number"))?;
    let report =
        CanaryReport { address, from: body.from, subject: body.subject, via: body.via.unwrap_or_else(|| "api".into()) };
    let hit = blocking(move || s.canary_hit(&actor, &report)).await?;
    Ok(axum::Json(match hit {
        Some(h) => json!({"canary": true, "export_id": h.export_id, "kind": h.kind, "made_by": h.made_by,
                          "made_at": format_timestamp(h.made_at), "alert_id": h.alert_id}),
        None => json!({"canary": false}),
    }))
}

/// `POST /api/v1/trace?name=FILE` with the found file as the body: the export(s) it came from.
pub async fn trace(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Query(params): Query<Vec<(String, String)>>,
    RawBody(body): RawBody,
) -> Result<J, ApiError> {
    let mut name = "uploaded file".to_string();
    for (k, v) in params {
        match k.as_str() {
            "name" => name = v,
            other => return Err(ApiError::field(other, "is not a trace option; use name")),
        }
    }
    let report = blocking(move || s.trace_file(&actor, &name, &body)).await?;
    Ok(axum::Json(trace_json(&report)))
}

/// `GET /api/v1/exports/{id}/canaries`: the made-up people placed in an export (admins).
pub async fn export_canaries(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<J, ApiError> {
    let id = parse_id("export", &id)?;
    let list = blocking(move || s.export_canaries(&actor, id)).await?;
    let items: Vec<Json> = list
        .iter()
        .map(|c| {
            json!({"email": c.email, "phone": c.phone, "first_name": c.first_name, "last_name": c.last_name,
                   "id_in_file": c.record_id, "kind": c.kind, "created_at": format_timestamp(c.created_at)})
        })
        .collect();
    Ok(axum::Json(json!({"items": items})))
}
