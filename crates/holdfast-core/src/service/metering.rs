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

/// Rows read per co-worker over the last 24 hours, kept in memory after a first count from the log.
#[derive(Default)]
pub(crate) struct ReadMeter {
    reads: Mutex<HashMap<Uuid, Window>>,
    /// Co-workers with a metered read in progress: their next read waits for it, so that reads
    /// arriving together cannot all pass the limit before any of them is counted.
    reading: Mutex<std::collections::HashSet<Uuid>>,
    turn_over: std::sync::Condvar,
}

/// A co-worker's turn to read: from the limit check until the rows are counted.
pub(crate) struct ReadTurn<'a> {
    meter: &'a ReadMeter,
    who: Option<Uuid>,
}

impl Drop for ReadTurn<'_> {
    fn drop(&mut self) {
        let Some(who) = self.who else { return };
        if let Ok(mut reading) = self.meter.reading.lock() {
            reading.remove(&who);
        }
        self.meter.turn_over.notify_all();
    }
}

/// One co-worker's reads in the window: (when, rows), oldest first, and their sum.
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

impl<D: Database> Holdfast<D> {
    /// Rows `who` read in the last 24 hours.
    pub fn rows_read_today(&self, who: Uuid) -> Result<i64, CoreError> {
        let now = self.now();
        let since = now - MICROS_PER_DAY;
        let known = self.meter.reads.lock().ok().and_then(|mut m| {
            m.get_mut(&who).map(|w| {
                w.drop_before(since);
                w.total
            })
        });
        if let Some(n) = known {
            return Ok(n);
        }
        // First use since start: count from the log, hour by hour, so old hours fall out in time.
        let hours = self.db.read(|tx| Ok(tx.rows_read_since(who, since)?))?;
        let n = hours.iter().map(|h| h.1).sum();
        if let Ok(mut m) = self.meter.reads.lock() {
            m.entry(who).or_insert_with(|| {
                let mut w = Window::default();
                for (at, rows) in hours {
                    w.add(at, rows);
                }
                w
            });
        }
        Ok(n)
    }

    /// Before a read, inside its transaction (the settings are checked there, without a
    /// transaction of their own): whether it is ordinary or, past the limit, an export; refused
    /// when the export policy does not let the actor export.
    pub(crate) fn classify_read(&self, tx: &mut dyn Tx, actor: &Actor) -> Result<ReadKind, CoreError> {
        let Some(me) = actor.id() else { return Ok(ReadKind::Collaboration) };
        if actor.is_admin() {
            return Ok(ReadKind::Collaboration);
        }
        let settings = self.settings_in(tx)?;
        let read = self.rows_read_today(me)?;
        if read < settings.bulk_read_limit {
            return Ok(ReadKind::Collaboration);
        }
        if !settings.export_policy.allows(actor.role()) {
            return Err(CoreError::forbidden(format!(
                "you have read {read} customer records in the last 24 hours; reading more at once counts as an \
                 export, which only {} may do here. Ask your manager or an admin",
                settings.export_policy.who()
            )));
        }
        Ok(ReadKind::Bulk)
    }

    /// Waits for the actor's turn to read (metered co-workers read one request at a time; admins
    /// and the operator are not metered and never wait).
    pub(crate) fn read_turn(&self, actor: &Actor) -> ReadTurn<'_> {
        let who = actor.id().filter(|_| !actor.is_admin());
        if let (Some(me), Ok(mut reading)) = (who, self.meter.reading.lock()) {
            while reading.contains(&me) {
                reading = match self.meter.turn_over.wait(reading) {
                    Ok(r) => r,
                    Err(_) => return ReadTurn { meter: &self.meter, who: None },
                };
            }
            reading.insert(me);
        }
        ReadTurn { meter: &self.meter, who }
    }

    /// Counts rows just read by the actor.
    pub(crate) fn meter_read(&self, actor: &Actor, rows: usize) {
        let (Some(me), false) = (actor.id(), actor.is_admin()) else { return };
        let now = self.now();
        if let Ok(mut m) = self.meter.reads.lock()
            && let Some(w) = m.get_mut(&me)
        {
            w.drop_before(now - MICROS_PER_DAY);
            w.add(now, i64::try_from(rows).unwrap_or(i64::MAX));
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
