//! Detection over the system event stream: reading volume against the co-worker's own 90-day
//! baseline and their peers', off-hours bulk reading, reading far outside one's own book, exports
//! of new columns or from a new client address, and the look-back that runs when a co-worker is
//! marked departing. The statistics are
//! in `crate::guard` and explained in docs/guard.md.

use std::collections::{BTreeMap, HashSet};

use serde_json::json;
use uuid::Uuid;

use super::Holdfast;
use super::alerts::NewAlert;
use super::metering::OutsideBookDay;
use crate::coworker::{Actor, CoWorker};
use crate::error::CoreError;
use crate::event::{EventFilter, action};
use crate::guard::{
    OFF_HOURS_FLOOR, Severity, VolumeThreshold, is_office_hours, median_and_mad, outside_book_threshold,
    volume_threshold,
};
use crate::record::{Record, RecordKind};
use crate::storage::{Database, Tx};
use crate::time::{MICROS_PER_DAY, date_of};

/// Days the baselines and the departing look-back cover.
pub const LOOK_BACK_DAYS: i64 = 90;

/// Every co-worker's rows read per UTC day, and who they are (for peers by role).
pub(crate) struct ReadingDays {
    per_day: BTreeMap<(Uuid, i64), i64>,
    /// Records opened outside the reader's own book, per co-worker and day (days with none left out).
    outside_book: BTreeMap<(Uuid, i64), i64>,
    people: Vec<CoWorker>,
}

impl ReadingDays {
    /// `who`'s active days, and every active day of every co-worker with their role.
    fn own_and_peers(&self, who: Uuid) -> (Vec<i64>, Vec<i64>) {
        let role = self.people.iter().find(|c| c.id == who).map(|c| c.role);
        let peers: HashSet<Uuid> =
            self.people.iter().filter(|c| Some(c.role) == role && c.id != who).map(|c| c.id).collect();
        let own = self.per_day.iter().filter(|((id, _), r)| *id == who && **r > 0).map(|(_, r)| *r).collect();
        let peer = self.per_day.iter().filter(|((id, _), r)| peers.contains(id) && **r > 0).map(|(_, r)| *r).collect();
        (own, peer)
    }

    /// `who`'s records opened outside their own book, one figure per day that had any.
    fn outside_book_days(&self, who: Uuid) -> Vec<i64> {
        self.outside_book.range((who, i64::MIN)..=(who, i64::MAX)).map(|(_, n)| *n).collect()
    }
}

/// What a look-back found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LookBack {
    /// Alerts newly raised (ones raised before are not raised again).
    pub raised: usize,
    pub days_examined: i64,
}

impl<D: Database> Holdfast<D> {
    /// [`Self::reading_days`] for the days before `day`, which do not change during it: kept for
    /// the day and read once (after a restart every co-worker's first read needs it at once).
    fn reading_days_before(&self, day: i64) -> Result<std::sync::Arc<ReadingDays>, CoreError> {
        let cached = self.meter.days_before.lock().map_err(|_| CoreError::Conflict("the read meter failed".into()))?;
        self.reading_days_in(cached, day)
    }

    /// [`Self::reading_days_before`], or `None` when another request is reading them now.
    fn reading_days_before_unless_busy(&self, day: i64) -> Result<Option<std::sync::Arc<ReadingDays>>, CoreError> {
        match self.meter.days_before.try_lock() {
            Ok(cached) => self.reading_days_in(cached, day).map(Some),
            Err(std::sync::TryLockError::WouldBlock) => Ok(None),
            Err(std::sync::TryLockError::Poisoned(_)) => Err(CoreError::Conflict("the read meter failed".into())),
        }
    }

    fn reading_days_in(
        &self,
        mut cached: std::sync::MutexGuard<'_, Option<(i64, std::sync::Arc<ReadingDays>)>>,
        day: i64,
    ) -> Result<std::sync::Arc<ReadingDays>, CoreError> {
        if let Some((d, days)) = cached.as_ref()
            && *d == day
        {
            return Ok(std::sync::Arc::clone(days));
        }
        let days = std::sync::Arc::new(self.reading_days(day)?);
        *cached = Some((day, std::sync::Arc::clone(&days)));
        Ok(days)
    }

    /// Works out today's reading baselines ahead of the first request (at start, off the
    /// request path).
    pub fn warm_up_read_meter(&self) -> Result<(), CoreError> {
        self.reading_days_before(self.now().div_euclid(MICROS_PER_DAY)).map(drop)
    }

    /// Every co-worker's rows read per day over the `LOOK_BACK_DAYS` before `day`, read once.
    fn reading_days(&self, day: i64) -> Result<ReadingDays, CoreError> {
        let since = (day - LOOK_BACK_DAYS) * MICROS_PER_DAY;
        let until = day * MICROS_PER_DAY;
        let (counts, people) = self.db.read(|tx| Ok((tx.daily_counts(since, until)?, tx.list_coworkers()?)))?;
        let mut per_day: BTreeMap<(Uuid, i64), i64> = BTreeMap::new();
        let mut outside_book: BTreeMap<(Uuid, i64), i64> = BTreeMap::new();
        for c in counts.iter().filter(|c| action::READS.contains(&c.action.as_str())) {
            if let Some(id) = c.coworker_id {
                *per_day.entry((id, c.day)).or_default() += c.rows;
                if c.outside_book > 0 {
                    *outside_book.entry((id, c.day)).or_default() += c.outside_book;
                }
            }
        }
        Ok(ReadingDays { per_day, outside_book, people })
    }

    /// The rows in a day above which `who`'s reading is unusual, from the days before `day`;
    /// `None` while another request is reading the baselines it comes from (nobody waits for
    /// them on a read).
    pub(crate) fn volume_threshold_if_ready(&self, who: Uuid, day: i64) -> Result<Option<VolumeThreshold>, CoreError> {
        let Some(days) = self.reading_days_before_unless_busy(day)? else { return Ok(None) };
        let (own, peers) = days.own_and_peers(who);
        Ok(Some(volume_threshold(&own, &peers)))
    }

    /// Whether `record` lies outside the actor's own book: it has an owner who is neither the
    /// actor nor one of the people they manage, and its account's team (owner and collaborators)
    /// has neither either. Admins and the operator have no book.
    pub(crate) fn outside_book(
        &self,
        tx: &mut dyn Tx,
        actor: &Actor,
        kind: &RecordKind,
        record: &Record,
    ) -> Result<bool, CoreError> {
        let Some(me) = actor.id() else { return Ok(false) };
        if actor.is_admin() {
            return Ok(false);
        }
        let mine = |who: &Uuid| *who == me || actor.manages.contains(who);
        match record.owner(kind) {
            None => Ok(false),
            Some(owner) if mine(&owner) => Ok(false),
            Some(_) => Ok(!self.account_team(tx, kind, record)?.iter().any(mine)),
        }
    }

    /// Counts a record the actor just opened outside their own book (its event already
    /// written); past what is usual for them (worked out once a day from the log), raises a
    /// `reading_outside_book` alert, once a day.
    pub(crate) fn count_outside_book(&self, actor: &Actor) -> Result<(), CoreError> {
        let Some(me) = actor.id() else { return Ok(()) };
        let now = self.now();
        let day = now.div_euclid(MICROS_PER_DAY);
        let known = self.meter.outside_book.lock().ok().and_then(|mut m| {
            m.get_mut(&me).filter(|d| d.day == day).map(|d| {
                d.records += 1;
                *d
            })
        });
        // Their usual day comes from everyone's baselines, read once a day; while another request
        // reads those (after a restart) the count goes on and a later read looks again.
        let with_baseline = |mut d: OutsideBookDay| -> Result<OutsideBookDay, CoreError> {
            if let Some(days) = self.reading_days_before_unless_busy(day)? {
                let before = days.outside_book_days(me);
                d.threshold = Some(outside_book_threshold(&before));
                d.usual = median_and_mad(&before).0;
                d.pending = false;
            }
            Ok(d)
        };
        let today = match known {
            Some(d) if !d.pending => d,
            Some(d) => {
                let d = with_baseline(d)?;
                if d.pending {
                    return Ok(());
                }
                // Judge the count as it is now: reads counted while this one worked the threshold
                // out (and left it to a later read) are in it.
                match self.meter.outside_book.lock() {
                    Ok(mut m) => match m.get_mut(&me).filter(|k| k.day == day) {
                        Some(kept) if kept.pending => {
                            (kept.threshold, kept.usual, kept.pending) = (d.threshold, d.usual, false);
                            *kept
                        }
                        // Another read got there first and judges (or judged) the count itself.
                        Some(_) => return Ok(()),
                        None => d,
                    },
                    Err(_) => d,
                }
            }
            None => {
                // First today in this server: today's count from the log (this read included).
                let counted = self.db.read(|tx| Ok(tx.outside_book_reads_since(me, day * MICROS_PER_DAY)?))?;
                let records = counted.iter().find(|(d, _)| *d == day).map_or(1, |(_, n)| *n);
                let d = with_baseline(OutsideBookDay { day, records, threshold: None, usual: 0.0, pending: true })?;
                if let Ok(mut m) = self.meter.outside_book.lock() {
                    m.insert(me, d);
                }
                d
            }
        };
        if today.threshold.is_none_or(|t| today.records < t) {
            return Ok(());
        }
        if let Ok(mut m) = self.meter.outside_book.lock()
            && let Some(d) = m.get_mut(&me)
        {
            d.threshold = None;
        }
        self.raise_outside_book_alert(me, day, today.records, today.usual, "as it happened")?;
        Ok(())
    }

    fn raise_outside_book_alert(
        &self,
        who: Uuid,
        day: i64,
        records: i64,
        usual: f64,
        found_by: &str,
    ) -> Result<bool, CoreError> {
        let day_start = day * MICROS_PER_DAY;
        let evidence = self.evidence(who, day_start, day_start + MICROS_PER_DAY, true)?;
        let inserted = self.raise_alert(NewAlert {
            coworker_id: who,
            kind: "reading_outside_book",
            severity: Severity::Medium,
            summary: format!(
                "{} opened {records} records of other co-workers' customers on {} (their usual day: {usual:.0})",
                self.email_of(who)?,
                date_of(day_start)
            ),
            details: json!({"records": records, "day": date_of(day_start), "usual": usual, "found_by": found_by}),
            event_ids: evidence,
            dedupe_key: format!("reading_outside_book:{who}:{day}"),
            recipient_ids: Vec::new(),
        })?;
        Ok(inserted.is_some())
    }

    /// Judges each of `who`'s days from `from_day` to today against the 90 days before today:
    /// volume (their own baseline and their peers'), off-hours bulk reading, and reading outside
    /// their own book. Returns the alerts newly raised (a day is raised once: alerts have keys).
    fn judge_days(
        &self,
        who: &CoWorker,
        days: &ReadingDays,
        from_day: i64,
        found_by: &str,
    ) -> Result<usize, CoreError> {
        let today = self.now().div_euclid(MICROS_PER_DAY);
        let since = (today - LOOK_BACK_DAYS) * MICROS_PER_DAY;
        let (hours, outside) =
            self.db.read(|tx| Ok((tx.rows_read_since(who.id, since)?, tx.outside_book_reads_since(who.id, since)?)))?;
        let mut per_day: BTreeMap<i64, (i64, i64)> = BTreeMap::new();
        for (at, rows) in &hours {
            let e = per_day.entry(at.div_euclid(MICROS_PER_DAY)).or_default();
            e.0 += rows;
            if !is_office_hours(*at) {
                e.1 += rows;
            }
        }
        let (own, peers) = days.own_and_peers(who.id);
        let threshold = volume_threshold(&own, &peers);
        // Every active day counts, quiet evenings (0) included: the usual off-hours day.
        let off_hours: Vec<i64> = per_day.values().map(|d| d.1).collect();
        let (off_median, _) = median_and_mad(&off_hours);
        let mut raised = 0;
        for (&day, &(rows, off)) in per_day.range(from_day..) {
            let day_start = day * MICROS_PER_DAY;
            if rows >= threshold.rows {
                raised += usize::from(self.raise_volume_alert(who.id, day, rows, &threshold, day_start - 1)?);
            }
            if off >= OFF_HOURS_FLOOR && (off as f64) >= 5.0 * off_median.max(1.0) {
                let evidence: Vec<Uuid> = self.evidence(who.id, day_start, day_start + MICROS_PER_DAY, true)?;
                let inserted = self.raise_alert(NewAlert {
                    coworker_id: who.id,
                    kind: "off_hours_reading",
                    severity: Severity::Medium,
                    summary: format!(
                        "{} read {off} customer rows outside office hours on {} (their usual off-hours day: {:.0})",
                        who.email,
                        date_of(day_start),
                        off_median
                    ),
                    details: json!({"rows": off, "day": date_of(day_start), "usual": off_median, "found_by": found_by}),
                    event_ids: evidence,
                    dedupe_key: format!("off_hours_reading:{}:{day}", who.id),
                    recipient_ids: Vec::new(),
                })?;
                raised += usize::from(inserted.is_some());
            }
        }
        // Reading far outside their own book, day by day, against their own habit.
        let habit: Vec<i64> = outside.iter().map(|(_, n)| *n).collect();
        let (bar, usual) = (outside_book_threshold(&habit), median_and_mad(&habit).0);
        for &(day, records) in outside.iter().filter(|(d, n)| *d >= from_day && *n >= bar) {
            raised += usize::from(self.raise_outside_book_alert(who.id, day, records, usual, found_by)?);
        }
        Ok(raised)
    }

    /// The daily sweep: every co-worker's yesterday and today so far, judged as the departing
    /// look-back judges each day, so that reading which crossed no threshold as it happened —
    /// off-hours bulk reading above all, which is judged over a whole day — is found within a day,
    /// for everyone and not only for who is leaving. Admins and departed co-workers are left out.
    /// Returns the alerts newly raised; sweeping twice raises nothing new.
    pub fn sweep_detectors(&self) -> Result<usize, CoreError> {
        Ok(self.on_one_server("daily sweep", || self.sweep_detectors_round())?.unwrap_or_default())
    }

    fn sweep_detectors_round(&self) -> Result<usize, CoreError> {
        let today = self.now().div_euclid(MICROS_PER_DAY);
        let days = self.reading_days(today + 1)?;
        let mut raised = 0;
        let people: Vec<CoWorker> = days
            .people
            .iter()
            .filter(|c| c.role != crate::coworker::Role::Admin && c.status != crate::coworker::Status::Departed)
            .cloned()
            .collect();
        for who in &people {
            raised += self.judge_days(who, &days, today - 1, "daily sweep")?;
        }
        Ok(raised)
    }

    fn email_of(&self, who: Uuid) -> Result<String, CoreError> {
        Ok(self.db.read(|tx| Ok(tx.get_coworker(who)?))?.map(|c| c.email).unwrap_or_else(|| who.to_string()))
    }

    pub(crate) fn raise_volume_alert(
        &self,
        who: Uuid,
        day: i64,
        rows: i64,
        t: &VolumeThreshold,
        since: i64,
    ) -> Result<bool, CoreError> {
        let email = self.email_of(who)?;
        let evidence = self.evidence(who, since, since + MICROS_PER_DAY + 1, true)?;
        let usual = if t.own_days >= crate::guard::MIN_BASELINE_DAYS {
            format!("their usual day is {:.0} rows", t.own_median)
        } else {
            format!("they have little history; their peers' usual day is {:.0} rows", t.peer_median)
        };
        let raised = self.raise_alert(NewAlert {
            coworker_id: who,
            kind: "read_volume",
            severity: if rows >= 3 * t.rows { Severity::High } else { Severity::Medium },
            summary: format!(
                "{email} read {rows} customer rows in 24 hours (up to {}); {usual}, and the alert is at {}",
                date_of(since + MICROS_PER_DAY),
                t.rows
            ),
            details: json!({"rows": rows, "threshold": t, "day": date_of(day * MICROS_PER_DAY)}),
            event_ids: evidence,
            dedupe_key: format!("read_volume:{who}:{day}"),
            recipient_ids: Vec::new(),
        })?;
        Ok(raised.is_some())
    }

    /// A co-worker whose policy only alerts read past their budget.
    pub(crate) fn alert_budget_crossed(
        &self,
        who: Uuid,
        window: &str,
        rows: i64,
        budget: i64,
    ) -> Result<(), CoreError> {
        let now = self.now();
        let day = now.div_euclid(MICROS_PER_DAY);
        let email = self.email_of(who)?;
        self.raise_alert(NewAlert {
            coworker_id: who,
            kind: "read_budget",
            severity: Severity::Medium,
            summary: format!("{email} read {rows} customer rows in the last {window}, past their budget of {budget}"),
            details: json!({"rows": rows, "budget": budget, "window": window}),
            event_ids: self.evidence(who, now - MICROS_PER_DAY, now + 1, true)?,
            dedupe_key: format!("read_budget:{who}:{day}:{window}"),
            recipient_ids: Vec::new(),
        })?;
        Ok(())
    }

    /// After an export's file went out: a departing co-worker exporting anything, columns they
    /// never exported before, and a client address never seen for them.
    pub(crate) fn check_export_signals(
        &self,
        actor: &Actor,
        me: &CoWorker,
        export: Uuid,
        columns: &[String],
        rows: i64,
        event: Uuid,
    ) -> Result<(), CoreError> {
        let now = self.now();
        let filter = EventFilter {
            coworker_id: Some(me.id),
            since: Some(now - LOOK_BACK_DAYS * MICROS_PER_DAY),
            limit: 5_000,
            ..Default::default()
        };
        let history = self.db.read(|tx| Ok(tx.list_events(&filter)?))?;
        let earlier: Vec<_> = history.iter().filter(|e| e.id != event).collect();
        if me.status == crate::coworker::Status::Departing {
            self.raise_alert(NewAlert {
                coworker_id: me.id,
                kind: "departing_export",
                severity: Severity::High,
                summary: format!("{} is departing and exported {rows} rows", me.email),
                details: json!({"export_id": export, "rows": rows, "columns": columns}),
                event_ids: vec![event],
                dedupe_key: format!("departing_export:{export}"),
                recipient_ids: Vec::new(),
            })?;
        }
        let exported_before: HashSet<&str> = earlier
            .iter()
            .filter(|e| e.event.action == action::EXPORT_CREATE)
            .filter_map(|e| e.event.details["columns"].as_array())
            .flatten()
            .filter_map(|c| c.as_str())
            .collect();
        let new: Vec<&String> = columns.iter().filter(|c| !exported_before.contains(c.as_str())).collect();
        if !exported_before.is_empty() && !new.is_empty() {
            self.raise_alert(NewAlert {
                coworker_id: me.id,
                kind: "export_new_columns",
                severity: Severity::Low,
                summary: format!(
                    "{} exported columns they had not exported in {LOOK_BACK_DAYS} days: {}",
                    me.email,
                    new.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", ")
                ),
                details: json!({"export_id": export, "new_columns": new}),
                event_ids: vec![event],
                dedupe_key: format!("export_new_columns:{export}"),
                recipient_ids: Vec::new(),
            })?;
        }
        if let Some(addr) = &actor.client_addr {
            let seen: HashSet<&str> = earlier.iter().filter_map(|e| e.event.client_addr.as_deref()).collect();
            if !seen.is_empty() && !seen.contains(addr.as_str()) {
                self.raise_alert(NewAlert {
                    coworker_id: me.id,
                    kind: "export_new_client",
                    severity: Severity::Medium,
                    summary: format!(
                        "{} exported {rows} rows from {addr}, an address not seen for them in {LOOK_BACK_DAYS} days",
                        me.email
                    ),
                    details: json!({"export_id": export, "client_addr": addr, "known_addresses": seen.len()}),
                    event_ids: vec![event],
                    dedupe_key: format!("export_new_client:{export}"),
                    recipient_ids: Vec::new(),
                })?;
            }
        }
        Ok(())
    }

    /// The departing look-back: the last 90 days of `who`'s reading, day by day, against their
    /// own baseline and their peers' (volume), against office hours (off-hours bulk reading) and
    /// against their habit of opening colleagues' customers, plus every export they made. Raises
    /// what it finds (once: alerts have keys).
    pub(crate) fn look_back(&self, who: &CoWorker) -> Result<LookBack, CoreError> {
        let today = self.now().div_euclid(MICROS_PER_DAY);
        let since = (today - LOOK_BACK_DAYS) * MICROS_PER_DAY;
        let days = self.reading_days(today + 1)?;
        let mut raised = self.judge_days(who, &days, today - LOOK_BACK_DAYS, "departing look-back")?;
        let filter = EventFilter {
            coworker_id: Some(who.id),
            action: Some(action::EXPORT_CREATE.into()),
            since: Some(since),
            limit: 1_000,
            ..Default::default()
        };
        let exports = self.db.read(|tx| Ok(tx.list_events(&filter)?))?;
        let exported: i64 = exports.iter().map(|e| e.event.row_count).sum();
        if exported >= 100 {
            let inserted = self.raise_alert(NewAlert {
                coworker_id: who.id,
                kind: "departing_export",
                severity: if exported >= 1_000 { Severity::High } else { Severity::Medium },
                summary: format!(
                    "{} is departing and exported {exported} rows in {} exports over the last {LOOK_BACK_DAYS} days",
                    who.email,
                    exports.len()
                ),
                details: json!({"rows": exported, "exports": exports.len(), "found_by": "departing look-back"}),
                event_ids: exports.iter().take(200).map(|e| e.id).collect(),
                dedupe_key: format!("departing_export_lookback:{}:{today}", who.id),
                recipient_ids: Vec::new(),
            })?;
            raised += usize::from(inserted.is_some());
        }
        Ok(LookBack { raised, days_examined: LOOK_BACK_DAYS })
    }
}
