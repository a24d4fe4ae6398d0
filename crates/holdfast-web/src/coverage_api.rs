//! Coverage and walk-out exposure over HTTP. Handlers only translate HTTP to service calls.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use holdfast_core::service::Exposure;
use holdfast_core::time::format_timestamp;
use serde_json::{Value as Json, json};

use crate::api::parse_id;
use crate::extract::{Caller, JsonBody, RawBody};
use crate::problem::{ApiError, body_error};
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

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ApprovalAsk {
    contact_id: String,
    reason: String,
}

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Decision {
    reason: Option<String>,
}

/// `GET /api/v1/contact-approvals`: the caller's requests and those waiting for their answer.
pub async fn contact_approvals(State(s): State<AppState>, Caller(actor): Caller) -> Result<J, ApiError> {
    let list = blocking(move || s.contact_approvals(&actor)).await?;
    Ok(axum::Json(json!({
        "mine": list.mine.iter().map(|a| a.to_json()).collect::<Vec<_>>(),
        "to_decide": list.to_decide.iter().map(|a| a.to_json()).collect::<Vec<_>>(),
    })))
}

/// `POST /api/v1/contact-approvals {"contact_id", "reason"}`: 201 with the pending request.
pub async fn request_contact_approval(
    State(s): State<AppState>,
    Caller(actor): Caller,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, J), ApiError> {
    let ask: ApprovalAsk = serde_json::from_value(body).map_err(|e| body_error(&e))?;
    let contact = parse_id("contact", &ask.contact_id)?;
    let view = blocking(move || s.request_contact_approval(&actor, contact, &ask.reason)).await?;
    Ok((StatusCode::CREATED, axum::Json(view.to_json())))
}

async fn decide(
    s: AppState,
    actor: holdfast_core::coworker::Actor,
    id: &str,
    approve: bool,
    body: Json,
) -> Result<J, ApiError> {
    let id = parse_id("approval", id)?;
    let decision: Decision =
        if body.is_null() { Decision::default() } else { serde_json::from_value(body).map_err(|e| body_error(&e))? };
    let view = blocking(move || s.decide_contact_approval(&actor, id, approve, decision.reason.as_deref())).await?;
    Ok(axum::Json(view.to_json()))
}

/// `POST /api/v1/contact-approvals/{id}/approve [{"reason"}]`.
pub async fn approve_contact_approval(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    RawBody(body): RawBody,
) -> Result<J, ApiError> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        Json::Null
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::BadJson(e.to_string()))?
    };
    decide(s, actor, &id, true, body).await
}

/// `POST /api/v1/contact-approvals/{id}/deny {"reason"}`.
pub async fn deny_contact_approval(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<J, ApiError> {
    decide(s, actor, &id, false, body).await
}

fn coverage_json(c: &holdfast_core::service::AccountCoverage) -> Json {
    json!({
        "score": c.score,
        "reason": c.reason,
        "coworkers": c.coworkers.len(),
        "contacts": c.contacts,
        "last_senior_contact": c.last_senior_contact.map(format_timestamp),
        "senior_cadence_days": c.cadence_days,
        "top_share_percent": c.top_share,
    })
}

/// `GET /api/v1/coverage/accounts[?only=single|senior&tier=&limit=&offset=]`: every account the
/// caller may read, weakest coverage first.
pub async fn coverage_accounts(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<J, ApiError> {
    let (mut only, mut tier, mut limit, mut offset) = (None, None, 100usize, 0usize);
    for (k, v) in params {
        match k.as_str() {
            "only" if v == "single" || v == "senior" => only = Some(v),
            "only" => return Err(ApiError::field("only", "is single or senior")),
            "tier" => tier = Some(v),
            "limit" => limit = v.parse().map_err(|_| ApiError::field("limit", "is a number"))?,
            "offset" => offset = v.parse().map_err(|_| ApiError::field("offset", "is a number"))?,
            other => return Err(ApiError::field(other, "is not a parameter; use only, tier, limit and offset")),
        }
    }
    let svc = s.clone();
    let rows = blocking(move || svc.coverage_report(&actor)).await?;
    let now = s.now();
    let picked: Vec<_> = rows
        .iter()
        .filter(|r| tier.as_ref().is_none_or(|t| r.tier.as_deref() == Some(t.as_str())))
        .filter(|r| match only.as_deref() {
            Some("single") => r.single_threaded(),
            Some("senior") => r.senior_overdue(now),
            _ => true,
        })
        .collect();
    let items: Vec<Json> = picked
        .iter()
        .skip(offset)
        .take(limit.clamp(1, 1_000))
        .map(|r| {
            let mut j = coverage_json(&r.coverage);
            j["account_id"] = json!(r.coverage.account);
            j["name"] = json!(r.name);
            j["tier"] = json!(r.tier);
            j["owner_id"] = json!(r.owner);
            j["annual_value"] = json!(r.annual_value / 100);
            j["single_threaded"] = json!(r.single_threaded());
            j["senior_overdue"] = json!(r.senior_overdue(now));
            j
        })
        .collect();
    Ok(axum::Json(json!({"total": picked.len(), "items": items})))
}

/// `GET /api/v1/renewals[?days=90]`: contracts renewing soonest first, with coverage.
pub async fn renewals(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<J, ApiError> {
    let mut days = 90;
    for (k, v) in params {
        match k.as_str() {
            "days" => days = v.parse().map_err(|_| ApiError::field("days", "is a number of days"))?,
            other => return Err(ApiError::field(other, "is not a parameter; use days")),
        }
    }
    let rows = blocking(move || s.renewals(&actor, days)).await?;
    let items: Vec<Json> = rows
        .iter()
        .map(|r| {
            let n = &r.renewal;
            json!({
                "contract_id": n.contract, "name": n.name, "value": n.value / 100, "renewal_date": n.date,
                "end_date": n.end_date, "account_id": n.account, "account": n.account_name,
                "owner_id": n.account_owner, "tier": n.tier, "fiscal_year_end_month": n.fiscal_year_end_month,
                "coverage": coverage_json(&r.coverage),
            })
        })
        .collect();
    Ok(axum::Json(json!({"days": days, "items": items})))
}
