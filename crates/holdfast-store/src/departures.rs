//! Departure cases and the confidentiality notice's versions.

use std::collections::BTreeMap;

use holdfast_core::departure::{CaseStatus, Departure, Reason, Source, StepDone};
use holdfast_core::record::Value;
use holdfast_core::storage::{DepartureStore, NoticeVersion, StorageResult};
use uuid::Uuid;

use crate::codec::{Cols, bad_row, opt_int, opt_text, opt_uuid};
use crate::conn::{Backend, Conn};
use crate::tx::SqlTx;

const COLUMNS: &str = "id, coworker_id, status, source, reason, notice_date, last_day, access_ends_at, destination, \
    good_terms, opened_by, opened_at, steps, closed_at";

fn text(s: &str) -> Value {
    Value::Text(s.to_string())
}

fn steps_text(steps: &BTreeMap<String, StepDone>) -> StorageResult<Value> {
    serde_json::to_string(steps).map(Value::Text).map_err(|e| holdfast_core::StorageError::Other(e.to_string()))
}

fn from_row(row: &[Value]) -> StorageResult<Departure> {
    let mut c = Cols(row.iter());
    Ok(Departure {
        id: c.uuid()?,
        coworker_id: c.uuid()?,
        status: CaseStatus::parse(&c.text()?).ok_or_else(|| bad_row("departure status"))?,
        source: Source::parse(&c.text()?).ok_or_else(|| bad_row("departure source"))?,
        reason: Reason::parse(&c.text()?).map_err(|_| bad_row("departure reason"))?,
        notice_date: c.text()?,
        last_day: c.text()?,
        access_ends_at: c.int()?,
        destination: c.opt_text()?,
        good_terms: c.int()? != 0,
        opened_by: c.opt_uuid()?,
        opened_at: c.int()?,
        steps: serde_json::from_str(&c.text()?).map_err(|_| bad_row("departure steps"))?,
        closed_at: c.opt_int()?,
    })
}

impl<C: Conn> DepartureStore for SqlTx<C> {
    fn insert_departure(&mut self, d: &Departure) -> StorageResult<()> {
        self.conn.exec(
            &format!(
                "INSERT INTO departures ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
            ),
            &[
                text(&d.id.to_string()),
                text(&d.coworker_id.to_string()),
                text(d.status.as_str()),
                text(d.source.as_str()),
                text(d.reason.as_str()),
                text(&d.notice_date),
                text(&d.last_day),
                Value::Int(d.access_ends_at),
                opt_text(d.destination.as_deref()),
                Value::Int(i64::from(d.good_terms)),
                opt_uuid(d.opened_by),
                Value::Int(d.opened_at),
                steps_text(&d.steps)?,
                opt_int(d.closed_at),
            ],
        )?;
        Ok(())
    }

    fn update_departure(&mut self, d: &Departure) -> StorageResult<()> {
        self.conn.exec(
            "UPDATE departures SET status = $2, reason = $3, notice_date = $4, last_day = $5, access_ends_at = $6, \
             destination = $7, good_terms = $8, steps = $9, closed_at = $10 WHERE id = $1",
            &[
                text(&d.id.to_string()),
                text(d.status.as_str()),
                text(d.reason.as_str()),
                text(&d.notice_date),
                text(&d.last_day),
                Value::Int(d.access_ends_at),
                opt_text(d.destination.as_deref()),
                Value::Int(i64::from(d.good_terms)),
                steps_text(&d.steps)?,
                opt_int(d.closed_at),
            ],
        )?;
        Ok(())
    }

    fn get_departure(&mut self, id: Uuid) -> StorageResult<Option<Departure>> {
        let rows =
            self.conn.rows(&format!("SELECT {COLUMNS} FROM departures WHERE id = $1"), &[text(&id.to_string())])?;
        rows.first().map(|r| from_row(r)).transpose()
    }

    fn list_departures(
        &mut self,
        coworkers: Option<&[Uuid]>,
        status: Option<CaseStatus>,
    ) -> StorageResult<Vec<Departure>> {
        let mut params = Vec::new();
        let mut sql = format!("SELECT {COLUMNS} FROM departures WHERE 1 = 1");
        if let Some(s) = status {
            params.push(text(s.as_str()));
            sql.push_str(&format!(" AND status = ${}", params.len()));
        }
        match coworkers {
            None => {}
            Some([]) => sql.push_str(" AND 1 = 0"),
            Some(ids) => {
                let marks: Vec<String> = (0..ids.len()).map(|i| format!("${}", params.len() + 1 + i)).collect();
                params.extend(ids.iter().map(|u| text(&u.to_string())));
                sql.push_str(&format!(" AND coworker_id IN ({})", marks.join(", ")));
            }
        }
        sql.push_str(" ORDER BY opened_at DESC, id DESC");
        self.conn.rows(&sql, &params)?.iter().map(|r| from_row(r)).collect()
    }

    fn due_departures(&mut self, now: i64) -> StorageResult<Vec<Departure>> {
        let lock = match self.conn.backend() {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let rows = self.conn.rows(
            &format!(
                "SELECT {COLUMNS} FROM departures WHERE status = 'open' AND access_ends_at <= $1 \
                 ORDER BY access_ends_at, id{lock}"
            ),
            &[Value::Int(now)],
        )?;
        rows.iter().map(|r| from_row(r)).collect()
    }

    fn keep_notice_version(&mut self, sha256: &str, body: &str, at: i64, by: Option<Uuid>) -> StorageResult<i64> {
        let found = self.conn.rows("SELECT version FROM notice_versions WHERE sha256 = $1", &[text(sha256)])?;
        if let Some(row) = found.first() {
            return Cols(row.iter()).int();
        }
        let next = self.conn.rows("SELECT coalesce(max(version), 0) + 1 FROM notice_versions", &[])?;
        let version = next.first().map(|r| Cols(r.iter()).int()).transpose()?.unwrap_or(1);
        self.conn.exec(
            "INSERT INTO notice_versions (version, sha256, text, published_at, published_by) VALUES ($1, $2, $3, $4, $5)",
            &[Value::Int(version), text(sha256), text(body), Value::Int(at), opt_uuid(by)],
        )?;
        Ok(version)
    }

    fn notice_versions(&mut self) -> StorageResult<Vec<NoticeVersion>> {
        let rows = self.conn.rows(
            "SELECT version, sha256, text, published_at, published_by FROM notice_versions ORDER BY version",
            &[],
        )?;
        rows.iter()
            .map(|r| {
                let mut c = Cols(r.iter());
                Ok(NoticeVersion {
                    version: c.int()?,
                    sha256: c.text()?,
                    text: c.text()?,
                    published_at: c.int()?,
                    published_by: c.opt_uuid()?,
                })
            })
            .collect()
    }
}
