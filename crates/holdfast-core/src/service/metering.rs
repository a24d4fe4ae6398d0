//! "Open to read, metered in bulk": any co-worker may open any customer record, but reading
//! thousands is an export and is treated as one.
//!
//! Every record a co-worker opens, and every row a list, search or export hands them, counts
//! towards their reading over the last 24 hours. Past the admin's limit, further reads are
//! recorded as `export.create` (with `"bulk_read": true`), so they show up as exports in the
//! co-worker's activity report, and the export policy decides whether they may go on at all.
//! Admins and the operator are not metered.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use serde_json::json;
use uuid::Uuid;

use super::Holdfast;
use crate::coworker::{Actor, Role};
use crate::error::CoreError;
use crate::event::{NewEvent, action};
use crate::guard::OverLimit;
use crate::storage::{Database, Tx};
use crate::time::MICROS_PER_DAY;

pub const BULK_READ_SETTING: &str = "bulk_read_limit";
pub const EXPORT_POLICY_SETTING: &str = "export_policy";
/// Rows a co-worker may read in 24 hours before further reading counts as an export.
pub const DEFAULT_BULK_READ_LIMIT: i64 = 5_000;

/// Who may export: explicit exports, and reading past the bulk-read limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExportPolicy {
    #[default]
    Everyone,
    Managers,
    Admins,
}

impl ExportPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            ExportPolicy::Everyone => "everyone",
            ExportPolicy::Managers => "managers",
            ExportPolicy::Admins => "admins",
        }
    }
    pub fn parse(s: &str) -> Result<ExportPolicy, String> {
        match s.trim() {
            "everyone" => Ok(ExportPolicy::Everyone),
            "managers" => Ok(ExportPolicy::Managers),
            "admins" => Ok(ExportPolicy::Admins),
            other => Err(format!("'{other}' is not an export policy; use everyone, managers or admins")),
        }
    }
    pub fn allows(self, role: Role) -> bool {
        match self {
            ExportPolicy::Everyone => true,
            ExportPolicy::Managers => role != Role::Rep,
            ExportPolicy::Admins => role == Role::Admin,
        }
    }
    fn who(self) -> &'static str {
        match self {
            ExportPolicy::Everyone => "everyone",
            ExportPolicy::Managers => "managers and admins",
            ExportPolicy::Admins => "admins",
        }
    }
}

/// Rows read per co-worker over the last 24 hours and the last 7 days, kept in memory after a
/// first count from the log.
#[derive(Default)]
pub(crate) struct ReadMeter {
    reads: Mutex<HashMap<Uuid, Reading>>,
    /// Co-workers with a metered read in progress: their next read waits for it, so that reads
    /// arriving together cannot all pass a limit before any of them is counted.
    reading: Mutex<std::collections::HashSet<Uuid>>,
    turn_over: std::sync::Condvar,
    /// Per co-worker: the UTC day a volume threshold was worked out for, and the threshold
    /// (`None` once today's alert is raised: nothing more to look for until tomorrow).
    thresholds: Mutex<HashMap<Uuid, (i64, Option<crate::guard::VolumeThreshold>)>>,
    /// Per co-worker: records opened outside their own book today.
    pub(crate) outside_book: Mutex<HashMap<Uuid, OutsideBookDay>>,
    /// (co-worker, UTC day, window) whose read-budget alert this process has raised.
    budget_alerts: Mutex<std::collections::HashSet<(Uuid, i64, &'static str)>>,
    /// Everyone's rows read per day over the 90 days before a UTC day (the day, the days): what
    /// every co-worker's volume threshold for that day is worked out from, read from the log
    /// once a day (by `holdfast serve` at start, or the first read that needs it; reads arriving
    /// meanwhile do not wait), not once per co-worker.
    pub(crate) days_before: Mutex<Option<(i64, std::sync::Arc<super::detectors::ReadingDays>)>>,
}

/// Records one co-worker opened outside their own book on one UTC day, and the count past which
/// that is unusual for them (`None` once today's alert is raised).
#[derive(Debug, Clone, Copy)]
pub(crate) struct OutsideBookDay {
    pub(crate) day: i64,
    pub(crate) records: i64,
    /// Past this many records today an alert is raised; `None` once raised (or while `pending`).
    pub(crate) threshold: Option<i64>,
    /// Their usual day (the median of the days before), for the alert's words.
    pub(crate) usual: f64,
    /// Counted before everyone's baselines were read (another request was reading them): the
    /// threshold is worked out by a later read.
    pub(crate) pending: bool,
}

/// One co-worker's reading: the last 24 hours and the last 7 days.
#[derive(Default)]
struct Reading {
    day: Window,
    week: Window,
}

/// A co-worker's turn to read: from the limit check until the rows are counted. Within a server
/// it is taken in memory; when other servers may share the database, reading many rows also takes
/// the turn in the database (a lease), so requests sent to several servers take turns too.
pub(crate) struct ReadTurn<'a, D: Database> {
    services: &'a Holdfast<D>,
    who: Option<Uuid>,
    /// (co-worker, holder) of the turn taken in the database.
    lease: Option<(Uuid, Uuid)>,
    /// Counted among the reads under way (see the group commit's window).
    under_way: bool,
}

/// How long a server holds a co-worker's turn in the database at most: one that died holding it
/// loses it then. Longer than the longest export takes to write.
const TURN_LEASE: i64 = 10 * 60 * 1_000_000;
/// How long a request waits for the co-worker's turn before it gives up.
const TURN_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

impl<D: Database> Drop for ReadTurn<'_, D> {
    fn drop(&mut self) {
        if self.under_way {
            self.services.reads.read_ends();
        }
        if let Some((coworker, holder)) = self.lease.take()
            && let Err(e) = self.services.db.write(|tx| Ok(tx.end_read_turn(coworker, holder)?))
        {
            tracing::warn!("giving back {coworker}'s read turn failed (it expires by itself): {e}");
        }
        let Some(who) = self.who else { return };
        if let Ok(mut reading) = self.services.meter.reading.lock() {
            reading.remove(&who);
        }
        self.services.meter.turn_over.notify_all();
    }
}

/// A reading budget crossed under a policy that only alerts: the alert to raise after the read.
pub(crate) struct BudgetCrossed {
    who: Uuid,
    window: &'static str,
    rows: i64,
    budget: i64,
}

/// One co-worker's reads in a window: (when, rows), oldest first, and their sum.
#[derive(Default)]
struct Window {
    reads: VecDeque<(i64, i64)>,
    total: i64,
}

impl Window {
    fn drop_before(&mut self, since: i64) {
        while let Some(&(at, rows)) = self.reads.front() {
            if at >= since {
                break;
            }
            self.total -= rows;
            self.reads.pop_front();
        }
    }
    fn add(&mut self, at: i64, rows: i64) {
        self.reads.push_back((at, rows));
        self.total += rows;
    }
}

/// How a read is to be recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadKind {
    /// An ordinary read.
    Collaboration,
    /// Past the bulk-read limit: recorded as an export.
    Bulk,
}

/// What is being read: one record (never refused by a budget: whoever takes the customer's call
/// can always pull up the record), or many rows at once (a list, a search, an export).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reach {
    One,
    Many,
}

/// Rows a co-worker read: in the last 24 hours and the last 7 days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RowsRead {
    pub day: i64,
    pub week: i64,
}

impl<D: Database> Holdfast<D> {
    /// Rows `who` read in the last 24 hours.
    pub fn rows_read_today(&self, who: Uuid) -> Result<i64, CoreError> {
        Ok(self.rows_read(who)?.day)
    }

    /// Rows `who` read in the last 24 hours and the last 7 days.
    pub fn rows_read(&self, who: Uuid) -> Result<RowsRead, CoreError> {
        match self.rows_read_known(who) {
            Some(n) => Ok(n),
            None => self.db.read(|tx| self.rows_read_in(tx, who)),
        }
    }

    /// As [`Self::rows_read`], inside the caller's transaction (a transaction never waits for a
    /// second connection: with every connection taken that would wait for ever).
    fn rows_read_within(&self, tx: &mut dyn Tx, who: Uuid) -> Result<RowsRead, CoreError> {
        match self.rows_read_known(who) {
            Some(n) => Ok(n),
            None => self.rows_read_in(tx, who),
        }
    }

    /// What this server counted for `who`, when it has counted (old reads dropped).
    fn rows_read_known(&self, who: Uuid) -> Option<RowsRead> {
        let now = self.now();
        let (day_start, week_start) = (now - MICROS_PER_DAY, now - 7 * MICROS_PER_DAY);
        self.meter.reads.lock().ok().and_then(|mut m| {
            m.get_mut(&who).map(|r| {
                r.day.drop_before(day_start);
                r.week.drop_before(week_start);
                RowsRead { day: r.day.total, week: r.week.total }
            })
        })
    }

    /// Rows `who` read, counted from the log in `tx` (hour by hour, so old hours fall out in time)
    /// and kept in memory from then on.
    fn rows_read_in(&self, tx: &mut dyn Tx, who: Uuid) -> Result<RowsRead, CoreError> {
        let now = self.now();
        let (day_start, week_start) = (now - MICROS_PER_DAY, now - 7 * MICROS_PER_DAY);
        let hours = tx.rows_read_since(who, week_start)?;
        let mut reading = Reading::default();
        for (at, rows) in hours {
            reading.week.add(at, rows);
            if at >= day_start {
                reading.day.add(at, rows);
            }
        }
        let n = RowsRead { day: reading.day.total, week: reading.week.total };
        if let Ok(mut m) = self.meter.reads.lock() {
            m.insert(who, reading);
        }
        Ok(n)
    }

    /// Rows `who` read, for a decision about reading many rows in their turn: when other servers
    /// may share the database, counted afresh from the log (their reads are there, not in this
    /// server's memory); otherwise as this server counted them.
    pub(crate) fn rows_read_for_budget(&self, tx: &mut dyn Tx, who: Uuid) -> Result<RowsRead, CoreError> {
        if self.db.shared_by_servers() { self.rows_read_in(tx, who) } else { self.rows_read_within(tx, who) }
    }

    /// Before a read, inside its transaction (the settings are checked there, without a
    /// transaction of their own): whether it is ordinary or, past the bulk-read limit, an
    /// export. Reading many rows is refused past the co-worker's daily or weekly budget (unless
    /// their policy only alerts), when the export policy does not let them export, and for a
    /// departing co-worker who has not acknowledged the confidentiality notice. Opening one
    /// record is never refused here. A budget crossed under an alert-only policy comes back to
    /// be raised with [`Self::raise_budget_alert`] once the transaction is over.
    pub(crate) fn classify_read(
        &self,
        tx: &mut dyn Tx,
        actor: &Actor,
        reach: Reach,
    ) -> Result<(ReadKind, Option<BudgetCrossed>), CoreError> {
        let Some(me) = actor.coworker.as_ref() else { return Ok((ReadKind::Collaboration, None)) };
        if actor.is_admin() {
            return Ok((ReadKind::Collaboration, None));
        }
        let settings = self.settings_in(tx)?;
        let mut crossed = None;
        let read = if reach == Reach::Many {
            self.rows_read_for_budget(tx, me.id)?
        } else {
            self.rows_read_within(tx, me.id)?
        };
        if reach == Reach::Many {
            self.check_notice_acknowledged_within(tx, actor)?;
            let limits = settings.policies.limits_for(me);
            let over = if read.day >= limits.daily_rows {
                Some(("24 hours", read.day, limits.daily_rows))
            } else if read.week >= limits.weekly_rows {
                Some(("7 days", read.week, limits.weekly_rows))
            } else {
                None
            };
            if let Some((window, rows, budget)) = over {
                if limits.over_limit != OverLimit::AllowAndAlert {
                    return Err(CoreError::forbidden(format!(
                        "you have read {rows} customer rows in the last {window}; your reading budget is {budget}. \
                         Opening a single record still works. To take more rows at once, ask for an export \
                         (Exports in the web app, or POST /api/v1/exports): your manager can approve it"
                    )));
                }
                // Raised once a day per co-worker and window; later reads do not write again.
                let day = self.now().div_euclid(MICROS_PER_DAY);
                let first = self.meter.budget_alerts.lock().map(|mut a| a.insert((me.id, day, window))).unwrap_or(true);
                if first {
                    crossed = Some(BudgetCrossed { who: me.id, window, rows, budget });
                }
            }
        }
        if read.day < settings.bulk_read_limit {
            return Ok((ReadKind::Collaboration, crossed));
        }
        if reach == Reach::Many && !settings.export_policy.allows(actor.role()) {
            return Err(CoreError::forbidden(format!(
                "you have read {} customer records in the last 24 hours; reading more at once counts as an \
                 export, which only {} may do here. Opening a single record still works; ask your manager or an admin",
                read.day,
                settings.export_policy.who()
            )));
        }
        Ok((ReadKind::Bulk, crossed))
    }

    /// Raises the alert for a budget [`Self::classify_read`] found crossed (after its transaction).
    pub(crate) fn raise_budget_alert(&self, crossed: Option<BudgetCrossed>) -> Result<(), CoreError> {
        match crossed {
            Some(c) => self.alert_budget_crossed(c.who, c.window, c.rows, c.budget),
            None => Ok(()),
        }
    }

    /// Refuses bulk reading and exports to a departing co-worker who has not yet acknowledged
    /// the confidentiality notice, on every channel.
    pub(crate) fn check_notice_acknowledged(&self, actor: &Actor) -> Result<(), CoreError> {
        if !Self::departing(actor) {
            return Ok(());
        }
        self.db.read(|tx| self.check_notice_acknowledged_within(tx, actor))
    }

    fn departing(actor: &Actor) -> bool {
        actor.coworker.as_ref().is_some_and(|c| c.status == crate::coworker::Status::Departing)
    }

    /// As [`Self::check_notice_acknowledged`], inside the caller's transaction.
    fn check_notice_acknowledged_within(&self, tx: &mut dyn Tx, actor: &Actor) -> Result<(), CoreError> {
        if Self::departing(actor) && self.pending_confidentiality_in(tx, actor)?.is_some() {
            return Err(CoreError::forbidden(
                "before listing, searching or exporting customer records, acknowledge the confidentiality notice: \
                 sign in to the web app, or read GET /api/v1/me/confidentiality and POST its sha256 back to it. \
                 Opening a single record still works",
            ));
        }
        Ok(())
    }

    /// Waits for the actor's turn to read (metered co-workers read one request at a time; admins
    /// and the operator are not metered and never wait). Reading many rows on a database other
    /// servers may share also waits for the turn in the database.
    pub(crate) fn read_turn(&self, actor: &Actor, reach: Reach) -> Result<ReadTurn<'_, D>, CoreError> {
        let who = actor.id().filter(|_| !actor.is_admin());
        let mut turn = ReadTurn { services: self, who: None, lease: None, under_way: false };
        if let (Some(me), Ok(mut reading)) = (who, self.meter.reading.lock()) {
            while reading.contains(&me) {
                reading = match self.meter.turn_over.wait(reading) {
                    Ok(r) => r,
                    Err(_) => return Ok(turn),
                };
            }
            reading.insert(me);
            turn.who = Some(me);
        }
        if let (Some(me), Reach::Many, true) = (who, reach, self.db.shared_by_servers()) {
            let holder = crate::id::new_id();
            let started = std::time::Instant::now();
            loop {
                let now = self.now();
                if self.db.write(|tx| Ok(tx.take_read_turn(me, holder, now, now + TURN_LEASE)?))? {
                    turn.lease = Some((me, holder));
                    break;
                }
                if started.elapsed() > TURN_WAIT {
                    return Err(CoreError::Conflict(
                        "another of your requests (perhaps on another server) is still reading; try again in a moment"
                            .into(),
                    ));
                }
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
        }
        self.reads.read_begins();
        turn.under_way = true;
        Ok(turn)
    }

    /// Counts rows just read by the actor, and raises a volume alert when their reading today
    /// crosses what is usual for them.
    pub(crate) fn meter_read(&self, actor: &Actor, rows: usize) {
        let (Some(me), false) = (actor.id(), actor.is_admin()) else { return };
        let now = self.now();
        let rows = i64::try_from(rows).unwrap_or(i64::MAX);
        let today = if let Ok(mut m) = self.meter.reads.lock()
            && let Some(r) = m.get_mut(&me)
        {
            r.day.drop_before(now - MICROS_PER_DAY);
            r.week.drop_before(now - 7 * MICROS_PER_DAY);
            r.day.add(now, rows);
            r.week.add(now, rows);
            Some(r.day.total)
        } else {
            None
        };
        if let Some(today) = today
            && rows > 0
            && let Err(e) = self.check_read_volume(me, today)
        {
            tracing::warn!("the read-volume check for {me} failed: {e}");
        }
    }

    /// Whether the actor may export at all.
    pub(crate) fn check_export_allowed(&self, actor: &Actor) -> Result<(), CoreError> {
        let settings = self.settings()?;
        if actor.id().is_none() || settings.export_policy.allows(actor.role()) {
            Ok(())
        } else {
            Err(CoreError::forbidden(format!(
                "exports are for {} here; ask your manager or an admin",
                settings.export_policy.who()
            )))
        }
    }

    /// The co-worker's volume threshold for today (worked out once a day from their 90-day
    /// baseline and their peers'), raising a `read_volume` alert when `today` crosses it. While
    /// another request is reading today's baselines from the log (after a restart, at midnight)
    /// the check waits for a later read instead of holding this one up: `today` is a running
    /// total, so the next read checks everything read so far (and the daily sweep looks again).
    fn check_read_volume(&self, who: Uuid, today: i64) -> Result<(), CoreError> {
        let now = self.now();
        let day = now.div_euclid(MICROS_PER_DAY);
        let cached =
            self.meter.thresholds.lock().ok().and_then(|t| t.get(&who).filter(|(d, _)| *d == day).map(|x| x.1));
        let threshold = match cached {
            Some(t) => t,
            None => {
                let Some(t) = self.volume_threshold_if_ready(who, day)? else { return Ok(()) };
                let t = Some(t);
                if let Ok(mut m) = self.meter.thresholds.lock() {
                    m.insert(who, (day, t));
                }
                t
            }
        };
        let Some(threshold) = threshold.filter(|t| today >= t.rows) else { return Ok(()) };
        self.raise_volume_alert(who, day, today, &threshold, now - MICROS_PER_DAY)?;
        // Raised (or already raised) for today: no need to look again until tomorrow.
        if let Ok(mut m) = self.meter.thresholds.lock() {
            m.insert(who, (day, None));
        }
        Ok(())
    }
}

/// The event for a read: `normal` as given, or for a bulk read the same read recorded as an export.
pub(crate) fn as_read(kind: ReadKind, normal: NewEvent) -> NewEvent {
    match kind {
        ReadKind::Collaboration => normal,
        ReadKind::Bulk => {
            let was = normal.action.clone();
            let mut e = normal.detail("bulk_read", json!(true)).detail("read", json!(was));
            e.action = action::EXPORT_CREATE.into();
            e
        }
    }
}
