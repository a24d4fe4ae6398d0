//! Departures over HTTP: record one, list and read cases, mark the review, plan, make the
//! introductions, end access or call a case off; the handover by rule (with a dry run); the
//! bulk operations list. Handlers only translate HTTP to service calls and back.

use std::collections::{BTreeMap, HashMap};

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use holdfast_core::departure::{Reason, Source};
use holdfast_core::service::{HandoverPreview, HandoverRule, NewDeparture};
use serde::Deserialize;
use serde_json::{Value as Json, json};
use uuid::Uuid;

use crate::api::parse_id;
use crate::extract::{Caller, JsonBody, RawBody};
use crate::problem::{ApiError, body_error};
use crate::query::parse_num;
use crate::state::{AppState, blocking};

type J = axum::Json<Json>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DepartureBody {
    last_day: String,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    notice_date: Option<String>,
    #[serde(default)]
    destination: Option<String>,
    #[serde(default)]
    good_terms: Option<bool>,
}

/// `POST /api/v1/coworkers/{id}/departure {"last_day": "YYYY-MM-DD", "reason": "resignation", …}`:
/// 201 with the case.
pub async fn start(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<impl IntoResponse, ApiError> {
    let b: DepartureBody = serde_json::from_value(body).map_err(|e| body_error(&e))?;
    let reason = match b.reason.as_deref() {
        Some(r) => Reason::parse(r).map_err(|why| ApiError::field("reason", why))?,
        None => Reason::Resignation,
    };
    let new = NewDeparture {
        notice_date: b.notice_date,
        last_day: b.last_day,
        reason,
        destination: b.destination,
        good_terms: b.good_terms.unwrap_or(true),
        source: Source::Manual,
    };
    let svc = s.clone();
    let view = blocking(move || {
        let case = svc.start_departure(&actor, &id, new)?;
        svc.departure(&actor, case.id)
    })
    .await?;
    Ok((StatusCode::CREATED, axum::Json(view.to_json())))
}

/// `GET /api/v1/departures[?all=true]`: open cases (all with `all=true`), newest first.
pub async fn list(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<J, ApiError> {
    let mut all = false;
    for (k, v) in params {
        match k.as_str() {
            "all" => all = matches!(v.as_str(), "true" | "1" | "yes"),
            "status" => all = v != "open",
            other => return Err(ApiError::field(other, "is not a filter here; use all=true or status=open|any")),
        }
    }
    let cases = blocking(move || s.list_departures(&actor, all)).await?;
    Ok(axum::Json(json!({"items": cases.iter().map(|c| c.to_json()).collect::<Vec<_>>()})))
}

/// `GET /api/v1/departures/{id}`.
pub async fn one(State(s): State<AppState>, Caller(actor): Caller, Path(id): Path<String>) -> Result<J, ApiError> {
    let id = parse_id("departure", &id)?;
    let view = blocking(move || s.departure(&actor, id)).await?;
    Ok(axum::Json(view.to_json()))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct NoteBody {
    #[serde(default)]
    note: Option<String>,
    #[serde(default)]
    reason: Option<String>,
}

/// An optional JSON body: none, or `{"note"}` / `{"reason"}`.
fn note_of(body: &[u8]) -> Result<NoteBody, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(NoteBody::default());
    }
    let json: Json = serde_json::from_slice(body).map_err(|e| ApiError::BadJson(e.to_string()))?;
    serde_json::from_value(json).map_err(|e| body_error(&e))
}

/// `POST /api/v1/departures/{id}/review {"note": "…"}`: the data review is done.
pub async fn review(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    RawBody(body): RawBody,
) -> Result<J, ApiError> {
    let id = parse_id("departure", &id)?;
    let note = note_of(&body)?.note;
    let svc = s.clone();
    let view = blocking(move || {
        svc.mark_departure_step(&actor, id, "review", json!({"note": note}))?;
        svc.departure(&actor, id)
    })
    .await?;
    Ok(axum::Json(view.to_json()))
}

/// `POST /api/v1/departures/{id}/plan {"rule": …}`: records the transition plan and answers with
/// its preview.
pub async fn plan(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<J, ApiError> {
    let id = parse_id("departure", &id)?;
    let (rule, _) = rule_of(body)?;
    let (_, preview) = blocking(move || s.plan_departure(&actor, id, &rule)).await?;
    Ok(axum::Json(preview_json(&preview)))
}

/// `POST /api/v1/departures/{id}/introductions`: tasks for the key accounts.
pub async fn introductions(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<J, ApiError> {
    let id = parse_id("departure", &id)?;
    let made = blocking(move || s.make_introductions(&actor, id)).await?;
    Ok(axum::Json(json!({"accounts": made.accounts, "tasks": made.tasks})))
}

/// `POST /api/v1/departures/{id}/end-access`: ends access now.
pub async fn end_access(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<J, ApiError> {
    let id = parse_id("departure", &id)?;
    let svc = s.clone();
    let view = blocking(move || {
        svc.end_departure_access(&actor, id)?;
        svc.departure(&actor, id)
    })
    .await?;
    Ok(axum::Json(view.to_json()))
}

/// `POST /api/v1/departures/{id}/cancel {"reason": "…"}`: the co-worker stays.
pub async fn cancel(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    RawBody(body): RawBody,
) -> Result<J, ApiError> {
    let id = parse_id("departure", &id)?;
    let reason = note_of(&body)?.reason.unwrap_or_default();
    let case = blocking(move || s.cancel_departure(&actor, id, &reason)).await?;
    Ok(axum::Json(case.to_json()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleBody {
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    rule: Option<String>,
    #[serde(default)]
    recipients: Option<Vec<String>>,
    #[serde(default)]
    team: Option<String>,
    #[serde(default)]
    territories: Option<BTreeMap<String, String>>,
    #[serde(default)]
    accounts: Option<HashMap<String, String>>,
    #[serde(default)]
    rest: Option<String>,
    #[serde(default)]
    dry_run: Option<bool>,
}

/// A handover rule from a request body, and whether it is a dry run.
fn rule_of(body: Json) -> Result<(HandoverRule, bool), ApiError> {
    let b: RuleBody = serde_json::from_value(body).map_err(|e| body_error(&e))?;
    let dry_run = b.dry_run.unwrap_or(false);
    let rule = match b.rule.as_deref() {
        None | Some("one") => match b.to {
            Some(to) => HandoverRule::One(to),
            None => return Err(ApiError::field("to", "name who takes over (an email), or give a rule")),
        },
        Some("round_robin") => {
            let r = b.recipients.filter(|r| !r.is_empty()).ok_or_else(|| {
                ApiError::field("recipients", "name the colleagues to share the records among (emails)")
            })?;
            HandoverRule::RoundRobin(r)
        }
        Some("team") => HandoverRule::Team(b.team),
        Some("territory") => HandoverRule::Territory(b.territories.filter(|t| !t.is_empty()).ok_or_else(|| {
            ApiError::field("territories", "map each country (or '*' for the rest) to a colleague's email")
        })?),
        Some("picked") => {
            let mut accounts = HashMap::new();
            for (account, who) in b.accounts.unwrap_or_default() {
                let id = Uuid::parse_str(&account)
                    .map_err(|_| ApiError::field("accounts", format!("'{account}' is not an account id")))?;
                accounts.insert(id, who);
            }
            HandoverRule::Picked { accounts, rest: b.rest.or(b.to) }
        }
        Some(other) => {
            return Err(ApiError::field(
                "rule",
                format!("'{other}' is not a rule; use one, round_robin, team, territory or picked"),
            ));
        }
    };
    Ok((rule, dry_run))
}

fn preview_json(p: &HandoverPreview) -> Json {
    let values: serde_json::Map<String, Json> = p
        .value_per_recipient
        .iter()
        .map(|(email, v)| {
            (
                email.clone(),
                json!({"name": v.name, "annual_value": v.annual_value, "open_pipeline": v.open_pipeline,
                    "top_accounts": v.top_accounts}),
            )
        })
        .collect();
    json!({
        "dry_run": true,
        "from": p.from_email,
        "per_recipient": p.per_recipient,
        "value_per_recipient": values,
        "total": p.total,
    })
}

/// `POST /api/v1/coworkers/{id}/handover`: `{"to": EMAIL}` or `{"rule": "round_robin",
/// "recipients": [EMAIL, …]}` (or `team`, `territory`, `picked`); with `"dry_run": true` answers
/// with what would move, per recipient, and changes nothing.
pub async fn handover(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<J, ApiError> {
    let (rule, dry_run) = rule_of(body)?;
    if dry_run {
        let preview = blocking(move || s.preview_handover(&actor, &id, &rule)).await?;
        return Ok(axum::Json(preview_json(&preview)));
    }
    let h = blocking(move || s.handover_by(&actor, &id, &rule)).await?;
    let per_kind: serde_json::Map<String, Json> =
        h.per_kind.iter().map(|k| (k.plural.to_string(), json!(k.count))).collect();
    Ok(axum::Json(json!({"operation": h.operation, "changed": h.changed, "per_kind": per_kind, "from": h.from,
        "to": h.to, "per_recipient": h.per_recipient})))
}

/// `GET /api/v1/bulk-operations[?limit=N]`: bulk changes and handovers, newest first, with
/// whether each can still be undone.
pub async fn bulk_operations(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<J, ApiError> {
    let mut limit = 50;
    for (k, v) in params {
        match k.as_str() {
            "limit" => limit = parse_num("limit", &v)?,
            other => return Err(ApiError::field(other, "is not a filter here; use limit")),
        }
    }
    let ops = blocking(move || s.list_bulk_operations(&actor, limit)).await?;
    Ok(axum::Json(json!({"items": ops.iter().map(|o| o.to_json()).collect::<Vec<_>>()})))
}
