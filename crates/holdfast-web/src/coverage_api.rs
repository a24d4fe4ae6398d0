//! Coverage and walk-out exposure over HTTP. Handlers only translate HTTP to service calls.

use axum::extract::{Path, Query, State};
use holdfast_core::service::Exposure;
use holdfast_core::time::format_timestamp;
use serde_json::{Value as Json, json};

use crate::api::parse_id;
use crate::extract::Caller;
use crate::problem::ApiError;
use crate::state::{AppState, blocking};

type J = axum::Json<Json>;

fn exposure_json(e: &Exposure, with_accounts: bool) -> Json {
    let mut j = json!({
        "coworker_id": e.coworker_id,
        "coworker_email": e.email,
        "name": e.name,
        "accounts": e.accounts.len(),
        "value_at_stake": e.value_at_stake,
        "open_pipeline": e.open_pipeline,
        "renewals_90_days": e.renewals,
    });
    if with_accounts {
        j["exposed_accounts"] = e
            .accounts
            .iter()
            .map(|a| {
                json!({"id": a.id, "name": a.name, "annual_value": a.annual_value, "open_pipeline": a.open_pipeline,
                       "renewals_90_days": a.renewals, "last_touch": format_timestamp(a.last_touch)})
            })
            .collect();
    }
    j
}

/// `GET /api/v1/coverage/exposure[?coworker=EMAIL]`: co-workers by value at stake, riskiest
/// first (`coworker_email`, `accounts` only they cover, `value_at_stake` in cents, …); with
/// `coworker`, that one co-worker with their exposed accounts.
pub async fn exposure(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<J, ApiError> {
    let mut only: Option<String> = None;
    for (k, v) in params {
        match k.as_str() {
            "coworker" => only = Some(v.trim().to_lowercase()),
            other => return Err(ApiError::field(other, "is not a filter here; use coworker=EMAIL")),
        }
    }
    let list = blocking(move || s.exposure(&actor)).await?;
    let items: Vec<Json> = match &only {
        Some(who) => list
            .iter()
            .filter(|e| e.email.eq_ignore_ascii_case(who) || e.coworker_id.to_string() == *who)
            .map(|e| exposure_json(e, true))
            .collect(),
        None => list.iter().map(|e| exposure_json(e, false)).collect(),
    };
    Ok(axum::Json(json!({"items": items, "window_days": holdfast_core::service::COVERAGE_WINDOW_DAYS})))
}

/// `GET /api/v1/accounts/{id}/coverage`: `score` (0–100), `reason`, `coworkers`, `contacts`,
/// `last_senior_contact`.
pub async fn account_coverage(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<J, ApiError> {
    let id = parse_id("account", &id)?;
    let c = blocking(move || s.account_coverage(&actor, id)).await?;
    Ok(axum::Json(json!({
        "account_id": c.account,
        "score": c.score,
        "reason": c.reason,
        "coworkers": c.coworkers.iter().map(|(id, name, n)| json!({"id": id, "name": name, "activities": n})).collect::<Vec<_>>(),
        "contacts": c.contacts,
        "last_senior_contact": c.last_senior_contact.map(format_timestamp),
        "senior_cadence_days": c.cadence_days,
        "top_share_percent": c.top_share,
        "window_days": holdfast_core::service::COVERAGE_WINDOW_DAYS,
    })))
}
