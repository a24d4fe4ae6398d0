//! Leak tracing: the canaries placed in exports and the exports' fingerprints.

use holdfast_core::StorageError;
use holdfast_core::leak::PackedMarks;
use holdfast_core::record::Value;
use holdfast_core::storage::{Canary, Fingerprint, LeakStore, StorageResult};
use uuid::Uuid;

use crate::codec::{Cols, bad_row, opt_text, opt_uuid};
use crate::conn::Conn;
use crate::tx::SqlTx;

const CANARY_COLUMNS: &str =
    "email, phone, phone_digits, first_name, last_name, record_id, export_id, kind, created_at";
const FINGERPRINT_COLUMNS: &str =
    "export_id, coworker_id, kind, format, door, columns, rows, canaries, created_at, marks";

fn text(s: &str) -> Value {
    Value::Text(s.to_string())
}

fn canary_from_row(row: &[Value]) -> StorageResult<Canary> {
    let mut c = Cols(row.iter());
    Ok(Canary {
        email: c.text()?,
        phone: c.opt_text()?,
        phone_digits: c.opt_text()?,
        first_name: c.text()?,
        last_name: c.text()?,
        record_id: c.uuid()?,
        export_id: c.uuid()?,
        kind: c.text()?,
        created_at: c.int()?,
    })
}

fn fingerprint_from_row(row: &[Value]) -> StorageResult<Fingerprint> {
    let mut c = Cols(row.iter());
    Ok(Fingerprint {
        export_id: c.uuid()?,
        coworker_id: c.opt_uuid()?,
        kind: c.text()?,
        format: c.text()?,
        door: c.text()?,
        columns: serde_json::from_str(&c.text()?).map_err(|_| bad_row("fingerprint columns"))?,
        rows: c.int()?,
        canaries: c.int()?,
        created_at: c.int()?,
        marks: c.text()?,
    })
}

impl<C: Conn> LeakStore for SqlTx<C> {
    fn insert_canary(&mut self, c: &Canary) -> StorageResult<()> {
        self.conn.exec(
            &format!(
                "INSERT INTO canaries ({CANARY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                 ON CONFLICT (email, export_id) DO NOTHING"
            ),
            &[
                text(&c.email),
                opt_text(c.phone.as_deref()),
                opt_text(c.phone_digits.as_deref()),
                text(&c.first_name),
                text(&c.last_name),
                text(&c.record_id.to_string()),
                text(&c.export_id.to_string()),
                text(&c.kind),
                Value::Int(c.created_at),
            ],
        )?;
        Ok(())
    }

    fn find_canary(&mut self, email: Option<&str>, phone_digits: Option<&str>) -> StorageResult<Option<Canary>> {
        let rows = self.conn.rows(
            &format!(
                "SELECT {CANARY_COLUMNS} FROM canaries WHERE email = $1 OR phone_digits = $2 \
                 ORDER BY created_at DESC LIMIT 1"
            ),
            &[opt_text(email), opt_text(phone_digits)],
        )?;
        rows.first().map(|r| canary_from_row(r)).transpose()
    }

    fn canaries_with_emails(&mut self, emails: &[String]) -> StorageResult<Vec<Canary>> {
        let mut out = Vec::new();
        for chunk in emails.chunks(500) {
            let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let params: Vec<Value> = chunk.iter().map(|e| text(e)).collect();
            let rows = self.conn.rows(
                &format!("SELECT {CANARY_COLUMNS} FROM canaries WHERE email IN ({})", marks.join(", ")),
                &params,
            )?;
            for r in &rows {
                out.push(canary_from_row(r)?);
            }
        }
        Ok(out)
    }

    fn all_canaries(&mut self) -> StorageResult<Vec<Canary>> {
        let rows = self.conn.rows(&format!("SELECT {CANARY_COLUMNS} FROM canaries ORDER BY created_at, email"), &[])?;
        rows.iter().map(|r| canary_from_row(r)).collect()
    }

    fn canaries_of_export(&mut self, export_id: Uuid) -> StorageResult<Vec<Canary>> {
        let rows = self.conn.rows(
            &format!("SELECT {CANARY_COLUMNS} FROM canaries WHERE export_id = $1 ORDER BY email"),
            &[text(&export_id.to_string())],
        )?;
        rows.iter().map(|r| canary_from_row(r)).collect()
    }

    fn insert_fingerprint(&mut self, f: &Fingerprint, marks: &PackedMarks) -> StorageResult<()> {
        let columns = serde_json::to_string(&f.columns).map_err(|e| StorageError::Other(e.to_string()))?;
        self.conn.exec(
            &format!(
                "INSERT INTO export_fingerprints ({FINGERPRINT_COLUMNS}) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
            ),
            &[
                text(&f.export_id.to_string()),
                opt_uuid(f.coworker_id),
                text(&f.kind),
                text(&f.format),
                text(&f.door),
                Value::Text(columns),
                Value::Int(f.rows),
                Value::Int(f.canaries),
                Value::Int(f.created_at),
                text(&f.marks),
            ],
        )?;
        let export_id = f.export_id.to_string();
        for (part, text) in (1i64..).zip(marks.parts_as_text()) {
            self.conn.exec(
                "INSERT INTO export_fingerprint_parts (export_id, part, marks) VALUES ($1, $2, $3)",
                &[Value::Text(export_id.clone()), Value::Int(part), Value::Text(text)],
            )?;
        }
        Ok(())
    }

    fn get_fingerprint(&mut self, export_id: Uuid) -> StorageResult<Option<Fingerprint>> {
        let rows = self.conn.rows(
            &format!("SELECT {FINGERPRINT_COLUMNS} FROM export_fingerprints WHERE export_id = $1"),
            &[text(&export_id.to_string())],
        )?;
        let mut found = rows.iter().map(|r| fingerprint_from_row(r)).collect::<StorageResult<Vec<_>>>()?;
        self.join_fingerprint_parts(&mut found)?;
        Ok(found.pop())
    }

    fn fingerprint_sizes(&mut self) -> StorageResult<Vec<(Uuid, i64, Option<Uuid>)>> {
        let rows = self
            .conn
            .rows("SELECT export_id, rows + canaries, coworker_id FROM export_fingerprints ORDER BY export_id", &[])?;
        rows.iter()
            .map(|r| {
                let mut c = Cols(r.iter());
                Ok((c.uuid()?, c.int()?, c.opt_uuid()?))
            })
            .collect()
    }

    fn fingerprints(&mut self, export_ids: &[Uuid]) -> StorageResult<Vec<Fingerprint>> {
        let mut out = Vec::with_capacity(export_ids.len());
        for chunk in export_ids.chunks(500) {
            let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let params: Vec<Value> = chunk.iter().map(|id| text(&id.to_string())).collect();
            let rows = self.conn.rows(
                &format!(
                    "SELECT {FINGERPRINT_COLUMNS} FROM export_fingerprints WHERE export_id IN ({})",
                    marks.join(", ")
                ),
                &params,
            )?;
            for r in &rows {
                out.push(fingerprint_from_row(r)?);
            }
        }
        self.join_fingerprint_parts(&mut out)?;
        Ok(out)
    }

    fn count_fingerprints(&mut self) -> StorageResult<i64> {
        let rows = self.conn.rows("SELECT COUNT(*) FROM export_fingerprints", &[])?;
        Ok(rows.first().map(|r| Cols(r.iter()).int()).transpose()?.unwrap_or(0))
    }
}

impl<C: Conn> SqlTx<C> {
    /// The marks of the fingerprints among `found` kept in parts, put in their `marks`.
    fn join_fingerprint_parts(&mut self, found: &mut [Fingerprint]) -> StorageResult<()> {
        let in_parts: Vec<Value> =
            found.iter().filter(|f| f.marks.is_empty()).map(|f| text(&f.export_id.to_string())).collect();
        let at: std::collections::HashMap<Uuid, usize> =
            found.iter().enumerate().map(|(i, f)| (f.export_id, i)).collect();
        for chunk in in_parts.chunks(500) {
            let ph: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let rows = self.conn.rows(
                &format!(
                    "SELECT export_id, marks FROM export_fingerprint_parts WHERE export_id IN ({}) \
                     ORDER BY export_id, part",
                    ph.join(", ")
                ),
                chunk,
            )?;
            for r in &rows {
                let mut c = Cols(r.iter());
                let (id, marks) = (c.uuid()?, c.text()?);
                if let Some(f) = at.get(&id).and_then(|i| found.get_mut(*i)) {
                    f.marks.push_str(&marks);
                }
            }
        }
        Ok(())
    }
}
