//! Leads: web-to-lead forms, the round-robin's turns, the speed-to-lead clock's queries, and the
//! notifications that tell a co-worker about a lead.

use holdfast_core::record::Value;
use holdfast_core::storage::{LeadClock, LeadForm, LeadStore, Notification, StorageResult};
use uuid::Uuid;

use crate::codec::{Cols, bad_row, opt_int, opt_text, opt_uuid};
use crate::conn::{Backend, Conn};
use crate::tx::SqlTx;

const FORM_COLUMNS: &str =
    "id, name, fields, redirect_url, created_by, created_at, archived_at, submissions, last_submission_at";
const NOTE_COLUMNS: &str = "id, coworker_id, kind, object_type, object_id, summary, created_at, read_at, \
    email_state, email_attempts, email_next_at, email_error";
/// Statuses of a lead someone still has to work.
const OPEN: &str = "status IN ('new', 'working')";

fn text(s: &str) -> Value {
    Value::Text(s.to_string())
}

fn form_from_row(row: &[Value]) -> StorageResult<LeadForm> {
    let mut c = Cols(row.iter());
    Ok(LeadForm {
        id: c.uuid()?,
        name: c.text()?,
        fields: serde_json::from_str(&c.text()?).map_err(|_| bad_row("lead form fields"))?,
        redirect_url: c.opt_text()?,
        created_by: c.opt_uuid()?,
        created_at: c.int()?,
        archived_at: c.opt_int()?,
        submissions: c.int()?,
        last_submission_at: c.opt_int()?,
    })
}

fn form_params(f: &LeadForm) -> StorageResult<Vec<Value>> {
    let fields = serde_json::to_string(&f.fields).map_err(|e| holdfast_core::StorageError::Other(e.to_string()))?;
    Ok(vec![
        text(&f.id.to_string()),
        text(&f.name),
        Value::Text(fields),
        opt_text(f.redirect_url.as_deref()),
        opt_uuid(f.created_by),
        Value::Int(f.created_at),
        opt_int(f.archived_at),
        Value::Int(f.submissions),
        opt_int(f.last_submission_at),
    ])
}

fn note_from_row(row: &[Value]) -> StorageResult<Notification> {
    let mut c = Cols(row.iter());
    Ok(Notification {
        id: c.uuid()?,
        coworker_id: c.uuid()?,
        kind: c.text()?,
        object_type: c.opt_text()?,
        object_id: c.opt_uuid()?,
        summary: c.text()?,
        created_at: c.int()?,
        read_at: c.opt_int()?,
        email_state: c.opt_text()?,
        email_attempts: c.int()?,
        email_next_at: c.opt_int()?,
        email_error: c.opt_text()?,
    })
}

fn note_params(n: &Notification) -> Vec<Value> {
    vec![
        text(&n.id.to_string()),
        text(&n.coworker_id.to_string()),
        text(&n.kind),
        opt_text(n.object_type.as_deref()),
        opt_uuid(n.object_id),
        text(&n.summary),
        Value::Int(n.created_at),
        opt_int(n.read_at),
        opt_text(n.email_state.as_deref()),
        Value::Int(n.email_attempts),
        opt_int(n.email_next_at),
        opt_text(n.email_error.as_deref()),
    ]
}

fn ids(rows: &[Vec<Value>]) -> StorageResult<Vec<Uuid>> {
    rows.iter().map(|r| Cols(r.iter()).uuid()).collect()
}

impl<C: Conn> LeadStore for SqlTx<C> {
    fn insert_lead_form(&mut self, form: &LeadForm) -> StorageResult<()> {
        self.conn.exec(
            &format!("INSERT INTO lead_forms ({FORM_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"),
            &form_params(form)?,
        )?;
        Ok(())
    }

    fn update_lead_form(&mut self, form: &LeadForm) -> StorageResult<()> {
        self.conn.exec(
            "UPDATE lead_forms SET name = $2, fields = $3, redirect_url = $4, created_by = $5, created_at = $6, \
             archived_at = $7, submissions = $8, last_submission_at = $9 WHERE id = $1",
            &form_params(form)?,
        )?;
        Ok(())
    }

    fn get_lead_form(&mut self, id: Uuid) -> StorageResult<Option<LeadForm>> {
        let rows = self
            .conn
            .rows(&format!("SELECT {FORM_COLUMNS} FROM lead_forms WHERE id = $1"), &[text(&id.to_string())])?;
        rows.first().map(|r| form_from_row(r)).transpose()
    }

    fn list_lead_forms(&mut self) -> StorageResult<Vec<LeadForm>> {
        let rows = self.conn.rows(&format!("SELECT {FORM_COLUMNS} FROM lead_forms ORDER BY created_at, id"), &[])?;
        rows.iter().map(|r| form_from_row(r)).collect()
    }

    fn count_lead_form_post(&mut self, id: Uuid, at: i64) -> StorageResult<bool> {
        let n = self.conn.exec(
            "UPDATE lead_forms SET submissions = submissions + 1, last_submission_at = $2 \
             WHERE id = $1 AND archived_at IS NULL",
            &[text(&id.to_string()), Value::Int(at)],
        )?;
        Ok(n == 1)
    }

    fn lock_lead_rotation(&mut self) -> StorageResult<()> {
        if self.conn.backend() == Backend::Postgres {
            self.conn.exec("SELECT pg_advisory_xact_lock(7265347825)", &[])?;
        }
        Ok(())
    }

    fn lead_rotation(&mut self, pool: &str) -> StorageResult<Vec<(Uuid, i64)>> {
        let rows = self.conn.rows("SELECT coworker_id, assigned FROM lead_rotation WHERE pool = $1", &[text(pool)])?;
        rows.iter()
            .map(|r| {
                let mut c = Cols(r.iter());
                Ok((c.uuid()?, c.int()?))
            })
            .collect()
    }

    fn set_lead_rotation(&mut self, pool: &str, coworker: Uuid, assigned: i64) -> StorageResult<()> {
        self.conn.exec(
            "INSERT INTO lead_rotation (pool, coworker_id, assigned) VALUES ($1, $2, $3) \
             ON CONFLICT (pool, coworker_id) DO UPDATE SET assigned = $3",
            &[text(pool), text(&coworker.to_string()), Value::Int(assigned)],
        )?;
        Ok(())
    }

    fn holds_open_leads(&mut self, owner: Uuid, at_least: i64) -> StorageResult<bool> {
        let rows = self.conn.rows(
            &format!(
                "SELECT COUNT(*) FROM (SELECT 1 FROM leads WHERE owner_id = $1 AND {OPEN} AND deleted_at IS NULL \
                 LIMIT {}) held",
                at_least.max(0)
            ),
            &[text(&owner.to_string())],
        )?;
        Ok(rows.first().map(|r| Cols(r.iter()).int()).transpose()?.unwrap_or(0) >= at_least)
    }

    fn untouched_leads(&mut self, column: &str, before: i64, limit: u32) -> StorageResult<Vec<Uuid>> {
        // Escalation waits on the SLA (once); the re-route on its own moment.
        let (column, once) = match column {
            "reroute_at" => ("reroute_at", ""),
            _ => ("sla_due_at", " AND escalated_at IS NULL"),
        };
        let rows = self.conn.rows(
            &format!(
                "SELECT id FROM leads WHERE first_touch_at IS NULL AND deleted_at IS NULL{once} \
                 AND {column} <= $1 AND {OPEN} ORDER BY {column}, id LIMIT {limit}"
            ),
            &[Value::Int(before)],
        )?;
        ids(&rows)
    }

    fn open_lead_ids(&mut self, owner: Uuid) -> StorageResult<Vec<Uuid>> {
        let rows = self.conn.rows(
            &format!("SELECT id FROM leads WHERE owner_id = $1 AND {OPEN} AND deleted_at IS NULL ORDER BY id"),
            &[text(&owner.to_string())],
        )?;
        ids(&rows)
    }

    fn lead_clocks(&mut self, since: i64) -> StorageResult<Vec<LeadClock>> {
        let rows = self.conn.rows(
            "SELECT id, owner_id, source, status, routed_at, sla_due_at, first_touch_at FROM leads \
             WHERE routed_at >= $1 AND deleted_at IS NULL",
            &[Value::Int(since)],
        )?;
        rows.iter()
            .map(|r| {
                let mut c = Cols(r.iter());
                Ok(LeadClock {
                    id: c.uuid()?,
                    owner_id: c.opt_uuid()?,
                    source: c.opt_text()?,
                    status: c.text()?,
                    routed_at: c.int()?,
                    sla_due_at: c.opt_int()?,
                    first_touch_at: c.opt_int()?,
                })
            })
            .collect()
    }

    fn duplicate_leads(&mut self, limit: u32) -> StorageResult<Vec<(Uuid, Uuid)>> {
        let rows = self.conn.rows(
            &format!(
                "SELECT id, duplicate_of FROM leads WHERE duplicate_of IS NOT NULL AND deleted_at IS NULL \
                 ORDER BY created_at DESC, id DESC LIMIT {limit}"
            ),
            &[],
        )?;
        rows.iter()
            .map(|r| {
                let mut c = Cols(r.iter());
                Ok((c.uuid()?, c.uuid()?))
            })
            .collect()
    }

    fn reengagement_leads(&mut self, limit: u32) -> StorageResult<Vec<Uuid>> {
        let rows = self.conn.rows(
            &format!(
                "SELECT id FROM leads WHERE previous_owner_id IS NOT NULL AND first_touch_at IS NULL \
                 AND deleted_at IS NULL AND {OPEN} ORDER BY routed_at, id LIMIT {limit}"
            ),
            &[],
        )?;
        ids(&rows)
    }

    fn insert_notification(&mut self, n: &Notification) -> StorageResult<()> {
        self.conn.exec(
            &format!(
                "INSERT INTO notifications ({NOTE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
            ),
            &note_params(n),
        )?;
        Ok(())
    }

    fn update_notification_email(&mut self, n: &Notification) -> StorageResult<()> {
        // Only the email's columns: being read is the co-worker's, and may change meanwhile.
        self.conn.exec(
            "UPDATE notifications SET email_state = $2, email_attempts = $3, email_next_at = $4, email_error = $5 \
             WHERE id = $1",
            &[
                text(&n.id.to_string()),
                opt_text(n.email_state.as_deref()),
                Value::Int(n.email_attempts),
                opt_int(n.email_next_at),
                opt_text(n.email_error.as_deref()),
            ],
        )?;
        Ok(())
    }

    fn list_notifications(&mut self, coworker: Uuid, limit: u32) -> StorageResult<Vec<Notification>> {
        let rows = self.conn.rows(
            &format!(
                "SELECT {NOTE_COLUMNS} FROM notifications WHERE coworker_id = $1 \
                 ORDER BY created_at DESC, id DESC LIMIT {limit}"
            ),
            &[text(&coworker.to_string())],
        )?;
        rows.iter().map(|r| note_from_row(r)).collect()
    }

    fn unread_notifications(&mut self, coworker: Uuid) -> StorageResult<i64> {
        let rows = self.conn.rows(
            "SELECT COUNT(*) FROM notifications WHERE coworker_id = $1 AND read_at IS NULL",
            &[text(&coworker.to_string())],
        )?;
        rows.first().map(|r| Cols(r.iter()).int()).unwrap_or(Ok(0))
    }

    fn mark_notifications_read(&mut self, coworker: Uuid, at: i64) -> StorageResult<usize> {
        let n = self.conn.exec(
            "UPDATE notifications SET read_at = $2 WHERE coworker_id = $1 AND read_at IS NULL",
            &[text(&coworker.to_string()), Value::Int(at)],
        )?;
        Ok(n as usize)
    }

    fn due_notification_emails(&mut self, now: i64, limit: u32) -> StorageResult<Vec<Notification>> {
        let lock = match self.conn.backend() {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let rows = self.conn.rows(
            &format!(
                "SELECT {NOTE_COLUMNS} FROM notifications WHERE email_state = 'pending' AND email_next_at <= $1 \
                 ORDER BY email_next_at, id LIMIT {limit}{lock}"
            ),
            &[Value::Int(now)],
        )?;
        rows.iter().map(|r| note_from_row(r)).collect()
    }
}
