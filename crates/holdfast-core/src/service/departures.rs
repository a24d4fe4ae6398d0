//! A departure as a case: recorded once (web, CLI, API or the identity provider), it makes the
//! co-worker departing (the guard's watchlist), keeps each step with who did it and when, and
//! ends access when the last day is over (a scheduler that reads the due cases from the
//! database, so a restart loses nothing). A termination ends access at once.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Value as Json, json};
use uuid::Uuid;

use super::{CoWorkerChanges, HandoverPreview, HandoverRule, Holdfast, append_events};
use crate::coworker::{Actor, CoWorker, Status};
use crate::departure::{CaseStatus, Departure, Reason, Source, StepDone};
use crate::error::CoreError;
use crate::event::{EventFilter, NewEvent, action};
use crate::guard::AlertState;
use crate::record::{self, Value};
use crate::storage::{Database, RecordQuery, Tx};
use crate::time::{date_of, parse_date};

pub const DEPARTURE_START: &str = "departure.start";
pub const DEPARTURE_STEP: &str = "departure.step";
pub const DEPARTURE_END: &str = "departure.end";
pub const DEPARTURE_CANCEL: &str = "departure.cancel";

/// Days ahead a renewal makes an account key for introductions.
pub const RENEWAL_DAYS: i64 = 90;
/// How many of the most valuable accounts are key for introductions.
pub const TOP_ACCOUNTS: usize = 10;
/// Contacts named per key account.
const CONTACTS_PER_ACCOUNT: u32 = 5;

/// The introduction email until an admin writes their own. `{contact}`, `{account}`,
/// `{new_owner}` and `{leaver}` are filled in.
pub const DEFAULT_INTRODUCTION: &str = "Dear {contact},\n\nAs {leaver} is leaving us, I would like to \
introduce {new_owner}, who will look after {account} from now on. {new_owner} knows your account and \
everything we are working on together, and will be in touch in the coming days to introduce themselves. \
Nothing changes in how we serve you.\n\nKind regards";
/// The settings key of the introduction template.
pub const INTRODUCTION_SETTING: &str = "introduction_template";

/// A departure as recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDeparture {
    /// `YYYY-MM-DD`; today when not given.
    pub notice_date: Option<String>,
    /// `YYYY-MM-DD`.
    pub last_day: String,
    pub reason: Reason,
    pub destination: Option<String>,
    pub good_terms: bool,
    pub source: Source,
}

/// An acknowledgement of the notice during the case.
#[derive(Debug, Clone, PartialEq)]
pub struct NoticeAck {
    pub version: Option<i64>,
    pub sha256: String,
    pub at: i64,
    pub client_addr: Option<String>,
}

/// A case with what the pages show beside it.
#[derive(Debug, Clone)]
pub struct DepartureView {
    pub case: Departure,
    pub coworker: CoWorker,
    pub notice: Option<NoticeAck>,
    /// What they still own, per kind.
    pub owned: Vec<(&'static record::RecordKind, i64)>,
    /// Annual value of the accounts they still own, cents.
    pub value_owned: i64,
    pub open_alerts: i64,
    /// Names of the co-workers named in the steps.
    pub names: HashMap<Uuid, String>,
}

impl DepartureView {
    /// Steps done out of [`crate::departure::STEPS`].
    pub fn progress(&self) -> usize {
        crate::departure::STEPS.iter().filter(|(name, _)| self.done(name)).count()
    }
    pub fn done(&self, step: &str) -> bool {
        match step {
            "notice" => self.notice.is_some(),
            other => self.case.step(other).is_some(),
        }
    }
    pub fn owned_total(&self) -> i64 {
        self.owned.iter().map(|(_, n)| n).sum()
    }
    pub fn to_json(&self) -> Json {
        let mut j = self.case.to_json();
        let owned: serde_json::Map<String, Json> =
            self.owned.iter().map(|(k, n)| (k.plural.to_string(), json!(n))).collect();
        j["coworker"] = json!({"id": self.coworker.id, "email": self.coworker.email, "name": self.coworker.name,
            "status": self.coworker.status});
        j["notice_acknowledged"] = match &self.notice {
            Some(n) => json!({"version": n.version, "sha256": n.sha256, "at": crate::time::format_timestamp(n.at),
                "client_addr": n.client_addr}),
            None => Json::Null,
        };
        j["still_owned"] = Json::Object(owned);
        j["value_not_handed_over"] = json!(self.value_owned);
        j["open_alerts"] = json!(self.open_alerts);
        j["progress"] = json!({"done": self.progress(), "of": crate::departure::STEPS.len()});
        j
    }
}

/// Introductions made for a case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Introductions {
    pub accounts: usize,
    pub tasks: usize,
}

/// The midnight (UTC) after a `YYYY-MM-DD` day, in microseconds.
fn end_of_day(day: &str) -> Result<i64, CoreError> {
    let date: jiff::civil::Date =
        day.parse().map_err(|_| CoreError::invalid("last_day", "give the last day as YYYY-MM-DD"))?;
    let next = date.tomorrow().map_err(|_| CoreError::invalid("last_day", "is out of range"))?;
    let at = next.to_zoned(jiff::tz::TimeZone::UTC).map_err(|_| CoreError::invalid("last_day", "is out of range"))?;
    Ok(at.timestamp().as_microsecond())
}

/// Stores a new case with its `departure.start` event.
fn open_case_in(tx: &mut dyn Tx, actor: &Actor, case: &Departure) -> Result<(), CoreError> {
    tx.insert_departure(case)?;
    append_events(
        tx,
        vec![
            NewEvent::by(actor, case.opened_at, DEPARTURE_START)
                .object("departure", case.id)
                .detail("coworker_id", json!(case.coworker_id))
                .detail("reason", json!(case.reason))
                .detail("last_day", json!(case.last_day))
                .detail("source", json!(case.source)),
        ],
    )?;
    Ok(())
}

/// A case the identity provider opened stays open, even with nothing to hand over, until someone
/// has reviewed what the co-worker read and exported.
fn awaits_review(case: &Departure) -> bool {
    case.source == Source::IdentityProvider && case.step("review").is_none()
}

fn step(actor: &Actor, at: i64, detail: Json) -> StepDone {
    StepDone { by: actor.id(), at, detail }
}

impl<D: Database> Holdfast<D> {
    /// Whether `actor` may run `coworker`'s departure: an admin, or someone who manages them.
    fn may_run_departure(&self, actor: &Actor, coworker: Uuid) -> Result<(), CoreError> {
        if actor.is_admin() || actor.manages.contains(&coworker) {
            Ok(())
        } else {
            Err(CoreError::forbidden("only an admin or the co-worker's manager or director may run their departure"))
        }
    }

    /// Records a departure: the co-worker becomes departing (or, for a termination, departed at
    /// once, every session and token ended), and a case is opened.
    pub fn start_departure(&self, actor: &Actor, who: &str, new: NewDeparture) -> Result<Departure, CoreError> {
        self.noting_refusals(
            actor,
            || format!("record the departure of {who}"),
            || {
                let last_day = parse_date(&new.last_day).map_err(|e| CoreError::invalid("last_day", e))?;
                let today = date_of(self.now());
                // Recorded late (the last day already behind us), the notice date defaults to it.
                let notice_date = match new.notice_date.as_deref().map(str::trim).filter(|d| !d.is_empty()) {
                    Some(d) => parse_date(d).map_err(|e| CoreError::invalid("notice_date", e))?,
                    None => today.clone().min(last_day.clone()),
                };
                if last_day < notice_date {
                    return Err(CoreError::invalid("last_day", "the last day cannot be before the notice date"));
                }
                let destination = new.destination.as_deref().map(str::trim).filter(|d| !d.is_empty());
                if destination.is_some_and(|d| d.chars().count() > 200) {
                    return Err(CoreError::invalid("destination", "keep it under 200 characters"));
                }
                let now = self.now();
                let access_ends_at =
                    if new.reason == Reason::Termination { now } else { end_of_day(&last_day)?.max(now) };
                // A termination, or a last day already over: access ends in the same transaction.
                let ends_now = access_ends_at <= now;
                let (case, became_departing, coworker) = self.db.write(|tx| {
                    let target = self.resolve_coworker(tx, "coworker", who)?;
                    self.may_run_departure(actor, target.id)?;
                    if actor.id() == Some(target.id) {
                        return Err(CoreError::forbidden("a co-worker cannot record their own departure"));
                    }
                    if target.status == Status::Departed {
                        return Err(CoreError::invalid("coworker", format!("{} has already left", target.name)));
                    }
                    if !tx.list_departures(Some(&[target.id]), Some(CaseStatus::Open))?.is_empty() {
                        return Err(CoreError::Conflict(format!(
                            "{} already has an open departure case; change that one",
                            target.name
                        )));
                    }
                    let status = if ends_now { Status::Departed } else { Status::Departing };
                    let ch = CoWorkerChanges { status: Some(status), ..Default::default() };
                    let (coworker, became_departing) =
                        self.change_coworker_in(tx, actor, &target.id.to_string(), &ch, None)?;
                    let mut steps = BTreeMap::new();
                    if status == Status::Departed {
                        let why =
                            if new.reason == Reason::Termination { "termination" } else { "the last day is over" };
                        steps.insert("access".to_string(), step(actor, now, json!({"why": why})));
                    }
                    let case = Departure {
                        id: crate::id::new_id(),
                        coworker_id: target.id,
                        status: CaseStatus::Open,
                        source: new.source,
                        reason: new.reason,
                        notice_date: notice_date.clone(),
                        last_day: last_day.clone(),
                        access_ends_at,
                        destination: destination.map(String::from),
                        good_terms: new.good_terms && new.reason != Reason::Termination,
                        opened_by: actor.id(),
                        opened_at: now,
                        steps,
                        closed_at: None,
                    };
                    open_case_in(tx, actor, &case)?;
                    Ok((case, became_departing, coworker))
                })?;
                self.forget_org();
                if became_departing {
                    self.look_back(&coworker)?;
                }
                Ok(case)
            },
        )
    }

    /// Cases the actor may see (admins and directors: all; managers: the people they manage),
    /// newest first; open ones only unless `all`.
    pub fn list_departures(&self, actor: &Actor, all: bool) -> Result<Vec<DepartureView>, CoreError> {
        if !actor.leads() {
            return Err(CoreError::forbidden("departures are for managers, directors and admins"));
        }
        let scope: Option<Vec<Uuid>> = if actor.is_admin() { None } else { Some(actor.manages.clone()) };
        let cases = self
            .db
            .read(|tx| Ok(tx.list_departures(scope.as_deref(), if all { None } else { Some(CaseStatus::Open) })?))?;
        cases.into_iter().map(|c| self.view_of(c)).collect()
    }

    /// One case, with what the case page shows.
    pub fn departure(&self, actor: &Actor, id: Uuid) -> Result<DepartureView, CoreError> {
        let case = self.db.read(|tx| tx.get_departure(id)?.ok_or_else(|| CoreError::not_found("departure", id)))?;
        self.may_run_departure(actor, case.coworker_id).map_err(|_| CoreError::not_found("departure", id))?;
        self.view_of(case)
    }

    /// The open case of a co-worker, if any (for their profile page).
    pub fn open_departure_of(&self, actor: &Actor, coworker: Uuid) -> Result<Option<Departure>, CoreError> {
        if !actor.is_admin() && !actor.manages.contains(&coworker) {
            return Ok(None);
        }
        self.db.read(|tx| Ok(tx.list_departures(Some(&[coworker]), Some(CaseStatus::Open))?.into_iter().next()))
    }

    fn view_of(&self, case: Departure) -> Result<DepartureView, CoreError> {
        self.db.read(|tx| {
            let coworker = tx
                .get_coworker(case.coworker_id)?
                .ok_or_else(|| CoreError::not_found("co-worker", case.coworker_id))?;
            let notice = notice_ack(tx, case.coworker_id, case.opened_at)?;
            let mut owned = Vec::new();
            for kind in super::HANDED_OVER.iter().copied() {
                let n = tx.count_owned(kind, case.coworker_id)?;
                if n > 0 {
                    owned.push((kind, n));
                }
            }
            let value_owned = if owned.iter().any(|(k, _)| k.kind == record::Kind::Account) {
                let query = RecordQuery {
                    filters: vec![("owner_id", Value::Text(case.coworker_id.to_string()))],
                    sort: "created_at",
                    limit: u32::MAX - 1,
                    ..Default::default()
                };
                tx.list_records(&record::ACCOUNTS, &query)?
                    .iter()
                    .map(|a| a.get("annual_value").as_int().unwrap_or(0))
                    .sum()
            } else {
                0
            };
            let open_alerts = tx.count_alerts(Some(&[case.coworker_id]), None, AlertState::Open)?;
            let names = tx.list_coworkers()?.into_iter().map(|c| (c.id, c.name)).collect();
            Ok(DepartureView { case, coworker, notice, owned, value_owned, open_alerts, names })
        })
    }

    /// Marks a step of the case done by the actor (the review, for one).
    pub fn mark_departure_step(
        &self,
        actor: &Actor,
        id: Uuid,
        name: &str,
        detail: Json,
    ) -> Result<Departure, CoreError> {
        if !matches!(name, "review") {
            return Err(CoreError::invalid(
                "step",
                "only the review is marked by hand; the others follow from what is done",
            ));
        }
        self.update_case(actor, id, |case, actor, now| {
            case.steps.insert(name.to_string(), step(actor, now, detail.clone()));
            Ok(json!({"step": name}))
        })?;
        // A case the identity provider opened waited for this review to close.
        self.db.write(|tx| {
            let mut case = tx.get_departure(id)?.ok_or_else(|| CoreError::not_found("departure", id))?;
            if case.status == CaseStatus::Open {
                self.close_if_done(tx, &mut case, self.now())?;
                if case.status == CaseStatus::Closed {
                    tx.update_departure(&case)?;
                    append_events(
                        tx,
                        vec![
                            NewEvent::by(actor, self.now(), DEPARTURE_STEP)
                                .object("departure", case.id)
                                .detail("closed", json!("reviewed, and nothing left to hand over")),
                        ],
                    )?;
                }
            }
            Ok(case)
        })
    }

    /// Records a transition plan on the case (the rule and what the preview showed).
    pub fn plan_departure(
        &self,
        actor: &Actor,
        id: Uuid,
        rule: &HandoverRule,
    ) -> Result<(Departure, HandoverPreview), CoreError> {
        let case = self.db.read(|tx| tx.get_departure(id)?.ok_or_else(|| CoreError::not_found("departure", id)))?;
        self.may_run_departure(actor, case.coworker_id)?;
        let preview = self.preview_handover(actor, &case.coworker_id.to_string(), rule)?;
        let case = self.update_case(actor, id, |case, actor, now| {
            let detail =
                json!({"rule": rule.to_json(), "per_recipient": preview.per_recipient, "records": preview.total});
            case.steps.insert("plan".into(), step(actor, now, detail));
            Ok(json!({"step": "plan"}))
        })?;
        Ok((case, preview))
    }

    /// Calls a case off: the co-worker stays (departing becomes active again).
    pub fn cancel_departure(&self, actor: &Actor, id: Uuid, reason: &str) -> Result<Departure, CoreError> {
        let case = self.db.write(|tx| {
            let case = tx.get_departure(id)?.ok_or_else(|| CoreError::not_found("departure", id))?;
            self.may_run_departure(actor, case.coworker_id)?;
            if case.status != CaseStatus::Open {
                return Err(CoreError::Conflict(format!("this case is already {}", case.status.as_str())));
            }
            let coworker = tx.get_coworker(case.coworker_id)?.ok_or_else(|| CoreError::not_found("co-worker", id))?;
            if coworker.status == Status::Departing {
                let ch = CoWorkerChanges { status: Some(Status::Active), ..Default::default() };
                self.change_coworker_in(tx, actor, &coworker.id.to_string(), &ch, None)?;
            }
            self.cancel_in(tx, actor, case, reason)
        })?;
        self.forget_org();
        Ok(case)
    }

    fn cancel_in(
        &self,
        tx: &mut dyn Tx,
        actor: &Actor,
        mut case: Departure,
        reason: &str,
    ) -> Result<Departure, CoreError> {
        let now = self.now();
        case.status = CaseStatus::Cancelled;
        case.closed_at = Some(now);
        tx.update_departure(&case)?;
        append_events(
            tx,
            vec![
                NewEvent::by(actor, now, DEPARTURE_CANCEL)
                    .object("departure", case.id)
                    .detail("coworker_id", json!(case.coworker_id))
                    .detail("reason", json!(reason.trim())),
            ],
        )?;
        Ok(case)
    }

    /// Inside the transaction of an identity provider's deactivation (SCIM `active: false` or
    /// DELETE): access ends at once (every session and token), and the co-worker's departure case
    /// records it — their open case if they have one, else a new case marked as coming from the
    /// identity provider, last day today — so the book they leave is handed over, never orphaned.
    /// Returns the case; someone who has already left (an earlier deactivation, or by hand) gets
    /// no second case.
    pub(crate) fn deprovision_in(
        &self,
        tx: &mut dyn Tx,
        actor: &Actor,
        coworker: &CoWorker,
        why: &str,
    ) -> Result<Option<Departure>, CoreError> {
        let now = self.now();
        let open = tx.list_departures(Some(&[coworker.id]), Some(CaseStatus::Open))?.into_iter().next();
        let case = match open {
            Some(case) => case,
            None if coworker.status == Status::Departed => return Ok(None),
            None => {
                let today = date_of(now);
                let case = Departure {
                    id: crate::id::new_id(),
                    coworker_id: coworker.id,
                    status: CaseStatus::Open,
                    source: Source::IdentityProvider,
                    reason: Reason::Other,
                    notice_date: today.clone(),
                    last_day: today,
                    access_ends_at: now,
                    destination: None,
                    good_terms: false,
                    opened_by: actor.id(),
                    opened_at: now,
                    steps: BTreeMap::new(),
                    closed_at: None,
                };
                open_case_in(tx, actor, &case)?;
                case
            }
        };
        if case.step("access").is_none() {
            return self.end_access_in(tx, actor, case.id, why).map(Some);
        }
        if coworker.status.may_sign_in() {
            let ch = CoWorkerChanges { status: Some(Status::Departed), ..Default::default() };
            self.change_coworker_in(tx, actor, &coworker.id.to_string(), &ch, None)?;
        }
        Ok(Some(case))
    }

    /// Inside the transaction of an identity provider's re-activation: the co-worker may sign in
    /// again (their history is kept), and an open departure case is called off.
    pub(crate) fn reactivate_in(&self, tx: &mut dyn Tx, actor: &Actor, coworker: &CoWorker) -> Result<(), CoreError> {
        if !coworker.status.may_sign_in() {
            let ch = CoWorkerChanges { status: Some(Status::Active), ..Default::default() };
            self.change_coworker_in(tx, actor, &coworker.id.to_string(), &ch, None)?;
        }
        for case in tx.list_departures(Some(&[coworker.id]), Some(CaseStatus::Open))? {
            self.cancel_in(tx, actor, case, "reactivated by the identity provider")?;
        }
        Ok(())
    }

    /// Ends the co-worker's access now (before the last day is over).
    pub fn end_departure_access(&self, actor: &Actor, id: Uuid) -> Result<Departure, CoreError> {
        let case = self.db.read(|tx| tx.get_departure(id)?.ok_or_else(|| CoreError::not_found("departure", id)))?;
        self.may_run_departure(actor, case.coworker_id)?;
        let case = self.db.write(|tx| self.end_access_in(tx, actor, id, "ended by hand"))?;
        self.forget_org();
        Ok(case)
    }

    /// Ends access for every case whose last day is over (the scheduler calls this; it is safe
    /// to call from several servers at once). Returns the cases it ended.
    pub fn end_due_departures(&self) -> Result<Vec<Departure>, CoreError> {
        let actor = Actor::scheduler();
        let now = self.now();
        let ended = self.db.write(|tx| {
            let due = tx.due_departures(now)?;
            let mut ended = Vec::new();
            for case in due.into_iter().filter(|c| c.step("access").is_none()) {
                ended.push(self.end_access_in(tx, &actor, case.id, "the last day is over")?);
            }
            Ok(ended)
        })?;
        if !ended.is_empty() {
            self.forget_org();
        }
        Ok(ended)
    }

    /// Sets the co-worker departed (every session and token ends), marks the access step, and
    /// closes the case when nothing is left to hand over.
    fn end_access_in(&self, tx: &mut dyn Tx, actor: &Actor, id: Uuid, why: &str) -> Result<Departure, CoreError> {
        let mut case = tx.get_departure(id)?.ok_or_else(|| CoreError::not_found("departure", id))?;
        if case.status != CaseStatus::Open {
            return Err(CoreError::Conflict(format!("this case is already {}", case.status.as_str())));
        }
        let now = self.now();
        let coworker = tx.get_coworker(case.coworker_id)?.ok_or_else(|| CoreError::not_found("co-worker", id))?;
        if coworker.status != Status::Departed {
            let ch = CoWorkerChanges { status: Some(Status::Departed), ..Default::default() };
            self.change_coworker_in(tx, actor, &coworker.id.to_string(), &ch, None)?;
        }
        let mut still_owned = serde_json::Map::new();
        for kind in super::HANDED_OVER.iter().copied() {
            let n = tx.count_owned(kind, case.coworker_id)?;
            if n > 0 {
                still_owned.insert(kind.plural.into(), json!(n));
            }
        }
        case.steps.insert("access".into(), step(actor, now, json!({"why": why, "still_owned": still_owned})));
        if still_owned.is_empty() && !awaits_review(&case) {
            case.status = CaseStatus::Closed;
            case.closed_at = Some(now);
        }
        tx.update_departure(&case)?;
        append_events(
            tx,
            vec![
                NewEvent::by(actor, now, DEPARTURE_END)
                    .object("departure", case.id)
                    .detail("coworker_id", json!(case.coworker_id))
                    .detail("why", json!(why))
                    .detail("still_owned", Json::Object(still_owned)),
            ],
        )?;
        Ok(case)
    }

    /// Inside the transaction that set a co-worker departed by hand: their open case (if any)
    /// records that access ended, with what they still own, and closes when that is nothing.
    pub(crate) fn note_departed(&self, tx: &mut dyn Tx, actor: &Actor, coworker: Uuid) -> Result<(), CoreError> {
        let Some(case) = tx.list_departures(Some(&[coworker]), Some(CaseStatus::Open))?.into_iter().next() else {
            return Ok(());
        };
        if case.step("access").is_none() {
            self.end_access_in(tx, actor, case.id, "set departed by hand")?;
        }
        Ok(())
    }

    /// Inside a handover's transaction: when `from` has an open case, records its plan (if none
    /// was made) and its transfer, and closes it when access has ended and nothing is left.
    pub(crate) fn note_transfer(
        &self,
        tx: &mut dyn Tx,
        actor: &Actor,
        from: Uuid,
        operation: Uuid,
        rule: &HandoverRule,
        preview: &HandoverPreview,
    ) -> Result<(), CoreError> {
        let Some(mut case) = tx.list_departures(Some(&[from]), Some(CaseStatus::Open))?.into_iter().next() else {
            return Ok(());
        };
        let now = self.now();
        let detail = json!({"rule": rule.to_json(), "per_recipient": preview.per_recipient, "records": preview.total});
        if case.step("plan").is_none() {
            case.steps.insert("plan".into(), step(actor, now, detail.clone()));
        }
        let mut transfer = detail;
        transfer["operation"] = json!(operation);
        case.steps.insert("transfer".into(), step(actor, now, transfer));
        self.close_if_done(tx, &mut case, now)?;
        tx.update_departure(&case)?;
        append_events(
            tx,
            vec![
                NewEvent::by(actor, now, DEPARTURE_STEP)
                    .object("departure", case.id)
                    .detail("step", json!("transfer"))
                    .detail("operation", json!(operation)),
            ],
        )?;
        Ok(())
    }

    /// Inside an undo's transaction: the case whose transfer was `operation` has it no more.
    pub(crate) fn forget_transfer(
        &self,
        tx: &mut dyn Tx,
        actor: &Actor,
        from: Uuid,
        operation: Uuid,
    ) -> Result<(), CoreError> {
        for mut case in tx.list_departures(Some(&[from]), None)? {
            let undone = case.step("transfer").is_some_and(|s| s.detail["operation"] == json!(operation));
            if !undone || case.status == CaseStatus::Cancelled {
                continue;
            }
            case.steps.remove("transfer");
            case.status = CaseStatus::Open;
            case.closed_at = None;
            tx.update_departure(&case)?;
            append_events(
                tx,
                vec![
                    NewEvent::by(actor, self.now(), DEPARTURE_STEP)
                        .object("departure", case.id)
                        .detail("step", json!("transfer"))
                        .detail("undone", json!(operation)),
                ],
            )?;
        }
        Ok(())
    }

    fn close_if_done(&self, tx: &mut dyn Tx, case: &mut Departure, now: i64) -> Result<(), CoreError> {
        if case.step("access").is_none() || awaits_review(case) {
            return Ok(());
        }
        for kind in super::HANDED_OVER.iter().copied() {
            if tx.count_owned(kind, case.coworker_id)? > 0 {
                return Ok(());
            }
        }
        case.status = CaseStatus::Closed;
        case.closed_at = Some(now);
        Ok(())
    }

    /// Changes an open case in one transaction with a `departure.step` event.
    fn update_case(
        &self,
        actor: &Actor,
        id: Uuid,
        change: impl FnOnce(&mut Departure, &Actor, i64) -> Result<Json, CoreError>,
    ) -> Result<Departure, CoreError> {
        self.db.write(|tx| {
            let mut case = tx.get_departure(id)?.ok_or_else(|| CoreError::not_found("departure", id))?;
            self.may_run_departure(actor, case.coworker_id)?;
            if case.status == CaseStatus::Cancelled {
                return Err(CoreError::Conflict("this case was called off".into()));
            }
            let now = self.now();
            let detail = change(&mut case, actor, now)?;
            tx.update_departure(&case)?;
            let mut event = NewEvent::by(actor, now, DEPARTURE_STEP).object("departure", case.id);
            if let Json::Object(map) = detail {
                for (k, v) in map {
                    event = event.detail(&k, v);
                }
            }
            append_events(tx, vec![event])?;
            Ok(case)
        })
    }

    /// Introductions for the key accounts the case handed over (the ten most valuable, every
    /// strategic one, and any with a renewal in the next 90 days): a task for the new owner to
    /// introduce themselves to the key contacts, with a drafted email; when the leaver leaves on
    /// good terms and can still sign in, a task for them to make the introduction; and a check-in
    /// task for the new owner's manager.
    pub fn make_introductions(&self, actor: &Actor, id: Uuid) -> Result<Introductions, CoreError> {
        let template = self.settings()?.introduction_template.clone();
        self.db.write(|tx| {
            let mut case = tx.get_departure(id)?.ok_or_else(|| CoreError::not_found("departure", id))?;
            self.may_run_departure(actor, case.coworker_id)?;
            if case.step("introductions").is_some() {
                return Err(CoreError::Conflict("the introductions for this case were already made".into()));
            }
            let operation = case
                .step("transfer")
                .and_then(|s| s.detail["operation"].as_str())
                .and_then(|s| Uuid::parse_str(s).ok())
                .ok_or_else(|| {
                    CoreError::Conflict("hand the records over first; introductions follow the transfer".into())
                })?;
            let filter = EventFilter {
                object_type: Some("bulk_operation".into()),
                object_id: Some(operation.to_string()),
                action: Some(action::HANDOVER.into()),
                limit: 1,
                ..Default::default()
            };
            let done = tx
                .list_events(&filter)?
                .into_iter()
                .next()
                .ok_or_else(|| CoreError::not_found("handover", operation))?;
            let d = &done.event.details;
            let mut accounts: Vec<(Uuid, Uuid)> = Vec::new();
            super::bulk::each_operation_row(tx, d, operation, &mut |_, rows| {
                let handed = rows.iter().filter(|r| r.kind == record::ACCOUNTS.name);
                accounts.extend(handed.filter_map(|r| Some((r.record_id, r.owner_after?))));
                Ok(true)
            })?;
            let leaver = tx.get_coworker(case.coworker_id)?.ok_or_else(|| CoreError::not_found("co-worker", id))?;
            let coworkers: HashMap<Uuid, CoWorker> = tx.list_coworkers()?.into_iter().map(|c| (c.id, c)).collect();
            let today = date_of(self.now());
            let renewal_by = date_of(self.now() + RENEWAL_DAYS * 86_400_000_000);
            let records = tx.get_records(&record::ACCOUNTS, &accounts.iter().map(|a| a.0).collect::<Vec<_>>())?;
            let mut ranked: Vec<&record::Record> = records.iter().filter(|r| r.deleted_at.is_none()).collect();
            ranked.sort_by_key(|r| std::cmp::Reverse(r.get("annual_value").as_int().unwrap_or(0)));
            let mut key: Vec<&record::Record> = Vec::new();
            for (i, account) in ranked.iter().enumerate() {
                let strategic = account.get("tier").as_text() == Some("strategic");
                let renewing = {
                    let query = RecordQuery {
                        filters: vec![("account_id", Value::Text(account.id.to_string()))],
                        sort: "created_at",
                        limit: 50,
                        ..Default::default()
                    };
                    tx.list_records(&record::CONTRACTS, &query)?.iter().any(|c| {
                        c.get("renewal_date")
                            .as_text()
                            .or(c.get("end_date").as_text())
                            .is_some_and(|d| d >= today.as_str() && d <= renewal_by.as_str())
                    })
                };
                if i < TOP_ACCOUNTS || strategic || renewing {
                    key.push(account);
                }
            }
            let now = self.now();
            let due_in = |days: i64| date_of(now + days * 86_400_000_000);
            let mut events = Vec::new();
            let mut tasks = 0;
            for account in &key {
                let Some(owner) = accounts.iter().find(|a| a.0 == account.id).and_then(|a| coworkers.get(&a.1)) else {
                    continue;
                };
                let name = account.label(&record::ACCOUNTS);
                let query = RecordQuery {
                    filters: vec![("account_id", Value::Text(account.id.to_string()))],
                    sort: "created_at",
                    limit: CONTACTS_PER_ACCOUNT,
                    ..Default::default()
                };
                let contacts = tx.list_records(&record::CONTACTS, &query)?;
                let names: Vec<String> = contacts.iter().map(|c| c.label(&record::CONTACTS)).collect();
                let who = if names.is_empty() { "the contacts".to_string() } else { names.join(", ") };
                let first = contacts.first().and_then(|c| c.get("first_name").as_text()).unwrap_or("there");
                let email = template
                    .replace("{contact}", first)
                    .replace("{account}", &name)
                    .replace("{new_owner}", &owner.name)
                    .replace("{leaver}", &leaver.name);
                let mut new_tasks = vec![(
                    owner.id,
                    format!("Introduce yourself to {who} at {name} (taking over from {})", leaver.name),
                    due_in(7),
                    email.clone(),
                )];
                if case.good_terms && leaver.status.may_sign_in() {
                    new_tasks.push((
                        leaver.id,
                        format!("Introduce {} to {who} at {name} before you leave", owner.name),
                        case.last_day.clone().max(today.clone()),
                        email,
                    ));
                }
                if let Some(manager) =
                    owner.manager_id.filter(|m| coworkers.get(m).is_some_and(|c| c.status == Status::Active))
                {
                    new_tasks.push((
                        manager,
                        format!("Check in with {name} after {}'s departure", leaver.name),
                        due_in(30),
                        String::new(),
                    ));
                }
                for (owner_id, title, due, notes) in new_tasks {
                    let input = json!({
                        "title": title.chars().take(200).collect::<String>(),
                        "due_date": due,
                        "account_id": account.id.to_string(),
                        "contact_id": contacts.first().map(|c| c.id.to_string()),
                        "owner_id": owner_id.to_string(),
                        "notes": if notes.is_empty() { Json::Null } else { json!(notes) },
                    });
                    let changes = record::parse_changes(&record::TASKS, &input, true)?;
                    let task = self.insert_checked(tx, actor, &record::TASKS, changes, true)?;
                    events.push(
                        NewEvent::by(actor, now, action::RECORD_CREATE)
                            .object("task", task.id)
                            .rows(1)
                            .detail("departure", json!(case.id)),
                    );
                    tasks += 1;
                }
            }
            case.steps.insert("introductions".into(), step(actor, now, json!({"accounts": key.len(), "tasks": tasks})));
            tx.update_departure(&case)?;
            events.push(
                NewEvent::by(actor, now, DEPARTURE_STEP)
                    .object("departure", case.id)
                    .detail("step", json!("introductions"))
                    .detail("accounts", json!(key.len()))
                    .detail("tasks", json!(tasks)),
            );
            append_events(tx, events)?;
            Ok(Introductions { accounts: key.len(), tasks })
        })
    }
}

/// The co-worker's first acknowledgement of the notice since `since` (the case opening).
fn notice_ack(tx: &mut dyn Tx, coworker: Uuid, since: i64) -> Result<Option<NoticeAck>, CoreError> {
    let filter = EventFilter {
        coworker_id: Some(coworker),
        action: Some(action::CONFIDENTIALITY_ACKNOWLEDGE.into()),
        since: Some(since),
        limit: 20,
        ..Default::default()
    };
    let events = tx.list_events(&filter)?;
    let Some(e) = events.iter().min_by_key(|e| e.seq) else { return Ok(None) };
    let sha256 = e.event.details["sha256"].as_str().unwrap_or_default().to_string();
    let version = tx.notice_versions()?.into_iter().find(|v| v.sha256 == sha256).map(|v| v.version);
    Ok(Some(NoticeAck { version, sha256, at: e.event.at, client_addr: e.event.client_addr.clone() }))
}
