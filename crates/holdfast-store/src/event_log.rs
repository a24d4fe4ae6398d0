//! The system event log: appending to the hash chain (one appender at a time), queries for
//! reviews and reports, scans for verification and SIEM shipping, retention past the append-only
//! guard, signed checkpoints and shippers' cursors.

use holdfast_core::audit::{Checkpoint, EventRow, StoredEvent};
use holdfast_core::event::{EventContent, EventFilter, SystemEvent, action};
use holdfast_core::record::Value;
use holdfast_core::storage::{Cell, DailyCount, EventLog, StorageResult};
use uuid::Uuid;

use crate::codec::{Cols, event_from_row, opt_text, opt_uuid, stored_event};
use crate::conn::{Backend, Conn};
use crate::tx::SqlTx;

/// Keeps a count of one co-worker's events since `$2` (a time) to the days from `$2`'s on, by
/// seq, so that it walks the (co-worker, seq) index from there instead of all their history
/// (`event_days`, migration 0015, says where each day's events start).
const FROM_DAY: &str =
    "seq >= (SELECT coalesce(min(first_seq), 9223372036854775807) FROM event_days WHERE day >= $2 / 86400000000)";

/// How a `record.read` event of a record outside the reader's own book reads in the log.
const OUTSIDE_BOOK_LIKE: &str = "%\"outside_book\":true%";

pub const EVENT_COLUMNS: &str = "seq, id, at, coworker_id, action, object_type, object_id, row_count, client_addr, user_agent, details, prev_hash, hash";

impl<C: Conn> EventLog for SqlTx<C> {
    fn chain_head(&mut self) -> StorageResult<(i64, String)> {
        if self.conn.backend() == Backend::Postgres {
            // One appender at a time (released at commit); SQLite has a single writer anyway.
            self.conn.exec("SELECT pg_advisory_xact_lock(7265347824)", &[])?;
        }
        self.peek_chain_head()
    }

    fn peek_chain_head(&mut self) -> StorageResult<(i64, String)> {
        let rows = self.conn.rows("SELECT seq, hash FROM system_events ORDER BY seq DESC LIMIT 1", &[])?;
        match rows.first() {
            Some(row) => {
                let mut c = Cols(row.iter());
                Ok((c.int()?, c.text()?))
            }
            // No event left: retention deleted them all behind its checkpoint, and the chain goes
            // on from there (seq never starts again; counts by seq rely on it), or it is new.
            None => {
                let rows = self.conn.rows("SELECT seq, hash FROM event_checkpoints ORDER BY seq DESC LIMIT 1", &[])?;
                match rows.first() {
                    Some(row) => {
                        let mut c = Cols(row.iter());
                        Ok((c.int()?, c.text()?))
                    }
                    None => Ok((0, holdfast_core::event::GENESIS_HASH.to_string())),
                }
            }
        }
    }

    fn insert_events(&mut self, events: &[SystemEvent]) -> StorageResult<()> {
        for chunk in events.chunks(64) {
            let mut params = Vec::with_capacity(chunk.len() * 13);
            let mut groups = Vec::with_capacity(chunk.len());
            for e in chunk {
                let base = params.len();
                let ph: Vec<String> = (1..=13).map(|i| format!("${}", base + i)).collect();
                groups.push(format!("({})", ph.join(", ")));
                let n = &e.event;
                params.extend([
                    Value::Int(e.seq),
                    Value::Text(e.id.to_string()),
                    Value::Int(n.at),
                    opt_uuid(n.coworker_id),
                    Value::Text(n.action.clone()),
                    opt_text(n.object_type.as_deref()),
                    opt_text(n.object_id.as_deref()),
                    Value::Int(n.row_count),
                    opt_text(n.client_addr.as_deref()),
                    opt_text(n.user_agent.as_deref()),
                    Value::Text(n.details.to_string()),
                    Value::Text(e.prev_hash.clone()),
                    Value::Text(e.hash.clone()),
                ]);
            }
            self.conn
                .exec(&format!("INSERT INTO system_events ({EVENT_COLUMNS}) VALUES {}", groups.join(", ")), &params)?;
        }
        Ok(())
    }

    fn list_events(&mut self, f: &EventFilter) -> StorageResult<Vec<SystemEvent>> {
        let mut params = Vec::new();
        let mut wheres = vec!["1 = 1".to_string()];
        let mut add = |clause: &str, v: Value, params: &mut Vec<Value>| {
            params.push(v);
            wheres.push(clause.replace('?', &format!("${}", params.len())));
        };
        if let Some(c) = f.coworker_id {
            add("coworker_id = ?", Value::Text(c.to_string()), &mut params);
        }
        if let Some(a) = &f.action {
            add("action = ?", Value::Text(a.clone()), &mut params);
        }
        if let Some(t) = &f.object_type {
            add("object_type = ?", Value::Text(t.clone()), &mut params);
        }
        if let Some(o) = &f.object_id {
            add("object_id = ?", Value::Text(o.clone()), &mut params);
        }
        if let Some(s) = f.since {
            add("at >= ?", Value::Int(s), &mut params);
        }
        if let Some(u) = f.until {
            add("at < ?", Value::Int(u), &mut params);
        }
        if let Some(b) = f.before_seq {
            add("seq < ?", Value::Int(b), &mut params);
        }
        params.push(Value::Int(f.limit.max(1) as i64));
        let text = format!(
            "SELECT {EVENT_COLUMNS} FROM system_events WHERE {} ORDER BY seq DESC LIMIT ${}",
            wheres.join(" AND "),
            params.len()
        );
        let rows = self.conn.rows(&text, &params)?;
        rows.iter().map(|r| event_from_row(r)).collect()
    }

    fn scan_events(&mut self, after: i64, limit: u32, coworker: Option<Uuid>) -> StorageResult<Vec<StoredEvent>> {
        let rows = match coworker {
            None => self.conn.rows(
                &format!("SELECT {EVENT_COLUMNS} FROM system_events WHERE seq > $1 ORDER BY seq LIMIT $2"),
                &[Value::Int(after), Value::Int(limit.into())],
            )?,
            Some(c) => self.conn.rows(
                &format!("SELECT {EVENT_COLUMNS} FROM system_events WHERE coworker_id = $3 AND seq > $1 ORDER BY seq LIMIT $2"),
                &[Value::Int(after), Value::Int(limit.into()), Value::Text(c.to_string())],
            )?,
        };
        rows.into_iter().map(stored_event).collect()
    }

    fn each_event(
        &mut self,
        after: i64,
        through: i64,
        f: &mut dyn FnMut(EventRow<'_>) -> StorageResult<()>,
    ) -> StorageResult<()> {
        let bad = |what: &str| holdfast_core::StorageError::Other(format!("a stored event has {what}"));
        self.conn.each_row(
            &format!("SELECT {EVENT_COLUMNS} FROM system_events WHERE seq > $1 AND seq <= $2 ORDER BY seq"),
            &[Value::Int(after), Value::Int(through)],
            &mut |cells| {
                let int = |i: usize| match cells.get(i) {
                    Some(Cell::Int(n)) => Ok(*n),
                    _ => Err(bad("a number missing")),
                };
                let opt = |i: usize| match cells.get(i) {
                    Some(Cell::Text(t)) => Ok(Some(*t)),
                    Some(Cell::Null) => Ok(None),
                    _ => Err(bad("a number where text belongs")),
                };
                let text = |i: usize| opt(i)?.ok_or_else(|| bad("a text missing"));
                f(EventRow {
                    content: EventContent {
                        seq: int(0)?,
                        id: text(1)?,
                        at: int(2)?,
                        coworker_id: opt(3)?,
                        coworker: None,
                        action: text(4)?,
                        object_type: opt(5)?,
                        object_id: opt(6)?,
                        row_count: int(7)?,
                        client_addr: opt(8)?,
                        user_agent: opt(9)?,
                        details: text(10)?,
                    },
                    prev_hash: text(11)?,
                    hash: text(12)?,
                })
            },
        )
    }

    fn outside_book_reads_since(&mut self, coworker: Uuid, since: i64) -> StorageResult<Vec<(i64, i64)>> {
        const DAY: i64 = 86_400_000_000;
        let rows = self.conn.rows(
            &format!(
                "SELECT CAST(at / {DAY} AS BIGINT) AS d, count(*) FROM system_events \
                 WHERE coworker_id = $1 AND {FROM_DAY} AND at >= $2 AND action = $3 AND details LIKE $4 \
                 GROUP BY d ORDER BY d"
            ),
            &[
                Value::Text(coworker.to_string()),
                Value::Int(since),
                Value::Text(action::RECORD_READ.into()),
                Value::Text(OUTSIDE_BOOK_LIKE.into()),
            ],
        )?;
        rows.iter()
            .map(|r| {
                let mut c = Cols(r.iter());
                Ok((c.int()?, c.int()?))
            })
            .collect()
    }

    fn rows_read_since(&mut self, coworker: Uuid, since: i64) -> StorageResult<Vec<(i64, i64)>> {
        const HOUR: i64 = 3_600_000_000;
        let mut params = vec![Value::Text(coworker.to_string()), Value::Int(since)];
        let reads: Vec<String> = action::READS
            .iter()
            .map(|a| {
                params.push(Value::Text(a.to_string()));
                format!("${}", params.len())
            })
            .collect();
        let rows = self.conn.rows(
            &format!(
                "SELECT CAST(at / {HOUR} AS BIGINT) AS h, CAST(sum(row_count) AS BIGINT) FROM system_events \
                 WHERE coworker_id = $1 AND {FROM_DAY} AND at >= $2 AND action IN ({}) GROUP BY h ORDER BY h",
                reads.join(", ")
            ),
            &params,
        )?;
        rows.iter()
            .map(|r| {
                let mut c = Cols(r.iter());
                Ok((c.int()? * HOUR, c.int()?))
            })
            .collect()
    }

    fn daily_counts(&mut self, since: i64, until: i64) -> StorageResult<Vec<DailyCount>> {
        let rows = self.conn.rows(
            "SELECT coworker_id, at / 86400000000 AS day, action, count(*), CAST(sum(row_count) AS BIGINT), \
             CAST(sum(CASE WHEN action = $3 AND details LIKE $4 THEN 1 ELSE 0 END) AS BIGINT) FROM system_events \
             WHERE at >= $1 AND at < $2 GROUP BY coworker_id, at / 86400000000, action ORDER BY 1, 2, 3",
            &[
                Value::Int(since),
                Value::Int(until),
                Value::Text(action::RECORD_READ.into()),
                Value::Text(OUTSIDE_BOOK_LIKE.into()),
            ],
        )?;
        rows.iter()
            .map(|r| {
                let mut c = Cols(r.iter());
                Ok(DailyCount {
                    coworker_id: c.opt_uuid()?,
                    day: c.int()?,
                    action: c.text()?,
                    events: c.int()?,
                    rows: c.opt_int()?.unwrap_or(0),
                    outside_book: c.opt_int()?.unwrap_or(0),
                })
            })
            .collect()
    }

    fn last_event_before(&mut self, before: i64) -> StorageResult<Option<(i64, String)>> {
        let rows = self.conn.rows(
            "SELECT seq, hash FROM system_events WHERE seq = (SELECT max(seq) FROM system_events WHERE at < $1)",
            &[Value::Int(before)],
        )?;
        match rows.first() {
            Some(r) => {
                let mut c = Cols(r.iter());
                Ok(Some((c.int()?, c.text()?)))
            }
            None => Ok(None),
        }
    }

    fn delete_events_through(&mut self, through: i64) -> StorageResult<u64> {
        // The rows of each operation step whose event goes go with it.
        let rows = "DELETE FROM operation_records WHERE EXISTS (SELECT 1 FROM system_events e \
             WHERE e.seq <= $1 AND e.object_type = 'bulk_operation' AND e.object_id = operation_records.operation_id \
             AND (e.action = 'bulk.undo') = (operation_records.step = 'undo'))";
        let through = [Value::Int(through)];
        match self.conn.backend() {
            Backend::Sqlite => {
                self.conn.exec("DROP TRIGGER system_events_no_delete", &[])?;
                self.conn.exec("DROP TRIGGER operation_records_no_delete", &[])?;
                self.conn.exec(rows, &through)?;
                let n = self.conn.exec("DELETE FROM system_events WHERE seq <= $1", &through)?;
                self.conn.exec(
                    "CREATE TRIGGER system_events_no_delete BEFORE DELETE ON system_events BEGIN SELECT RAISE(ABORT, 'system events are append-only'); END",
                    &[],
                )?;
                self.conn.exec(
                    "CREATE TRIGGER operation_records_no_delete BEFORE DELETE ON operation_records BEGIN SELECT RAISE(ABORT, 'operation records are append-only'); END",
                    &[],
                )?;
                Ok(n)
            }
            Backend::Postgres => {
                self.conn.exec("SET LOCAL holdfast.retention = 'allowed'", &[])?;
                self.conn.exec(rows, &through)?;
                let n = self.conn.exec("DELETE FROM system_events WHERE seq <= $1", &through)?;
                self.conn.exec("SET LOCAL holdfast.retention = ''", &[])?;
                Ok(n)
            }
        }
    }

    fn insert_checkpoint(&mut self, c: &Checkpoint) -> StorageResult<()> {
        self.conn.exec(
            "INSERT INTO event_checkpoints (seq, hash, at, reason, public_key, signature) VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                Value::Int(c.seq),
                Value::Text(c.hash.clone()),
                Value::Int(c.at),
                Value::Text(c.reason.clone()),
                Value::Text(c.public_key.clone()),
                Value::Text(c.signature.clone()),
            ],
        )?;
        Ok(())
    }

    fn list_checkpoints(&mut self) -> StorageResult<Vec<Checkpoint>> {
        let rows = self
            .conn
            .rows("SELECT seq, hash, at, reason, public_key, signature FROM event_checkpoints ORDER BY seq, at", &[])?;
        rows.iter()
            .map(|r| {
                let mut c = Cols(r.iter());
                Ok(Checkpoint {
                    seq: c.int()?,
                    hash: c.text()?,
                    at: c.int()?,
                    reason: c.text()?,
                    public_key: c.text()?,
                    signature: c.text()?,
                })
            })
            .collect()
    }

    fn get_cursor(&mut self, name: &str) -> StorageResult<Option<i64>> {
        let rows = self.conn.rows("SELECT seq FROM event_cursors WHERE name = $1", &[Value::Text(name.into())])?;
        Ok(rows.first().and_then(|r| r.first()).and_then(Value::as_int))
    }

    fn set_cursor(&mut self, name: &str, seq: i64, at: i64) -> StorageResult<()> {
        self.conn.exec(
            "INSERT INTO event_cursors (name, seq, updated_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO UPDATE SET seq = excluded.seq, updated_at = excluded.updated_at",
            &[Value::Text(name.into()), Value::Int(seq), Value::Int(at)],
        )?;
        Ok(())
    }
}
