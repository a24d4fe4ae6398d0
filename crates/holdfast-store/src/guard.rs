//! The guard's tables: exports asked for, alerts, and alert deliveries.

use holdfast_core::guard::{Alert, AlertDelivery, AlertState, ExportFormat, ExportRequest, ExportStatus, Severity};
use holdfast_core::protocol::{ApprovalStatus, ContactApproval};
use holdfast_core::record::Value;
use holdfast_core::storage::{GuardStore, StorageResult};
use uuid::Uuid;

use crate::codec::{Cols, bad_row, opt_int, opt_text, opt_uuid};
use crate::conn::{Backend, Conn};
use crate::tx::SqlTx;

const EXPORT_COLUMNS: &str = "id, coworker_id, kind, query, row_limit, matched, columns, format, reason, over_limit, status, \
    created_at, decided_by, decided_at, decision_reason, expires_at, downloaded_at, file_rows, sha256";
const ALERT_COLUMNS: &str = "id, coworker_id, kind, severity, state, summary, details, event_ids, owner_id, \
    state_reason, created_at, updated_at, dedupe_key, recipient_ids";
const APPROVAL_COLUMNS: &str = "id, contact_id, account_id, requested_by, reason, status, decided_by, decided_at, \
    decision_reason, created_at, expires_at";
const DELIVERY_COLUMNS: &str =
    "id, alert_id, channel, target, payload, attempts, next_at, delivered_at, failed_at, last_error, created_at";

fn text(s: &str) -> Value {
    Value::Text(s.to_string())
}

fn id(u: Uuid) -> Value {
    Value::Text(u.to_string())
}

fn json_text(v: &impl serde::Serialize) -> StorageResult<Value> {
    serde_json::to_string(v).map(Value::Text).map_err(|e| holdfast_core::StorageError::Other(e.to_string()))
}

fn json_col<T: serde::de::DeserializeOwned>(c: &mut Cols<'_>) -> StorageResult<T> {
    serde_json::from_str(&c.text()?).map_err(|_| bad_row("JSON"))
}

/// ` AND status = … AND coworker_id IN (…)` for the status given (any when `None`) and these
/// co-workers (any when `None`), its values appended to `params`.
fn narrowed(
    (status_column, status): (&str, Option<&str>),
    coworkers: Option<&[Uuid]>,
    params: &mut Vec<Value>,
) -> String {
    narrowed_or_addressed((status_column, status), coworkers, None, params)
}

/// As [`narrowed`], and also the rows whose `recipient_ids` name `addressed_to` (alerts).
fn narrowed_or_addressed(
    (status_column, status): (&str, Option<&str>),
    coworkers: Option<&[Uuid]>,
    addressed_to: Option<Uuid>,
    params: &mut Vec<Value>,
) -> String {
    let mut sql = String::new();
    if let Some(s) = status {
        params.push(text(s));
        sql.push_str(&format!(" AND {status_column} = ${}", params.len()));
    }
    let about = match coworkers {
        None => return sql,
        Some([]) => "1 = 0".to_string(),
        Some(ids) => {
            let marks: Vec<String> = (0..ids.len()).map(|i| format!("${}", params.len() + 1 + i)).collect();
            params.extend(ids.iter().map(|u| id(*u)));
            format!("coworker_id IN ({})", marks.join(", "))
        }
    };
    match addressed_to {
        // ids are JSON strings in the list, so the quoted id matches exactly one entry
        Some(me) => {
            params.push(text(&format!("%\"{me}\"%")));
            sql.push_str(&format!(" AND ({about} OR recipient_ids LIKE ${})", params.len()));
        }
        None => sql.push_str(&format!(" AND {about}")),
    }
    sql
}

/// The newest `limit` rows of `table` (by `created_at`), narrowed as [`narrowed`] says.
fn newest(
    conn: &mut impl Conn,
    table: &str,
    columns: &str,
    status: (&str, Option<&str>),
    coworkers: Option<&[Uuid]>,
    limit: u32,
) -> StorageResult<Vec<Vec<Value>>> {
    let mut params = vec![Value::Int(i64::from(limit))];
    let filter = narrowed(status, coworkers, &mut params);
    conn.rows(
        &format!("SELECT {columns} FROM {table} WHERE 1 = 1{filter} ORDER BY created_at DESC, id DESC LIMIT $1"),
        &params,
    )
}

fn export_from_row(row: &[Value]) -> StorageResult<ExportRequest> {
    let mut c = Cols(row.iter());
    Ok(ExportRequest {
        id: c.uuid()?,
        coworker_id: c.uuid()?,
        kind: c.text()?,
        query: json_col(&mut c)?,
        row_limit: c.int()?,
        matched: c.int()?,
        columns: json_col(&mut c)?,
        format: ExportFormat::parse(&c.text()?).map_err(|_| bad_row("export format"))?,
        reason: c.opt_text()?,
        over_limit: c.opt_text()?,
        status: ExportStatus::parse(&c.text()?).ok_or_else(|| bad_row("export status"))?,
        created_at: c.int()?,
        decided_by: c.opt_uuid()?,
        decided_at: c.opt_int()?,
        decision_reason: c.opt_text()?,
        expires_at: c.opt_int()?,
        downloaded_at: c.opt_int()?,
        rows: c.opt_int()?,
        sha256: c.opt_text()?,
    })
}

fn alert_from_row(row: &[Value]) -> StorageResult<Alert> {
    let mut c = Cols(row.iter());
    Ok(Alert {
        id: c.uuid()?,
        coworker_id: c.uuid()?,
        kind: c.text()?,
        severity: Severity::parse(&c.text()?).ok_or_else(|| bad_row("severity"))?,
        state: AlertState::parse(&c.text()?).map_err(|_| bad_row("alert state"))?,
        summary: c.text()?,
        details: json_col(&mut c)?,
        event_ids: json_col(&mut c)?,
        owner_id: c.opt_uuid()?,
        state_reason: c.opt_text()?,
        created_at: c.int()?,
        updated_at: c.int()?,
        dedupe_key: c.text()?,
        recipient_ids: json_col(&mut c)?,
    })
}

fn approval_from_row(row: &[Value]) -> StorageResult<ContactApproval> {
    let mut c = Cols(row.iter());
    Ok(ContactApproval {
        id: c.uuid()?,
        contact_id: c.uuid()?,
        account_id: c.opt_uuid()?,
        requested_by: c.uuid()?,
        reason: c.text()?,
        status: ApprovalStatus::parse(&c.text()?).ok_or_else(|| bad_row("approval status"))?,
        decided_by: c.opt_uuid()?,
        decided_at: c.opt_int()?,
        decision_reason: c.opt_text()?,
        created_at: c.int()?,
        expires_at: c.opt_int()?,
    })
}

fn delivery_from_row(row: &[Value]) -> StorageResult<AlertDelivery> {
    let mut c = Cols(row.iter());
    Ok(AlertDelivery {
        id: c.uuid()?,
        alert_id: c.uuid()?,
        channel: c.text()?,
        target: c.text()?,
        payload: c.text()?,
        attempts: c.int()?,
        next_at: c.int()?,
        delivered_at: c.opt_int()?,
        failed_at: c.opt_int()?,
        last_error: c.opt_text()?,
        created_at: c.int()?,
    })
}

impl<C: Conn> GuardStore for SqlTx<C> {
    fn take_read_turn(&mut self, coworker: Uuid, holder: Uuid, now: i64, until: i64) -> StorageResult<bool> {
        let taken = self.conn.exec(
            "INSERT INTO read_turns (coworker_id, holder, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (coworker_id) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at \
             WHERE read_turns.expires_at < $4",
            &[id(coworker), id(holder), Value::Int(until), Value::Int(now)],
        )?;
        Ok(taken == 1)
    }

    fn end_read_turn(&mut self, coworker: Uuid, holder: Uuid) -> StorageResult<()> {
        self.conn.exec("DELETE FROM read_turns WHERE coworker_id = $1 AND holder = $2", &[id(coworker), id(holder)])?;
        Ok(())
    }

    fn take_job_lease(&mut self, job: &str, holder: Uuid, now: i64, until: i64) -> StorageResult<bool> {
        let taken = self.conn.exec(
            "INSERT INTO job_leases (job, holder, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (job) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at \
             WHERE job_leases.expires_at < $4",
            &[Value::Text(job.into()), id(holder), Value::Int(until), Value::Int(now)],
        )?;
        Ok(taken == 1)
    }

    fn end_job_lease(&mut self, job: &str, holder: Uuid) -> StorageResult<()> {
        self.conn
            .exec("DELETE FROM job_leases WHERE job = $1 AND holder = $2", &[Value::Text(job.into()), id(holder)])?;
        Ok(())
    }

    fn insert_export(&mut self, e: &ExportRequest) -> StorageResult<()> {
        self.conn.exec(
            &format!(
                "INSERT INTO exports ({EXPORT_COLUMNS}) VALUES \
                 ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)"
            ),
            &[
                id(e.id),
                id(e.coworker_id),
                text(&e.kind),
                json_text(&e.query)?,
                Value::Int(e.row_limit),
                Value::Int(e.matched),
                json_text(&e.columns)?,
                text(e.format.as_str()),
                opt_text(e.reason.as_deref()),
                opt_text(e.over_limit.as_deref()),
                text(e.status.as_str()),
                Value::Int(e.created_at),
                opt_uuid(e.decided_by),
                opt_int(e.decided_at),
                opt_text(e.decision_reason.as_deref()),
                opt_int(e.expires_at),
                opt_int(e.downloaded_at),
                opt_int(e.rows),
                opt_text(e.sha256.as_deref()),
            ],
        )?;
        Ok(())
    }

    fn get_export(&mut self, export: Uuid) -> StorageResult<Option<ExportRequest>> {
        let rows = self.conn.rows(&format!("SELECT {EXPORT_COLUMNS} FROM exports WHERE id = $1"), &[id(export)])?;
        rows.first().map(|r| export_from_row(r)).transpose()
    }

    fn update_export(&mut self, e: &ExportRequest) -> StorageResult<()> {
        self.conn.exec(
            "UPDATE exports SET status = $2, decided_by = $3, decided_at = $4, decision_reason = $5, \
             expires_at = $6, downloaded_at = $7, file_rows = $8, sha256 = $9 WHERE id = $1",
            &[
                id(e.id),
                text(e.status.as_str()),
                opt_uuid(e.decided_by),
                opt_int(e.decided_at),
                opt_text(e.decision_reason.as_deref()),
                opt_int(e.expires_at),
                opt_int(e.downloaded_at),
                opt_int(e.rows),
                opt_text(e.sha256.as_deref()),
            ],
        )?;
        Ok(())
    }

    fn claim_export_download(&mut self, export: Uuid, now: i64) -> StorageResult<bool> {
        let n = self.conn.exec(
            "UPDATE exports SET status = 'downloaded', downloaded_at = $2 \
             WHERE id = $1 AND status = 'ready' AND downloaded_at IS NULL AND (expires_at IS NULL OR expires_at >= $2)",
            &[id(export), Value::Int(now)],
        )?;
        Ok(n == 1)
    }

    fn list_exports(
        &mut self,
        coworkers: Option<&[Uuid]>,
        status: Option<ExportStatus>,
        limit: u32,
    ) -> StorageResult<Vec<ExportRequest>> {
        let rows = newest(
            &mut self.conn,
            "exports",
            EXPORT_COLUMNS,
            ("status", status.map(|s| s.as_str())),
            coworkers,
            limit,
        )?;
        rows.iter().map(|r| export_from_row(r)).collect()
    }

    fn insert_alert(&mut self, a: &Alert) -> StorageResult<bool> {
        let n = self.conn.exec(
            &format!(
                "INSERT INTO alerts ({ALERT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
                 ON CONFLICT (dedupe_key) DO NOTHING"
            ),
            &[
                id(a.id),
                id(a.coworker_id),
                text(&a.kind),
                text(a.severity.as_str()),
                text(a.state.as_str()),
                text(&a.summary),
                json_text(&a.details)?,
                json_text(&a.event_ids)?,
                opt_uuid(a.owner_id),
                opt_text(a.state_reason.as_deref()),
                Value::Int(a.created_at),
                Value::Int(a.updated_at),
                text(&a.dedupe_key),
                json_text(&a.recipient_ids)?,
            ],
        )?;
        Ok(n == 1)
    }

    fn get_alert(&mut self, alert: Uuid) -> StorageResult<Option<Alert>> {
        let rows = self.conn.rows(&format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE id = $1"), &[id(alert)])?;
        rows.first().map(|r| alert_from_row(r)).transpose()
    }

    fn update_alert(&mut self, a: &Alert) -> StorageResult<()> {
        self.conn.exec(
            "UPDATE alerts SET state = $2, owner_id = $3, state_reason = $4, updated_at = $5 WHERE id = $1",
            &[
                id(a.id),
                text(a.state.as_str()),
                opt_uuid(a.owner_id),
                opt_text(a.state_reason.as_deref()),
                Value::Int(a.updated_at),
            ],
        )?;
        Ok(())
    }

    fn list_alerts(
        &mut self,
        coworkers: Option<&[Uuid]>,
        addressed_to: Option<Uuid>,
        state: Option<AlertState>,
        limit: u32,
    ) -> StorageResult<Vec<Alert>> {
        let mut params = vec![Value::Int(i64::from(limit))];
        let filter = narrowed_or_addressed(("state", state.map(|s| s.as_str())), coworkers, addressed_to, &mut params);
        let rows = self.conn.rows(
            &format!(
                "SELECT {ALERT_COLUMNS} FROM alerts WHERE 1 = 1{filter} ORDER BY created_at DESC, id DESC LIMIT $1"
            ),
            &params,
        )?;
        rows.iter().map(|r| alert_from_row(r)).collect()
    }

    fn count_alerts(
        &mut self,
        coworkers: Option<&[Uuid]>,
        addressed_to: Option<Uuid>,
        state: AlertState,
    ) -> StorageResult<i64> {
        let mut params = Vec::new();
        let filter = narrowed_or_addressed(("state", Some(state.as_str())), coworkers, addressed_to, &mut params);
        let rows = self.conn.rows(&format!("SELECT count(*) FROM alerts WHERE 1 = 1{filter}"), &params)?;
        Ok(rows.first().and_then(|r| r.first()).and_then(Value::as_int).unwrap_or(0))
    }

    fn insert_contact_approval(&mut self, a: &ContactApproval) -> StorageResult<()> {
        self.conn.exec(
            &format!(
                "INSERT INTO contact_approvals ({APPROVAL_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
            ),
            &[
                id(a.id),
                id(a.contact_id),
                opt_uuid(a.account_id),
                id(a.requested_by),
                text(&a.reason),
                text(a.status.as_str()),
                opt_uuid(a.decided_by),
                opt_int(a.decided_at),
                opt_text(a.decision_reason.as_deref()),
                Value::Int(a.created_at),
                opt_int(a.expires_at),
            ],
        )?;
        Ok(())
    }

    fn get_contact_approval(&mut self, approval: Uuid) -> StorageResult<Option<ContactApproval>> {
        let rows = self
            .conn
            .rows(&format!("SELECT {APPROVAL_COLUMNS} FROM contact_approvals WHERE id = $1"), &[id(approval)])?;
        rows.first().map(|r| approval_from_row(r)).transpose()
    }

    fn update_contact_approval(&mut self, a: &ContactApproval) -> StorageResult<()> {
        self.conn.exec(
            "UPDATE contact_approvals SET status = $2, decided_by = $3, decided_at = $4, decision_reason = $5, \
             expires_at = $6 WHERE id = $1",
            &[
                id(a.id),
                text(a.status.as_str()),
                opt_uuid(a.decided_by),
                opt_int(a.decided_at),
                opt_text(a.decision_reason.as_deref()),
                opt_int(a.expires_at),
            ],
        )?;
        Ok(())
    }

    fn list_contact_approvals(
        &mut self,
        requested_by: Option<Uuid>,
        status: Option<ApprovalStatus>,
        limit: u32,
    ) -> StorageResult<Vec<ContactApproval>> {
        let mut params = vec![Value::Int(i64::from(limit))];
        let mut filter = String::new();
        if let Some(who) = requested_by {
            params.push(id(who));
            filter.push_str(&format!(" AND requested_by = ${}", params.len()));
        }
        if let Some(s) = status {
            params.push(text(s.as_str()));
            filter.push_str(&format!(" AND status = ${}", params.len()));
        }
        let rows = self.conn.rows(
            &format!(
                "SELECT {APPROVAL_COLUMNS} FROM contact_approvals WHERE 1 = 1{filter} \
                 ORDER BY created_at DESC, id DESC LIMIT $1"
            ),
            &params,
        )?;
        rows.iter().map(|r| approval_from_row(r)).collect()
    }

    fn insert_delivery(&mut self, d: &AlertDelivery) -> StorageResult<()> {
        self.conn.exec(
            &format!("INSERT INTO alert_deliveries ({DELIVERY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"),
            &[
                id(d.id),
                id(d.alert_id),
                text(&d.channel),
                text(&d.target),
                text(&d.payload),
                Value::Int(d.attempts),
                Value::Int(d.next_at),
                opt_int(d.delivered_at),
                opt_int(d.failed_at),
                opt_text(d.last_error.as_deref()),
                Value::Int(d.created_at),
            ],
        )?;
        Ok(())
    }

    fn due_deliveries(&mut self, now: i64, limit: u32) -> StorageResult<Vec<AlertDelivery>> {
        let lock = match self.conn.backend() {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let rows = self.conn.rows(
            &format!(
                "SELECT {DELIVERY_COLUMNS} FROM alert_deliveries \
                 WHERE delivered_at IS NULL AND failed_at IS NULL AND next_at <= $1 ORDER BY next_at LIMIT $2{lock}"
            ),
            &[Value::Int(now), Value::Int(i64::from(limit))],
        )?;
        rows.iter().map(|r| delivery_from_row(r)).collect()
    }

    fn update_delivery(&mut self, d: &AlertDelivery) -> StorageResult<()> {
        self.conn.exec(
            "UPDATE alert_deliveries SET attempts = $2, next_at = $3, delivered_at = $4, failed_at = $5, \
             last_error = $6 WHERE id = $1",
            &[
                id(d.id),
                Value::Int(d.attempts),
                Value::Int(d.next_at),
                opt_int(d.delivered_at),
                opt_int(d.failed_at),
                opt_text(d.last_error.as_deref()),
            ],
        )?;
        Ok(())
    }

    fn list_deliveries(&mut self, limit: u32) -> StorageResult<Vec<AlertDelivery>> {
        let rows = self.conn.rows(
            &format!("SELECT {DELIVERY_COLUMNS} FROM alert_deliveries ORDER BY created_at DESC, id DESC LIMIT $1"),
            &[Value::Int(i64::from(limit))],
        )?;
        rows.iter().map(|r| delivery_from_row(r)).collect()
    }
}
