//! Audit services: checkpoints, verification, activity reports, event export for evidence and
//! SIEM shipping. Reading the log is itself recorded.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

use super::{Holdfast, append_events};
use crate::access;
use crate::audit::{AuditKey, ChainVerifier, Checkpoint, Finding, StoredEvent, Verification};
use crate::coworker::{Actor, CoWorker};
use crate::error::CoreError;
use crate::event::{NewEvent, action};
use crate::operation::Step;
use crate::storage::Database;
use crate::time::{MICROS_PER_DAY, format_timestamp};

/// Events fetched per read transaction when streaming the log.
const SCAN_BATCH: u32 = 20_000;
/// Days of history a co-worker's baseline is computed over.
pub const BASELINE_DAYS: i64 = 90;

/// One day of a co-worker's activity, by kind of access.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DayActivity {
    /// `YYYY-MM-DD`, UTC.
    pub date: String,
    /// Records opened.
    pub viewed: i64,
    /// Rows returned by searches and list pages.
    pub searched: i64,
    /// Rows exported.
    pub exported: i64,
    /// Records created, changed or deleted (and rows imported).
    pub changed: i64,
    pub events: i64,
}

/// Daily averages to compare a day against.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Baseline {
    pub viewed: f64,
    pub searched: f64,
    pub exported: f64,
    pub changed: f64,
}

/// A co-worker's activity over a period, with their own baseline and their team's median.
#[derive(Debug, Clone, Serialize)]
pub struct ActivityReport {
    pub coworker: serde_json::Value,
    pub since: String,
    pub until: String,
    pub days: Vec<DayActivity>,
    pub totals: DayActivity,
    /// The co-worker's own daily average over the 90 days before `since`.
    pub own_baseline: Baseline,
    /// The median, over the co-worker's team mates, of their daily averages in the period.
    pub team_median: Baseline,
    /// Days where a measure is over 3× the own baseline (and over 100 rows).
    pub unusual_days: Vec<String>,
}

fn bucket(action: &str) -> Option<fn(&mut DayActivity, i64, i64)> {
    Some(match action {
        action::RECORD_READ => |d, _, rows| d.viewed += rows,
        action::SEARCH | action::LIST_READ | action::REPORT_READ => |d, _, rows| d.searched += rows,
        action::EXPORT_CREATE => |d, _, rows| d.exported += rows,
        action::RECORD_CREATE | action::RECORD_UPDATE | action::RECORD_DELETE | action::RECORD_RESTORE => {
            |d, events, _| d.changed += events
        }
        action::IMPORT | action::BULK_UPDATE | action::HANDOVER | action::BULK_UNDO => |d, _, rows| d.changed += rows,
        _ => return None,
    })
}

fn average(days: &[DayActivity], n_days: i64) -> Baseline {
    let n = n_days.max(1) as f64;
    Baseline {
        viewed: days.iter().map(|d| d.viewed).sum::<i64>() as f64 / n,
        searched: days.iter().map(|d| d.searched).sum::<i64>() as f64 / n,
        exported: days.iter().map(|d| d.exported).sum::<i64>() as f64 / n,
        changed: days.iter().map(|d| d.changed).sum::<i64>() as f64 / n,
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    let m = values.len() / 2;
    if values.len().is_multiple_of(2) { (values[m - 1] + values[m]) / 2.0 } else { values[m] }
}

impl<D: Database> Holdfast<D> {
    /// The last event's seq and hash.
    pub fn chain_head(&self) -> Result<(i64, String), CoreError> {
        self.db.read(|tx| Ok(tx.peek_chain_head()?))
    }

    /// Signs the current chain head and stores the checkpoint; the caller also appends it to
    /// the external checkpoint file.
    pub fn write_checkpoint(&self, key: &AuditKey, reason: &str) -> Result<Checkpoint, CoreError> {
        self.db.write(|tx| {
            let (seq, hash) = tx.chain_head()?;
            let c = key.sign(seq, &hash, self.now(), reason);
            tx.insert_checkpoint(&c)?;
            Ok(c)
        })
    }

    pub fn checkpoints(&self) -> Result<Vec<Checkpoint>, CoreError> {
        self.db.read(|tx| Ok(tx.list_checkpoints()?))
    }

    /// Reads the whole log through the verifier and compares it with the stored checkpoints
    /// and `external` ones (from the operator's copy). Admins and the operator only. The log is
    /// read in as many parts as there are cores, each on its own thread and read transaction,
    /// and the parts are joined in order (each part's first event checked against the last of
    /// the part before).
    pub fn verify_log(
        &self,
        actor: &Actor,
        trusted_key: &str,
        external: &[Checkpoint],
    ) -> Result<Verification, CoreError> {
        if !actor.is_admin() {
            return Err(CoreError::forbidden("only an admin may verify the system event log"));
        }
        let stored = self.checkpoints()?;
        let mut all: Vec<(Checkpoint, &str)> = stored.into_iter().map(|c| (c, "in the database")).collect();
        all.extend(external.iter().cloned().map(|c| (c, "in the checkpoint file")));
        let seqs: Vec<i64> = all.iter().map(|(c, _)| c.seq).collect();
        let first_part = || {
            let mut v = ChainVerifier::new(seqs.iter().copied());
            v.allow_retention(
                all.iter()
                    .filter(|(c, _)| c.reason == "retention" && c.signature_ok(trusted_key))
                    .map(|(c, _)| c.clone()),
            );
            v
        };
        let (first, last) = self.db.read(|tx| {
            let first = tx.scan_events(0, 1, None)?.first().map(|e| e.seq);
            Ok((first, tx.peek_chain_head()?.0))
        })?;
        let parts = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).clamp(1, 8) as i64;
        let ranges: Vec<(i64, i64)> = match first {
            Some(first) if last >= first => {
                let (start, span) = (first - 1, last - first + 1);
                (0..parts)
                    .map(|k| (start + span * k / parts, start + span * (k + 1) / parts))
                    .filter(|(after, through)| through > after)
                    .collect()
            }
            _ => Vec::new(),
        };
        let checked: Vec<Result<ChainVerifier, CoreError>> = std::thread::scope(|scope| {
            let threads: Vec<_> = ranges
                .iter()
                .enumerate()
                .map(|(k, &(after, through))| {
                    let (seqs, first_part) = (&seqs, &first_part);
                    scope.spawn(move || {
                        let mut v = if k == 0 { first_part() } else { ChainVerifier::later_part(seqs.iter().copied()) };
                        self.db.read(|tx| {
                            Ok(tx.each_event(after, through, &mut |row| {
                                v.push_row(row);
                                Ok(())
                            })?)
                        })?;
                        Ok(v)
                    })
                })
                .collect();
            threads
                .into_iter()
                .map(|t| t.join().unwrap_or_else(|_| Err(CoreError::Conflict("a verification thread failed".into()))))
                .collect()
        });
        let mut checked = checked.into_iter();
        let mut verifier = match checked.next() {
            Some(part) => part?,
            None => first_part(),
        };
        for part in checked {
            verifier.join(part?);
        }
        let mut report = verifier.finish(&all, trusted_key);
        report.findings.extend(self.db.read(operation_findings)?);
        let event = NewEvent::by(actor, self.now(), action::AUDIT_VERIFY)
            .rows(report.events as usize)
            .detail("ok", json!(report.ok()))
            .detail("findings", json!(report.findings.len()))
            .detail("checkpoints", json!(report.checkpoints_checked));
        self.db.write(|tx| Ok(append_events(tx, vec![event])?))?;
        Ok(report)
    }

    fn reviewable(&self, actor: &Actor, who: &str) -> Result<CoWorker, CoreError> {
        let target = self.db.read(|tx| {
            let found = match Uuid::parse_str(who) {
                Ok(id) => tx.get_coworker(id)?,
                Err(_) => tx.get_coworker_by_email(&who.trim().to_lowercase())?,
            };
            found.ok_or_else(|| CoreError::not_found("co-worker", who))
        })?;
        if !access::may_review(actor, target.id) {
            return Err(CoreError::forbidden(
                "only an admin, the co-worker's manager or the co-worker may review their activity",
            ));
        }
        Ok(target)
    }

    /// A co-worker's daily activity since `since`, against their own 90-day baseline and their
    /// team's median.
    pub fn activity_report(
        &self,
        actor: &Actor,
        who: &str,
        since: i64,
        until: i64,
    ) -> Result<ActivityReport, CoreError> {
        self.noting_refusals(
            actor,
            || format!("read the activity report of {who}"),
            || {
                if until <= since {
                    return Err(CoreError::invalid("since", "must be before until"));
                }
                let target = self.reviewable(actor, who)?;
                let first_day = since.div_euclid(MICROS_PER_DAY);
                let last_day = (until - 1).div_euclid(MICROS_PER_DAY);
                let baseline_from = (first_day - BASELINE_DAYS) * MICROS_PER_DAY;
                let (counts, team) = self.db.read(|tx| {
                    let counts = tx.daily_counts(baseline_from, until)?;
                    let team: Vec<Uuid> = match target.team_id {
                        Some(t) => tx
                            .list_coworkers()?
                            .into_iter()
                            .filter(|c| c.team_id == Some(t) && c.id != target.id)
                            .map(|c| c.id)
                            .collect(),
                        None => Vec::new(),
                    };
                    Ok((counts, team))
                })?;
                let mut per: BTreeMap<(Uuid, i64), DayActivity> = BTreeMap::new();
                for c in counts {
                    let (Some(who), Some(add)) = (c.coworker_id, bucket(&c.action)) else { continue };
                    let d = per.entry((who, c.day)).or_default();
                    add(d, c.events, c.rows);
                    d.events += c.events;
                }
                let date = |day: i64| crate::time::date_of(day * MICROS_PER_DAY);
                let mut days = Vec::new();
                for day in first_day..=last_day {
                    let mut d = per.get(&(target.id, day)).cloned().unwrap_or_default();
                    d.date = date(day);
                    days.push(d);
                }
                let history: Vec<DayActivity> = per
                    .iter()
                    .filter(|((w, day), _)| *w == target.id && *day < first_day)
                    .map(|(_, d)| d.clone())
                    .collect();
                let own_baseline = average(&history, BASELINE_DAYS);
                let period = last_day - first_day + 1;
                let team_avgs: Vec<Baseline> = team
                    .iter()
                    .map(|m| {
                        let ds: Vec<DayActivity> = per
                            .iter()
                            .filter(|((w, day), _)| w == m && *day >= first_day)
                            .map(|(_, d)| d.clone())
                            .collect();
                        average(&ds, period)
                    })
                    .collect();
                let team_median = Baseline {
                    viewed: median(team_avgs.iter().map(|b| b.viewed).collect()),
                    searched: median(team_avgs.iter().map(|b| b.searched).collect()),
                    exported: median(team_avgs.iter().map(|b| b.exported).collect()),
                    changed: median(team_avgs.iter().map(|b| b.changed).collect()),
                };
                let unusual = |v: i64, base: f64| v > 100 && v as f64 > 3.0 * base;
                let unusual_days = days
                    .iter()
                    .filter(|d| {
                        unusual(d.viewed, own_baseline.viewed)
                            || unusual(d.searched, own_baseline.searched)
                            || unusual(d.exported, own_baseline.exported)
                            || d.exported > 0 && own_baseline.exported == 0.0
                    })
                    .map(|d| d.date.clone())
                    .collect();
                let mut totals = DayActivity { date: "total".into(), ..Default::default() };
                for d in &days {
                    totals.viewed += d.viewed;
                    totals.searched += d.searched;
                    totals.exported += d.exported;
                    totals.changed += d.changed;
                    totals.events += d.events;
                }
                self.record_read(vec![
                    NewEvent::by(actor, self.now(), action::AUDIT_READ)
                        .object("coworker", target.id)
                        .detail("report", json!({"since": format_timestamp(since), "until": format_timestamp(until)})),
                ])?;
                Ok(ActivityReport {
                    coworker: target.to_json(),
                    since: format_timestamp(since),
                    until: format_timestamp(until),
                    days,
                    totals,
                    own_baseline,
                    team_median,
                    unusual_days,
                })
            },
        )
    }

    /// Streams events with `seq > after` (optionally one co-worker's) in order to `each`, which
    /// returns `false` to stop. Returns the last seq delivered.
    pub fn stream_events(
        &self,
        after: i64,
        coworker: Option<Uuid>,
        each: &mut dyn FnMut(&StoredEvent) -> Result<bool, CoreError>,
    ) -> Result<i64, CoreError> {
        let mut last = after;
        loop {
            let batch = self.db.read(|tx| Ok(tx.scan_events(last, SCAN_BATCH, coworker)?))?;
            if batch.is_empty() {
                return Ok(last);
            }
            for e in &batch {
                if !each(e)? {
                    return Ok(last);
                }
                last = e.seq;
            }
        }
    }

    /// Resolves a co-worker the actor may review (for evidence bundles).
    pub fn coworker_for_review(&self, actor: &Actor, who: &str) -> Result<CoWorker, CoreError> {
        self.noting_refusals(actor, || format!("review the system events of {who}"), || self.reviewable(actor, who))
    }

    /// Records that an evidence bundle or SIEM export of events was made.
    pub fn record_audit_export(
        &self,
        actor: &Actor,
        what: &str,
        coworker: Option<Uuid>,
        rows: usize,
    ) -> Result<(), CoreError> {
        let mut e = NewEvent::by(actor, self.now(), action::AUDIT_EXPORT).rows(rows).detail("what", json!(what));
        if let Some(c) = coworker {
            e = e.object("coworker", c);
        }
        self.db.write(|tx| Ok(append_events(tx, vec![e])?))
    }

    /// A named delivery cursor (SIEM shipping): the last seq acknowledged.
    pub fn cursor(&self, name: &str) -> Result<i64, CoreError> {
        self.db.read(|tx| Ok(tx.get_cursor(name)?.unwrap_or(0)))
    }

    pub fn set_cursor(&self, name: &str, seq: i64) -> Result<(), CoreError> {
        self.db.write(|tx| Ok(tx.set_cursor(name, seq, self.now())?))
    }
}

impl<D: Database> Holdfast<D> {
    /// Who changed what on a record, when, from what to what: the record (opened as any read is:
    /// the read policy is checked and the read recorded) with its create, update, delete and
    /// restore events, newest first. Anyone who may open the record may see its history.
    pub fn record_history(
        &self,
        actor: &Actor,
        kind: &'static crate::record::RecordKind,
        id: Uuid,
    ) -> Result<RecordHistory, CoreError> {
        let record = self.get_record(actor, kind, id)?;
        let mut events = Vec::new();
        for act in [action::RECORD_CREATE, action::RECORD_UPDATE, action::RECORD_DELETE, action::RECORD_RESTORE] {
            let filter = crate::event::EventFilter {
                object_type: Some(kind.name.to_string()),
                object_id: Some(id.to_string()),
                action: Some(act.to_string()),
                limit: 1_000,
                ..Default::default()
            };
            events.extend(self.db.read(|tx| Ok(tx.list_events(&filter)?))?);
        }
        events.extend(self.db.read(|tx| operations_on(tx, kind, id))?);
        events.sort_by_key(|e| std::cmp::Reverse(e.seq));
        Ok(RecordHistory { record, events })
    }
}

/// Every bulk operation's rows (and its undo's) checked against the digest its event holds: the
/// chain vouches for the event, the digest for the rows. Rows no event vouches for are named too.
fn operation_findings(tx: &mut dyn crate::storage::Tx) -> Result<Vec<Finding>, CoreError> {
    let mut findings = Vec::new();
    let mut vouched = std::collections::HashSet::new();
    let mut before_seq = None;
    loop {
        let filter = crate::event::EventFilter {
            object_type: Some("bulk_operation".into()),
            before_seq,
            limit: 500,
            ..Default::default()
        };
        let events = tx.list_events(&filter)?;
        let Some(last) = events.last() else { break };
        before_seq = Some(last.seq);
        for e in &events {
            let Some(expected) = e.event.details["records_digest"].as_str() else { continue };
            let Some(operation) = e.event.object_id.as_deref().and_then(|o| Uuid::parse_str(o).ok()) else { continue };
            let step = if e.event.action == action::BULK_UNDO { Step::Undone } else { Step::Done };
            let mut steps = vec![(step, expected, e.event.row_count.max(0) as u64)];
            // An import's rows for the contacts it merged into, with a digest of their own.
            if let (Some(merged), Some(count)) =
                (e.event.details["merged_digest"].as_str(), e.event.details["merged"].as_u64())
            {
                steps.push((Step::Merged, merged, count));
            }
            for (step, expected, count) in steps {
                vouched.insert((operation, step.as_str()));
                let mut finding =
                    |message: String| findings.push(Finding { seq: e.seq, kind: "operation_rows", message });
                match operation_digest(tx, operation, step) {
                    Ok((rows, digest)) if digest == expected && rows == count => {}
                    Ok((rows, _)) => finding(format!(
                        "the {rows} records kept for {} {operation} ({}) do not match the digest of its event",
                        e.event.action,
                        step.as_str()
                    )),
                    Err(err) => finding(format!(
                        "the records kept for {} {operation} ({}) cannot be read: {err}",
                        e.event.action,
                        step.as_str()
                    )),
                }
            }
        }
    }
    for (operation, step) in tx.operation_steps()? {
        if !vouched.contains(&(operation, step.as_str())) {
            findings.push(Finding {
                seq: 0,
                kind: "operation_rows",
                message: format!(
                    "records are kept for operation {operation} ({}) but no system event vouches for them",
                    step.as_str()
                ),
            });
        }
    }
    findings.sort_by_key(|f| f.seq);
    Ok(findings)
}

/// How many rows one step of an operation has, and their digest.
fn operation_digest(tx: &mut dyn crate::storage::Tx, operation: Uuid, step: Step) -> Result<(u64, String), CoreError> {
    let digest = super::bulk::operation_pages(tx, operation, step, &mut |_, _| Ok(true))?.unwrap_or_default();
    Ok((digest.rows(), digest.finish()))
}

/// The bulk operations (and undos) that changed a record's owner, each as its operation's event
/// narrowed to this record: `changes` holds the record's owner before and after, `operation` the
/// operation's id; and the import that created it, if one did (`fields`: its owner and the file).
fn operations_on(
    tx: &mut dyn crate::storage::Tx,
    kind: &'static crate::record::RecordKind,
    id: Uuid,
) -> Result<Vec<crate::event::SystemEvent>, CoreError> {
    let rows = tx.record_operations(id, 1_000)?;
    let mut found = Vec::with_capacity(rows.len());
    let mut events: std::collections::HashMap<Uuid, Vec<crate::event::SystemEvent>> = Default::default();
    for r in rows.iter().filter(|r| r.row.kind == kind.name) {
        if let std::collections::hash_map::Entry::Vacant(slot) = events.entry(r.operation) {
            let filter = crate::event::EventFilter {
                object_type: Some("bulk_operation".into()),
                object_id: Some(r.operation.to_string()),
                limit: 10,
                ..Default::default()
            };
            slot.insert(tx.list_events(&filter)?);
        }
        // Only an event that vouches for rows (holds their digest) is shown with them.
        let wanted = |e: &crate::event::SystemEvent| {
            let a = e.event.action.as_str();
            let digest = if r.step == Step::Merged { "merged_digest" } else { "records_digest" };
            let step_matches = match r.step {
                Step::Done => a == action::BULK_UPDATE || a == action::HANDOVER || a == action::IMPORT,
                Step::Undone => a == action::BULK_UNDO,
                Step::Merged => a == action::IMPORT,
            };
            step_matches && e.event.details.get(digest).is_some()
        };
        // An operation whose event retention has removed is no longer shown.
        let Some(event) = events.get(&r.operation).and_then(|es| es.iter().find(|e| wanted(e))) else {
            continue;
        };
        let mut narrowed = event.clone();
        narrowed.event.row_count = 1;
        narrowed.event.details = if r.step == Step::Merged {
            // A row of the import matched the record (its blanks, if any, filled by a
            // `record.update` of their own).
            json!({"fields": {"source": event.event.details["source"]}, "merged": true, "operation": r.operation})
        } else if event.event.action == action::IMPORT {
            // The import created the record: its owner, and the file it came from.
            json!({
                "fields": {kind.owner_field: r.row.owner_after, "source": event.event.details["source"]},
                "operation": r.operation,
            })
        } else {
            json!({
                "changes": {kind.owner_field: {"from": r.row.owner_before, "to": r.row.owner_after}},
                "operation": r.operation,
            })
        };
        found.push(narrowed);
    }
    Ok(found)
}

/// A record and the events that changed it, newest first.
#[derive(Debug, Clone)]
pub struct RecordHistory {
    pub record: crate::record::Record,
    pub events: Vec<crate::event::SystemEvent>,
}

/// What a retention run removed.
#[derive(Debug, Clone, Serialize)]
pub struct Retention {
    pub deleted: u64,
    pub through_seq: i64,
    pub checkpoint: Checkpoint,
}

impl<D: Database> Holdfast<D> {
    /// Deletes the events older than `before` (admins only). First signs a retention checkpoint
    /// at the cut, so verification still proves the remaining log continues the signed chain,
    /// then records the deletion itself as an `audit.retention` event. Never silent.
    pub fn retain_events(&self, actor: &Actor, key: &AuditKey, before: i64) -> Result<Retention, CoreError> {
        if !actor.is_admin() {
            return Err(CoreError::forbidden("only an admin may delete old system events"));
        }
        if before > self.now() - BASELINE_DAYS * MICROS_PER_DAY {
            return Err(CoreError::invalid(
                "before",
                format!(
                    "keep at least {BASELINE_DAYS} days of events (reports compare against them); choose an earlier date"
                ),
            ));
        }
        self.db.write(|tx| {
            let (seq, hash) = tx
                .last_event_before(before)?
                .ok_or_else(|| CoreError::Conflict(format!("no events are older than {}", format_timestamp(before))))?;
            let checkpoint = key.sign(seq, &hash, self.now(), "retention");
            tx.insert_checkpoint(&checkpoint)?;
            let deleted = tx.delete_events_through(seq)?;
            let event = NewEvent::by(actor, self.now(), action::AUDIT_RETENTION)
                .rows(deleted as usize)
                .detail("through_seq", json!(seq))
                .detail("through_hash", json!(hash))
                .detail("before", json!(format_timestamp(before)));
            append_events(tx, vec![event])?;
            Ok(Retention { deleted, through_seq: seq, checkpoint })
        })
    }
}
