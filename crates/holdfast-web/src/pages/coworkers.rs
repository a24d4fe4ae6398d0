//! The co-workers list (status changes for admins) and a co-worker's System events tab: what
//! they opened, listed, searched, exported and changed, filtered by action and dates, charted per
//! day against their usual day. Looking at someone's events is itself recorded.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use holdfast_core::coworker::{CoWorker, Status};
use holdfast_core::event::{EventFilter, action};
use holdfast_core::service::{ActivityReport, CoWorkerChanges};
use holdfast_core::time::{MICROS_PER_DAY, format_timestamp, parse_timestamp};
use holdfast_core::{CoreError, FieldError};
use uuid::Uuid;

use super::charts::{DayVolume, volume_chart};
use super::error::{PageError, PageResult};
use super::session::{PageUser, SignedForm};
use super::view::{Choice, Me, count, encode, go, render, safe_next};
use crate::state::AppState;

struct CoworkerRow {
    id: Uuid,
    name: String,
    email: String,
    role: String,
    team: String,
    manager: String,
    status: String,
}

#[derive(Template)]
#[template(path = "coworkers.html")]
struct CoworkersPage {
    me: Option<Me>,
    admin: bool,
    csrf: String,
    statuses: Vec<String>,
    coworkers: Vec<CoworkerRow>,
}

pub async fn coworkers(State(s): State<AppState>, user: PageUser) -> PageResult {
    let (list, teams) = user.call(&s, |s, actor| Ok((s.list_coworkers(actor)?, s.list_teams()?))).await?;
    let names: HashMap<Uuid, String> = list.iter().map(|c| (c.id, c.name.clone())).collect();
    let teams: HashMap<Uuid, String> = teams.into_iter().map(|t| (t.id, t.name)).collect();
    let rows = list
        .into_iter()
        .map(|c| CoworkerRow {
            id: c.id,
            role: c.role.as_str().into(),
            team: c.team_id.and_then(|t| teams.get(&t).cloned()).unwrap_or_default(),
            manager: c.manager_id.and_then(|m| names.get(&m).cloned()).unwrap_or_default(),
            status: c.status.as_str().into(),
            name: c.name,
            email: c.email,
        })
        .collect();
    let page = CoworkersPage {
        me: user.me(),
        admin: user.actor.is_admin(),
        csrf: user.csrf(),
        statuses: Status::ALL.iter().map(|s| s.as_str().to_string()).collect(),
        coworkers: rows,
    };
    Ok(render(&page, StatusCode::OK))
}

/// Changes a co-worker's status (admins): suspending or marking departed revokes their sessions
/// and tokens at once.
pub async fn set_coworker_status(State(s): State<AppState>, Path(id): Path<String>, form: SignedForm) -> PageResult {
    let target = form.user.id(&id, "co-worker")?;
    let status = Status::parse(&form.text("status")).map_err(|why| {
        form.user.fail(PageError::new(StatusCode::UNPROCESSABLE_ENTITY, "Please check what you entered", &why))
    })?;
    let back = safe_next(form.get("back").unwrap_or("/coworkers")).to_string();
    let confirmed = form.get("confirm_owned_records") == Some("1");
    let changes = CoWorkerChanges { status: Some(status), confirm_owned_records: confirmed, ..Default::default() };
    match form.user.attempt(&s, move |s, actor| s.update_coworker(actor, &target.to_string(), changes)).await {
        Ok(_) => Ok(go(&back)),
        // Setting someone departed who still owns records: say how many and ask.
        Err(crate::ApiError::Core(CoreError::Conflict(why))) if status == Status::Departed => {
            let page = ConfirmPage {
                me: form.user.me(),
                csrf: form.user.csrf(),
                heading: "They still own customer records".into(),
                message: format!(
                    "{why}. Handing them over first keeps every customer with someone who is here; records of someone \
                     who left are listed on the Departures page until they are handed over."
                ),
                action: format!("/coworkers/{target}/status"),
                fields: vec![
                    Choice::new("status", "departed"),
                    Choice::new("confirm_owned_records", "1"),
                    Choice::new("back", back),
                ],
                button: "Set departed anyway".into(),
                back: format!("/coworkers/{target}/edit#handover"),
                back_label: "Hand them over first".into(),
            };
            Ok(render(&page, StatusCode::CONFLICT))
        }
        Err(e) => Err(form.user.fail(e)),
    }
}

/// A question before a step that cannot be taken back lightly.
#[derive(Template)]
#[template(path = "confirm.html")]
struct ConfirmPage {
    me: Option<Me>,
    csrf: String,
    heading: String,
    message: String,
    action: String,
    /// Hidden fields: name (value) and value (label).
    fields: Vec<Choice>,
    button: String,
    back: String,
    back_label: String,
}

struct EventRow {
    seq: i64,
    when: String,
    action: String,
    object: String,
    rows: i64,
    from: String,
}

#[derive(Template)]
#[template(path = "events.html")]
struct EventsPage {
    me: Option<Me>,
    /// The co-worker's id, for the tabs (Profile is for admins).
    id: Uuid,
    admin: bool,
    name: String,
    email: String,
    actions: Vec<String>,
    action: String,
    from: String,
    to: String,
    chart: String,
    summary: String,
    unusual: Vec<String>,
    older: Option<String>,
    events: Vec<EventRow>,
}

/// How many events one page of the tab shows.
const EVENTS_PER_PAGE: usize = 200;

/// The tab's filter as typed: an action and whole UTC days (`to` includes its day).
struct Review {
    action: String,
    from: String,
    to: String,
    since: Option<i64>,
    until: Option<i64>,
    before: Option<i64>,
}

impl Review {
    fn parse(q: &HashMap<String, String>) -> Result<Review, CoreError> {
        let get = |k: &str| q.get(k).map(|v| v.trim().to_string()).unwrap_or_default();
        let (action, from, to) = (get("action"), get("from"), get("to"));
        let mut problems = Vec::new();
        let mut day = |name: &str, text: &str| -> Option<i64> {
            (!text.is_empty())
                .then(|| parse_timestamp(text).map_err(|e| problems.push(FieldError::new("", format!("{name}: {e}")))))
                .and_then(Result::ok)
        };
        let since = day("From", &from);
        let until = day("To", &to).map(|t| t + MICROS_PER_DAY);
        if !problems.is_empty() {
            return Err(CoreError::Invalid(problems));
        }
        let before = q.get("before").and_then(|b| b.parse::<i64>().ok());
        Ok(Review { action, from, to, since, until, before })
    }

    fn filter(&self) -> EventFilter {
        EventFilter {
            action: Some(self.action.clone()).filter(|a| !a.is_empty()),
            since: self.since,
            until: self.until,
            before_seq: self.before,
            limit: EVENTS_PER_PAGE,
            ..Default::default()
        }
    }

    /// The next page of older events, when this one is full.
    fn older(&self, target: Uuid, last_seq: i64) -> String {
        format!(
            "/coworkers/{target}/events?action={}&from={}&to={}&before={last_seq}",
            encode(&self.action),
            encode(&self.from),
            encode(&self.to)
        )
    }
}

fn summary(report: &ActivityReport) -> String {
    let baseline = &report.own_baseline;
    format!(
        "{} to {}: {} opened, {} listed or searched, {} exported, {}. \
         Their usual day in the 90 days before: {:.0} opened, {:.0} listed, {:.0} exported.",
        report.since.get(..10).unwrap_or(""),
        report.until.get(..10).unwrap_or(""),
        count(report.totals.viewed, "record"),
        count(report.totals.searched, "row"),
        count(report.totals.exported, "row"),
        count(report.totals.changed, "change"),
        baseline.viewed,
        baseline.searched,
        baseline.exported
    )
}

fn event_row(e: &holdfast_core::event::SystemEvent) -> EventRow {
    let n = &e.event;
    EventRow {
        seq: e.seq,
        when: format_timestamp(n.at).get(..19).unwrap_or("").replace('T', " "),
        action: n.action.clone(),
        object: format!("{} {}", n.object_type.as_deref().unwrap_or(""), n.object_id.as_deref().unwrap_or("")),
        rows: n.row_count,
        from: n.client_addr.clone().unwrap_or_default(),
    }
}

pub async fn coworker_events(
    State(s): State<AppState>,
    user: PageUser,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> PageResult {
    let review = Review::parse(&q).map_err(|e| user.fail(e))?;
    let (filter, since, until) = (review.filter(), review.since, review.until);
    let (target, events, report): (CoWorker, _, _) = user
        .call(&s, move |s, actor| {
            let target = s.coworker_for_review(actor, &id)?;
            let events = s.coworker_events(actor, &id, filter)?;
            let now = s.now();
            // The chart covers the chosen dates (at most 92 days), else the last 30 days.
            let end = until.unwrap_or(now + 1).min(now + 1);
            let start = since.unwrap_or(end - 30 * MICROS_PER_DAY).max(end - 92 * MICROS_PER_DAY);
            Ok((target, events, s.activity_report(actor, &id, start, end - 1)?))
        })
        .await?;
    let days: Vec<DayVolume> = report
        .days
        .iter()
        .map(|d| DayVolume { date: d.date.clone(), read: d.viewed + d.searched, exported: d.exported })
        .collect();
    let full = events.len() == EVENTS_PER_PAGE;
    let page = EventsPage {
        me: user.me(),
        id: target.id,
        admin: user.actor.is_admin(),
        actions: action::REVIEWED.iter().map(|a| a.to_string()).collect(),
        chart: volume_chart(&days),
        summary: summary(&report),
        unusual: report.unusual_days.clone(),
        older: full.then(|| review.older(target.id, events.last().map(|e| e.seq).unwrap_or_default())),
        events: events.iter().map(event_row).collect(),
        name: target.name,
        email: target.email,
        action: review.action,
        from: review.from,
        to: review.to,
    };
    Ok(render(&page, StatusCode::OK))
}
