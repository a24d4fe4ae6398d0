//! The guard's pages: Alerts (admins see all, managers their people's; acknowledge, resolve or
//! dismiss with a reason) and Exports (one's own, with their status and download; the approval
//! queue for managers and admins). Each action is one service call, like its API twin.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use holdfast_core::guard::{AlertState, ExportRequest, ExportStatus};
use holdfast_core::service::ExportList;
use holdfast_core::time::format_timestamp;

use super::error::PageResult;
use super::session::{PageUser, SignedForm};
use super::view::{Me, go, render};
use crate::state::AppState;

/// One alert as a row.
struct AlertRow {
    id: String,
    when: String,
    severity: &'static str,
    state: &'static str,
    kind: String,
    who: String,
    coworker_id: String,
    summary: String,
    evidence: usize,
    reason: String,
    open: bool,
    acknowledged: bool,
}

#[derive(Template)]
#[template(path = "alerts.html")]
struct AlertsPage {
    me: Option<Me>,
    csrf: String,
    rows: Vec<AlertRow>,
    open: usize,
}

pub async fn alerts(State(s): State<AppState>, user: PageUser) -> PageResult {
    let list = user.call(&s, |s, actor| s.alerts(actor, None, 300)).await?;
    let rows: Vec<AlertRow> = list
        .into_iter()
        .map(|(a, email)| AlertRow {
            id: a.id.to_string(),
            when: format_timestamp(a.created_at)[..16].replace('T', " "),
            severity: a.severity.as_str(),
            state: a.state.as_str(),
            kind: a.kind.replace('_', " "),
            who: email,
            coworker_id: a.coworker_id.to_string(),
            summary: a.summary,
            evidence: a.event_ids.len(),
            reason: a.state_reason.unwrap_or_default(),
            open: a.state == AlertState::Open,
            acknowledged: a.state == AlertState::Acknowledged,
        })
        .collect();
    let open = rows.iter().filter(|r| r.open).count();
    Ok(render(&AlertsPage { me: user.me(), csrf: user.csrf(), rows, open }, StatusCode::OK))
}

pub async fn alert_state(State(s): State<AppState>, Path(id): Path<String>, form: SignedForm) -> PageResult {
    let id = form.user.id(&id, "alert")?;
    let to = AlertState::parse(&form.text("state")).map_err(|r| form.user.fail(crate::ApiError::field("state", r)))?;
    let reason = form.text("reason");
    form.user.call(&s, move |s, actor| s.set_alert_state(actor, id, to, Some(&reason))).await?;
    Ok(go("/alerts"))
}

/// One export as a row.
struct ExportRow {
    id: String,
    when: String,
    who: String,
    what: String,
    status: &'static str,
    reason: String,
    /// Which limit it crossed (why it waits).
    held: String,
    decision: String,
    rows: String,
    sha256: String,
    ready: bool,
}

fn export_row(e: &ExportRequest, now: i64, who: String) -> ExportRow {
    let status = e.status_at(now);
    ExportRow {
        id: e.id.to_string(),
        when: format_timestamp(e.created_at)[..16].replace('T', " "),
        who,
        what: format!("{} {} as {} ({})", e.matched, e.kind, e.format.as_str().to_uppercase(), e.columns.join(", ")),
        status: match status {
            ExportStatus::Pending => "waiting for approval",
            other => other.as_str(),
        },
        reason: e.reason.clone().unwrap_or_default(),
        held: e.over_limit.clone().unwrap_or_default(),
        decision: e.decision_reason.clone().unwrap_or_default(),
        rows: e.rows.map(|r| r.to_string()).unwrap_or_default(),
        sha256: e.sha256.clone().unwrap_or_default(),
        ready: status == ExportStatus::Ready,
    }
}

#[derive(Template)]
#[template(path = "exports.html")]
struct ExportsPage {
    me: Option<Me>,
    csrf: String,
    mine: Vec<ExportRow>,
    to_approve: Vec<ExportRow>,
    reviewer: bool,
}

pub async fn exports(State(s): State<AppState>, user: PageUser) -> PageResult {
    let reviewer = user.actor.is_admin() || !user.actor.manages.is_empty();
    let (mine, queue, names) = user
        .call(&s, move |s, actor| {
            let queue = if reviewer { s.exports(actor, ExportList::ToApprove, 200)? } else { Vec::new() };
            Ok((s.exports(actor, ExportList::Mine, 200)?, queue, s.coworker_names()?))
        })
        .await?;
    let now = s.now();
    let name = |id| names.get(&id).cloned().unwrap_or_default();
    let page = ExportsPage {
        me: user.me(),
        csrf: user.csrf(),
        mine: mine.iter().map(|e| export_row(e, now, name(e.coworker_id))).collect(),
        to_approve: queue.iter().map(|e| export_row(e, now, name(e.coworker_id))).collect(),
        reviewer,
    };
    Ok(render(&page, StatusCode::OK))
}

pub async fn decide(State(s): State<AppState>, Path(id): Path<String>, form: SignedForm) -> PageResult {
    let id = form.user.id(&id, "export")?;
    let reason = form.text("reason");
    let approve = form.get("decision") == Some("approve");
    form.user
        .call(
            &s,
            move |s, actor| {
                if approve { s.approve_export(actor, id, Some(&reason)) } else { s.deny_export(actor, id, &reason) }
            },
        )
        .await?;
    Ok(go("/exports"))
}

pub async fn download(State(s): State<AppState>, Path(id): Path<String>, user: PageUser) -> PageResult {
    let id = user.id(&id, "export")?;
    let file = user.call(&s, move |s, actor| s.download_export(actor, id)).await?;
    Ok(crate::guard_api::file_response(file).into_response())
}
