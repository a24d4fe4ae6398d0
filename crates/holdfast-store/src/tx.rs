//! The storage operations the services use, written once over [`Conn`] for both backends.
//! SQL for customer records is generated from holdfast-core's record descriptors.

use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

use holdfast_core::StorageError;
use holdfast_core::audit::{Checkpoint, StoredEvent};
use holdfast_core::coworker::{CoWorker, Role, Seniority, Status, Team};
use holdfast_core::event::{EventFilter, NewEvent, SystemEvent};
use holdfast_core::record::{ALL_KINDS, FieldType, Record, RecordKind, Value};
use holdfast_core::storage::{Credential, DailyCount, Deleted, RecordQuery, StorageResult, Tx};
use uuid::Uuid;

use crate::conn::{Backend, Conn};

/// A transaction on either backend.
pub struct SqlTx<C: Conn> {
    pub conn: C,
}

const SYSTEM_COLUMNS: [&str; 6] = ["id", "created_at", "updated_at", "created_by", "updated_by", "deleted_at"];

/// Precomputed SQL for one record kind.
struct KindSql {
    columns: Vec<&'static str>,
    select: String,
    insert: String,
    update: String,
    by_id: String,
}

fn kind_sql(kind: &RecordKind) -> &'static KindSql {
    static ALL: OnceLock<HashMap<&'static str, KindSql>> = OnceLock::new();
    let all = ALL.get_or_init(|| {
        ALL_KINDS
            .iter()
            .map(|k| {
                let mut columns: Vec<&'static str> = SYSTEM_COLUMNS.to_vec();
                columns.extend(k.columns().map(|f| f.name));
                let quoted: Vec<String> = columns.iter().map(|c| format!("\"{c}\"")).collect();
                let select = format!("SELECT {} FROM {}", quoted.join(", "), k.plural);
                let placeholders: Vec<String> = (1..=columns.len() + 1).map(|i| format!("${i}")).collect();
                let insert = format!(
                    "INSERT INTO {} ({}, search_text) VALUES ({})",
                    k.plural,
                    quoted.join(", "),
                    placeholders.join(", ")
                );
                let sets: Vec<String> =
                    quoted.iter().enumerate().skip(1).map(|(i, c)| format!("{c} = ${}", i + 1)).collect();
                let update = format!(
                    "UPDATE {} SET {}, search_text = ${} WHERE id = $1",
                    k.plural,
                    sets.join(", "),
                    columns.len() + 1
                );
                let by_id = format!("{select} WHERE id = $1");
                (k.plural, KindSql { columns, select, insert, update, by_id })
            })
            .collect()
    });
    // Every kind is in ALL_KINDS, so the lookup cannot miss.
    &all[kind.plural]
}

fn opt_uuid(v: Option<Uuid>) -> Value {
    v.map(|u| Value::Text(u.to_string())).unwrap_or(Value::Null)
}
fn opt_int(v: Option<i64>) -> Value {
    v.map(Value::Int).unwrap_or(Value::Null)
}
fn opt_text(v: Option<&str>) -> Value {
    v.map(|s| Value::Text(s.to_string())).unwrap_or(Value::Null)
}

fn bad_row(what: &str) -> StorageError {
    StorageError::Other(format!("unexpected {what} in a stored row"))
}

/// Reads typed values out of a row in column order.
struct Cols<'a>(std::slice::Iter<'a, Value>);

impl Cols<'_> {
    fn value(&mut self) -> StorageResult<&Value> {
        self.0.next().ok_or_else(|| bad_row("end of row"))
    }
    fn text(&mut self) -> StorageResult<String> {
        match self.value()? {
            Value::Text(s) => Ok(s.clone()),
            Value::Int(i) => Ok(i.to_string()),
            Value::Null => Err(bad_row("null text")),
        }
    }
    fn opt_text(&mut self) -> StorageResult<Option<String>> {
        Ok(match self.value()? {
            Value::Null => None,
            Value::Text(s) => Some(s.clone()),
            Value::Int(i) => Some(i.to_string()),
        })
    }
    fn int(&mut self) -> StorageResult<i64> {
        self.value()?.as_int().ok_or_else(|| bad_row("non-integer"))
    }
    fn opt_int(&mut self) -> StorageResult<Option<i64>> {
        Ok(self.value()?.as_int())
    }
    fn uuid(&mut self) -> StorageResult<Uuid> {
        Uuid::parse_str(&self.text()?).map_err(|_| bad_row("id"))
    }
    fn opt_uuid(&mut self) -> StorageResult<Option<Uuid>> {
        match self.opt_text()? {
            Some(s) => Uuid::parse_str(&s).map(Some).map_err(|_| bad_row("id")),
            None => Ok(None),
        }
    }
}

impl<C: Conn> SqlTx<C> {
    fn record_from_row(&self, kind: &RecordKind, row: &[Value]) -> StorageResult<Record> {
        let sql = kind_sql(kind);
        let mut c = Cols(row.iter());
        let mut record = Record {
            id: c.uuid()?,
            created_at: c.int()?,
            updated_at: c.int()?,
            created_by: c.opt_uuid()?,
            updated_by: c.opt_uuid()?,
            deleted_at: c.opt_int()?,
            fields: BTreeMap::new(),
            links: BTreeMap::new(),
        };
        for name in &sql.columns[SYSTEM_COLUMNS.len()..] {
            record.fields.insert(name, c.value()?.clone());
        }
        Ok(record)
    }

    fn record_params(kind: &RecordKind, record: &Record) -> Vec<Value> {
        let sql = kind_sql(kind);
        let mut params = vec![
            Value::Text(record.id.to_string()),
            Value::Int(record.created_at),
            Value::Int(record.updated_at),
            opt_uuid(record.created_by),
            opt_uuid(record.updated_by),
            opt_int(record.deleted_at),
        ];
        for name in &sql.columns[SYSTEM_COLUMNS.len()..] {
            params.push(record.get(name).clone());
        }
        params.push(Value::Text(record.search_text(kind)));
        params
    }

    fn write_links(&mut self, kind: &RecordKind, record: &Record) -> StorageResult<()> {
        for field in kind.link_fields() {
            let Some(ids) = record.links.get(field.name) else { continue };
            self.conn.exec(
                "DELETE FROM record_links WHERE kind = $1 AND record_id = $2 AND field = $3",
                &[Value::Text(kind.name.into()), Value::Text(record.id.to_string()), Value::Text(field.name.into())],
            )?;
            for (i, id) in ids.iter().enumerate() {
                self.conn.exec(
                    "INSERT INTO record_links (kind, record_id, field, target_id, position) VALUES ($1, $2, $3, $4, $5)",
                    &[
                        Value::Text(kind.name.into()),
                        Value::Text(record.id.to_string()),
                        Value::Text(field.name.into()),
                        Value::Text(id.to_string()),
                        Value::Int(i as i64),
                    ],
                )?;
            }
        }
        Ok(())
    }

    fn load_links(&mut self, kind: &RecordKind, records: &mut [Record]) -> StorageResult<()> {
        if kind.link_fields().next().is_none() || records.is_empty() {
            return Ok(());
        }
        let mut by_id: HashMap<String, usize> = HashMap::new();
        for (i, r) in records.iter_mut().enumerate() {
            for f in kind.link_fields() {
                r.links.insert(f.name, Vec::new());
            }
            by_id.insert(r.id.to_string(), i);
        }
        for chunk in records.iter().map(|r| r.id.to_string()).collect::<Vec<_>>().chunks(200) {
            let mut params = vec![Value::Text(kind.name.into())];
            let ph: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
            params.extend(chunk.iter().map(|id| Value::Text(id.clone())));
            let rows = self.conn.rows(
                &format!(
                    "SELECT record_id, field, target_id FROM record_links WHERE kind = $1 AND record_id IN ({}) ORDER BY record_id, field, position",
                    ph.join(", ")
                ),
                &params,
            )?;
            for row in rows {
                let mut c = Cols(row.iter());
                let (rid, field, target) = (c.text()?, c.text()?, c.uuid()?);
                let Some(f) = kind.link_fields().find(|f| f.name == field) else { continue };
                if let Some(i) = by_id.get(&rid) {
                    records[*i].links.entry(f.name).or_default().push(target);
                }
            }
        }
        Ok(())
    }

    fn coworker_from_row(row: &[Value]) -> StorageResult<CoWorker> {
        let mut c = Cols(row.iter());
        Ok(CoWorker {
            id: c.uuid()?,
            email: c.text()?,
            name: c.text()?,
            role: Role::parse(&c.text()?).map_err(StorageError::Other)?,
            status: Status::parse(&c.text()?).map_err(StorageError::Other)?,
            seniority: Seniority::parse(&c.text()?).map_err(StorageError::Other)?,
            team_id: c.opt_uuid()?,
            manager_id: c.opt_uuid()?,
            title: c.opt_text()?,
            password_hash: c.opt_text()?,
            created_at: c.int()?,
            updated_at: c.int()?,
        })
    }

    fn credential_from_row(row: &[Value]) -> StorageResult<Credential> {
        let mut c = Cols(row.iter());
        Ok(Credential {
            id: c.uuid()?,
            coworker_id: c.uuid()?,
            kind: c.text()?,
            name: c.text()?,
            secret_hash: c.text()?,
            created_at: c.int()?,
            expires_at: c.opt_int()?,
            last_used_at: c.opt_int()?,
            revoked_at: c.opt_int()?,
        })
    }

    fn event_from_row(row: &[Value]) -> StorageResult<SystemEvent> {
        let mut c = Cols(row.iter());
        let seq = c.int()?;
        let id = c.uuid()?;
        let event = NewEvent {
            at: c.int()?,
            coworker_id: c.opt_uuid()?,
            action: c.text()?,
            object_type: c.opt_text()?,
            object_id: c.opt_text()?,
            row_count: c.int()?,
            client_addr: c.opt_text()?,
            user_agent: c.opt_text()?,
            details: serde_json::from_str(&c.text()?).map_err(|_| bad_row("event details"))?,
        };
        Ok(SystemEvent { seq, id, event, prev_hash: c.text()?, hash: c.text()? })
    }
}

const COWORKER_COLUMNS: &str =
    "id, email, name, role, status, seniority, team_id, manager_id, title, password_hash, created_at, updated_at";
const CREDENTIAL_COLUMNS: &str =
    "id, coworker_id, kind, name, secret_hash, created_at, expires_at, last_used_at, revoked_at";
pub const EVENT_COLUMNS: &str = "seq, id, at, coworker_id, action, object_type, object_id, row_count, client_addr, user_agent, details, prev_hash, hash";

impl<C: Conn> Tx for SqlTx<C> {
    fn insert_record(&mut self, kind: &RecordKind, record: &Record) -> StorageResult<()> {
        self.conn.exec(&kind_sql(kind).insert, &Self::record_params(kind, record))?;
        self.write_links(kind, record)
    }

    fn update_record(&mut self, kind: &RecordKind, record: &Record) -> StorageResult<()> {
        let n = self.conn.exec(&kind_sql(kind).update, &Self::record_params(kind, record))?;
        if n != 1 {
            return Err(StorageError::Other(format!("{} {} vanished during the update", kind.name, record.id)));
        }
        self.write_links(kind, record)
    }

    fn get_record(&mut self, kind: &RecordKind, id: Uuid) -> StorageResult<Option<Record>> {
        let rows = self.conn.rows(&kind_sql(kind).by_id, &[Value::Text(id.to_string())])?;
        let Some(row) = rows.first() else { return Ok(None) };
        let mut records = vec![self.record_from_row(kind, row)?];
        self.load_links(kind, &mut records)?;
        Ok(records.pop())
    }

    fn get_records(&mut self, kind: &RecordKind, ids: &[Uuid]) -> StorageResult<Vec<Record>> {
        let mut records = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(200) {
            let params: Vec<Value> = chunk.iter().map(|id| Value::Text(id.to_string())).collect();
            let ph: Vec<String> = (1..=params.len()).map(|i| format!("${i}")).collect();
            let rows =
                self.conn.rows(&format!("{} WHERE id IN ({})", kind_sql(kind).select, ph.join(", ")), &params)?;
            for row in &rows {
                records.push(self.record_from_row(kind, row)?);
            }
        }
        self.load_links(kind, &mut records)?;
        Ok(records)
    }

    fn list_records(&mut self, kind: &RecordKind, q: &RecordQuery) -> StorageResult<Vec<Record>> {
        let sql = kind_sql(kind);
        let mut params: Vec<Value> = Vec::new();
        let next = |params: &mut Vec<Value>, v: Value| {
            params.push(v);
            format!("${}", params.len())
        };
        let mut wheres = vec![match q.deleted {
            Deleted::Exclude => "deleted_at IS NULL".to_string(),
            Deleted::Only => "deleted_at IS NOT NULL".to_string(),
        }];
        // Filters on the same field are alternatives (`stage=proposal&stage=negotiation`);
        // filters on different fields must all hold.
        let mut by_field: Vec<(&str, Vec<&Value>)> = Vec::new();
        for (field, value) in &q.filters {
            match by_field.iter_mut().find(|(f, _)| f == field) {
                Some((_, values)) => values.push(value),
                None => by_field.push((field, vec![value])),
            }
        }
        for (field, values) in by_field {
            let mut alternatives = Vec::new();
            let mut listed = Vec::new();
            for value in values {
                if value.is_null() {
                    alternatives.push(format!("\"{field}\" IS NULL"));
                } else {
                    listed.push(next(&mut params, value.clone()));
                }
            }
            let is_link = kind.field(field).is_some_and(|f| matches!(f.ty, FieldType::RefList(_)));
            match listed.len() {
                0 => {}
                // A link list "equals" an id when it contains it.
                _ if is_link => {
                    let k = next(&mut params, Value::Text(kind.name.into()));
                    let f = next(&mut params, Value::Text(field.to_string()));
                    alternatives.push(format!(
                        "id IN (SELECT record_id FROM record_links WHERE target_id IN ({}) AND kind = {k} AND field = {f})",
                        listed.join(", ")
                    ));
                }
                1 => alternatives.push(format!("\"{field}\" = {}", listed[0])),
                _ => alternatives.push(format!("\"{field}\" IN ({})", listed.join(", "))),
            }
            wheres.push(format!("({})", alternatives.join(" OR ")));
        }
        if let Some(owners) = &q.owners {
            if owners.is_empty() {
                return Ok(Vec::new());
            }
            let ps: Vec<String> = owners.iter().map(|o| next(&mut params, Value::Text(o.to_string()))).collect();
            wheres.push(format!("\"{}\" IN ({})", kind.owner_field, ps.join(", ")));
        }
        if !q.words.is_empty() {
            match self.conn.backend() {
                Backend::Sqlite => {
                    let m = q
                        .words
                        .iter()
                        .map(|w| format!("\"{}\"*", w.replace('"', "")))
                        .collect::<Vec<_>>()
                        .join(" AND ");
                    let p = next(&mut params, Value::Text(m));
                    wheres.push(format!(
                        "rid IN (SELECT rowid FROM {}_fts WHERE {}_fts MATCH {p})",
                        kind.plural, kind.plural
                    ));
                }
                Backend::Postgres => {
                    let m = q.words.iter().map(|w| format!("{w}:*")).collect::<Vec<_>>().join(" & ");
                    let p = next(&mut params, Value::Text(m));
                    wheres.push(format!("to_tsvector('simple', search_text) @@ to_tsquery('simple', {p})"));
                }
            }
        }
        // A sortable field that may be empty sorts its empty values as a stand-in value (see
        // `Field::null_sorts_as`); the literal comes from the descriptor, never from input.
        let sort = match kind.field(q.sort).and_then(|f| f.null_sorts_as()) {
            Some(Value::Text(t)) => format!("COALESCE(\"{}\", '{}')", q.sort, t.replace('\'', "")),
            Some(Value::Int(i)) => format!("COALESCE(\"{}\", {i})", q.sort),
            _ => format!("\"{}\"", q.sort),
        };
        let (dir, cmp) = if q.descending { ("DESC", "<") } else { ("ASC", ">") };
        if let Some((value, id)) = &q.after {
            let a = next(&mut params, value.clone());
            let b = next(&mut params, Value::Text(id.to_string()));
            wheres.push(format!("({sort}, id) {cmp} ({a}, {b})"));
        }
        let limit = next(&mut params, Value::Int(i64::from(q.limit) + 1));
        let offset = next(&mut params, Value::Int(i64::try_from(q.offset).unwrap_or(i64::MAX)));
        let text = format!(
            "{} WHERE {} ORDER BY {sort} {dir}, id {dir} LIMIT {limit} OFFSET {offset}",
            sql.select,
            wheres.join(" AND ")
        );
        let rows = self.conn.rows(&text, &params)?;
        let mut records = rows.iter().map(|r| self.record_from_row(kind, r)).collect::<StorageResult<Vec<_>>>()?;
        self.load_links(kind, &mut records)?;
        Ok(records)
    }

    fn find_records(
        &mut self,
        kind: &RecordKind,
        field: &str,
        value: &Value,
        limit: u32,
    ) -> StorageResult<Vec<Record>> {
        if kind.field(field).is_none() {
            return Err(StorageError::Other(format!("{} has no field {field}", kind.plural)));
        }
        // No ORDER BY: it would tempt SQLite to walk the id index instead of the field's index.
        // The lowest ids are kept, so the answer is the same on both backends.
        let text = format!("{} WHERE \"{field}\" = $1 AND deleted_at IS NULL LIMIT 100", kind_sql(kind).select);
        let rows = self.conn.rows(&text, std::slice::from_ref(value))?;
        let mut records = rows.iter().map(|r| self.record_from_row(kind, r)).collect::<StorageResult<Vec<_>>>()?;
        records.sort_by_key(|r| r.id);
        records.truncate(limit as usize);
        self.load_links(kind, &mut records)?;
        Ok(records)
    }

    fn find_ids_by_values(
        &mut self,
        kind: &RecordKind,
        field: &str,
        values: &[String],
    ) -> StorageResult<Vec<(String, Uuid)>> {
        let Some(f) = kind.field(field).filter(|f| !matches!(f.ty, FieldType::RefList(_))) else {
            return Err(StorageError::Other(format!("{} has no column {field}", kind.plural)));
        };
        let mut out = Vec::new();
        for chunk in values.chunks(500) {
            let params: Vec<Value> = chunk.iter().map(|v| Value::Text(v.clone())).collect();
            let ph: Vec<String> = (1..=params.len()).map(|i| format!("${i}")).collect();
            let rows = self.conn.rows(
                &format!(
                    "SELECT \"{0}\", id FROM {1} WHERE \"{0}\" IN ({2}) AND deleted_at IS NULL",
                    f.name,
                    kind.plural,
                    ph.join(", ")
                ),
                &params,
            )?;
            for r in &rows {
                let mut c = Cols(r.iter());
                out.push((c.text()?, c.uuid()?));
            }
        }
        // The oldest record per value, as the one-by-one check would find.
        out.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
        out.dedup_by(|a, b| a.0 == b.0);
        Ok(out)
    }

    fn find_accounts_by_name(&mut self, name: &str) -> StorageResult<Vec<Record>> {
        let kind = &holdfast_core::record::ACCOUNTS;
        let text = format!("{} WHERE lower(name) = $1 AND deleted_at IS NULL LIMIT 100", kind_sql(kind).select);
        let rows = self.conn.rows(&text, &[Value::Text(name.to_lowercase())])?;
        let mut records = rows.iter().map(|r| self.record_from_row(kind, r)).collect::<StorageResult<Vec<_>>>()?;
        records.sort_by_key(|r| r.id);
        records.truncate(5);
        Ok(records)
    }

    fn linked_from(&mut self, kind: &RecordKind, field: &str, target: Uuid, limit: u32) -> StorageResult<Vec<Uuid>> {
        let text = format!(
            "SELECT l.record_id FROM record_links l JOIN {} r ON r.id = l.record_id WHERE l.target_id = $1 AND l.kind = $2 AND l.field = $3 AND r.deleted_at IS NULL ORDER BY l.record_id DESC LIMIT $4",
            kind.plural
        );
        let rows = self.conn.rows(
            &text,
            &[
                Value::Text(target.to_string()),
                Value::Text(kind.name.into()),
                Value::Text(field.into()),
                Value::Int(limit.into()),
            ],
        )?;
        rows.iter().map(|r| Cols(r.iter()).uuid()).collect()
    }

    fn count_records(&mut self, kind: &RecordKind) -> StorageResult<i64> {
        let rows = self.conn.rows(&format!("SELECT count(*) FROM {} WHERE deleted_at IS NULL", kind.plural), &[])?;
        rows.first().and_then(|r| r.first()).and_then(Value::as_int).ok_or_else(|| bad_row("count"))
    }

    fn count_owned(&mut self, kind: &RecordKind, owner: Uuid) -> StorageResult<i64> {
        let rows = self.conn.rows(
            &format!("SELECT count(*) FROM {} WHERE \"{}\" = $1 AND deleted_at IS NULL", kind.plural, kind.owner_field),
            &[Value::Text(owner.to_string())],
        )?;
        rows.first().and_then(|r| r.first()).and_then(Value::as_int).ok_or_else(|| bad_row("count"))
    }

    fn deal_pipeline(&mut self, owners: Option<&[Uuid]>) -> StorageResult<Vec<(String, i64, i64)>> {
        let mut params = Vec::new();
        let scope = owner_scope(owners, &mut params);
        let rows = self.conn.rows(
            &format!(
                "SELECT stage, count(*), CAST(coalesce(sum(amount), 0) AS BIGINT) FROM deals WHERE deleted_at IS NULL{scope} GROUP BY stage"
            ),
            &params,
        )?;
        rows.iter()
            .map(|r| {
                let mut c = Cols(r.iter());
                Ok((c.text()?, c.int()?, c.int()?))
            })
            .collect()
    }

    fn overdue_tasks(&mut self, owners: Option<&[Uuid]>, today: &str, limit: u32) -> StorageResult<Vec<Record>> {
        let kind = &holdfast_core::record::TASKS;
        let mut params = vec![Value::Text(today.into()), Value::Int(limit.into())];
        let scope = owner_scope(owners, &mut params);
        let text = format!(
            "{} WHERE deleted_at IS NULL AND status = 'open' AND due_date < $1{scope} ORDER BY due_date, id LIMIT $2",
            kind_sql(kind).select
        );
        let rows = self.conn.rows(&text, &params)?;
        rows.iter().map(|r| self.record_from_row(kind, r)).collect()
    }

    fn untouched_accounts(&mut self, owners: Option<&[Uuid]>, since: i64, limit: u32) -> StorageResult<Vec<Record>> {
        let kind = &holdfast_core::record::ACCOUNTS;
        let mut params = vec![Value::Int(since), Value::Int(limit.into())];
        let scope = owner_scope(owners, &mut params);
        let text = format!(
            "{} WHERE deleted_at IS NULL{scope} AND NOT EXISTS (SELECT 1 FROM activities x WHERE x.account_id = accounts.id \
             AND x.occurred_at >= $1 AND x.deleted_at IS NULL) ORDER BY name, id LIMIT $2",
            kind_sql(kind).select
        );
        let rows = self.conn.rows(&text, &params)?;
        let mut records = rows.iter().map(|r| self.record_from_row(kind, r)).collect::<StorageResult<Vec<_>>>()?;
        self.load_links(kind, &mut records)?;
        Ok(records)
    }

    fn last_touches(&mut self, accounts: &[Uuid]) -> StorageResult<Vec<(Uuid, i64)>> {
        let mut out = Vec::new();
        for chunk in accounts.chunks(200) {
            let params: Vec<Value> = chunk.iter().map(|a| Value::Text(a.to_string())).collect();
            let ph: Vec<String> = (1..=params.len()).map(|i| format!("${i}")).collect();
            let rows = self.conn.rows(
                &format!(
                    "SELECT account_id, max(occurred_at) FROM activities WHERE account_id IN ({}) \
                     AND deleted_at IS NULL GROUP BY account_id",
                    ph.join(", ")
                ),
                &params,
            )?;
            for r in &rows {
                let mut c = Cols(r.iter());
                let id = c.text()?;
                let at = c.int()?;
                if let Ok(id) = Uuid::parse_str(&id) {
                    out.push((id, at));
                }
            }
        }
        Ok(out)
    }

    fn activities_per_week(&mut self, owners: Option<&[Uuid]>, since: i64) -> StorageResult<Vec<(i64, i64)>> {
        let week = 7 * holdfast_core::time::MICROS_PER_DAY;
        let mut params = vec![Value::Int(since)];
        let scope = owner_scope(owners, &mut params);
        let rows = self.conn.rows(
            &format!(
                "SELECT CAST((occurred_at - $1) / {week} AS BIGINT) AS w, count(*) FROM activities \
                 WHERE occurred_at >= $1 AND deleted_at IS NULL{scope} GROUP BY w ORDER BY w"
            ),
            &params,
        )?;
        rows.iter()
            .map(|r| {
                let mut c = Cols(r.iter());
                Ok((c.int()?, c.int()?))
            })
            .collect()
    }

    fn insert_coworker(&mut self, c: &CoWorker) -> StorageResult<()> {
        self.conn.exec(
            &format!(
                "INSERT INTO coworkers ({COWORKER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
            ),
            &coworker_params(c),
        )?;
        Ok(())
    }

    fn update_coworker(&mut self, c: &CoWorker) -> StorageResult<()> {
        self.conn.exec(
            "UPDATE coworkers SET email = $2, name = $3, role = $4, status = $5, seniority = $6, team_id = $7, manager_id = $8, title = $9, password_hash = $10, created_at = $11, updated_at = $12 WHERE id = $1",
            &coworker_params(c),
        )?;
        Ok(())
    }

    fn get_coworker(&mut self, id: Uuid) -> StorageResult<Option<CoWorker>> {
        let rows = self
            .conn
            .rows(&format!("SELECT {COWORKER_COLUMNS} FROM coworkers WHERE id = $1"), &[Value::Text(id.to_string())])?;
        rows.first().map(|r| Self::coworker_from_row(r)).transpose()
    }

    fn get_coworker_by_email(&mut self, email: &str) -> StorageResult<Option<CoWorker>> {
        let rows = self.conn.rows(
            &format!("SELECT {COWORKER_COLUMNS} FROM coworkers WHERE email = $1"),
            &[Value::Text(email.into())],
        )?;
        rows.first().map(|r| Self::coworker_from_row(r)).transpose()
    }

    fn list_coworkers(&mut self) -> StorageResult<Vec<CoWorker>> {
        let rows = self.conn.rows(&format!("SELECT {COWORKER_COLUMNS} FROM coworkers ORDER BY name, id"), &[])?;
        rows.iter().map(|r| Self::coworker_from_row(r)).collect()
    }

    fn insert_team(&mut self, t: &Team) -> StorageResult<()> {
        self.conn.exec(
            "INSERT INTO teams (id, name, manager_id) VALUES ($1, $2, $3) ON CONFLICT (id) DO UPDATE SET name = excluded.name, manager_id = excluded.manager_id",
            &[Value::Text(t.id.to_string()), Value::Text(t.name.clone()), opt_uuid(t.manager_id)],
        )?;
        Ok(())
    }

    fn list_teams(&mut self) -> StorageResult<Vec<Team>> {
        let rows = self.conn.rows("SELECT id, name, manager_id FROM teams ORDER BY name", &[])?;
        rows.iter()
            .map(|r| {
                let mut c = Cols(r.iter());
                Ok(Team { id: c.uuid()?, name: c.text()?, manager_id: c.opt_uuid()? })
            })
            .collect()
    }

    fn insert_credential(&mut self, c: &Credential) -> StorageResult<()> {
        self.conn.exec(
            &format!("INSERT INTO credentials ({CREDENTIAL_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"),
            &[
                Value::Text(c.id.to_string()),
                Value::Text(c.coworker_id.to_string()),
                Value::Text(c.kind.clone()),
                Value::Text(c.name.clone()),
                Value::Text(c.secret_hash.clone()),
                Value::Int(c.created_at),
                opt_int(c.expires_at),
                opt_int(c.last_used_at),
                opt_int(c.revoked_at),
            ],
        )?;
        Ok(())
    }

    fn find_credential(&mut self, secret_hash: &str) -> StorageResult<Option<Credential>> {
        let rows = self.conn.rows(
            &format!("SELECT {CREDENTIAL_COLUMNS} FROM credentials WHERE secret_hash = $1"),
            &[Value::Text(secret_hash.into())],
        )?;
        rows.first().map(|r| Self::credential_from_row(r)).transpose()
    }

    fn touch_credential(&mut self, id: Uuid, at: i64) -> StorageResult<()> {
        self.conn.exec(
            "UPDATE credentials SET last_used_at = $2 WHERE id = $1",
            &[Value::Text(id.to_string()), Value::Int(at)],
        )?;
        Ok(())
    }

    fn revoke_credentials(&mut self, coworker_id: Uuid, only: Option<Uuid>, at: i64) -> StorageResult<usize> {
        let n = match only {
            Some(id) => self.conn.exec(
                "UPDATE credentials SET revoked_at = $3 WHERE coworker_id = $1 AND id = $2 AND revoked_at IS NULL",
                &[Value::Text(coworker_id.to_string()), Value::Text(id.to_string()), Value::Int(at)],
            )?,
            None => self.conn.exec(
                "UPDATE credentials SET revoked_at = $2 WHERE coworker_id = $1 AND revoked_at IS NULL",
                &[Value::Text(coworker_id.to_string()), Value::Int(at)],
            )?,
        };
        Ok(n as usize)
    }

    fn list_credentials(&mut self, coworker_id: Uuid) -> StorageResult<Vec<Credential>> {
        let rows = self.conn.rows(
            &format!("SELECT {CREDENTIAL_COLUMNS} FROM credentials WHERE coworker_id = $1 ORDER BY created_at DESC"),
            &[Value::Text(coworker_id.to_string())],
        )?;
        rows.iter().map(|r| Self::credential_from_row(r)).collect()
    }

    fn get_setting(&mut self, key: &str) -> StorageResult<Option<String>> {
        let rows = self.conn.rows("SELECT value FROM settings WHERE key = $1", &[Value::Text(key.into())])?;
        Ok(rows.first().and_then(|r| r.first()).and_then(|v| v.as_text().map(String::from)))
    }

    fn set_setting(&mut self, key: &str, value: &str) -> StorageResult<()> {
        self.conn.exec(
            "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            &[Value::Text(key.into()), Value::Text(value.into())],
        )?;
        Ok(())
    }

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
            None => Ok((0, holdfast_core::event::GENESIS_HASH.to_string())),
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
        rows.iter().map(|r| Self::event_from_row(r)).collect()
    }

    fn rows_read_since(&mut self, coworker: Uuid, since: i64) -> StorageResult<Vec<(i64, i64)>> {
        const HOUR: i64 = 3_600_000_000;
        let rows = self.conn.rows(
            &format!(
                "SELECT CAST(at / {HOUR} AS BIGINT) AS h, CAST(sum(row_count) AS BIGINT) FROM system_events \
                 WHERE coworker_id = $1 AND at >= $2 AND action IN ('record.read', 'list.read', 'search', 'export.create') \
                 GROUP BY h ORDER BY h"
            ),
            &[Value::Text(coworker.to_string()), Value::Int(since)],
        )?;
        rows.iter()
            .map(|r| {
                let mut c = Cols(r.iter());
                Ok((c.int()? * HOUR, c.int()?))
            })
            .collect()
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

    fn daily_counts(&mut self, since: i64, until: i64) -> StorageResult<Vec<DailyCount>> {
        let rows = self.conn.rows(
            "SELECT coworker_id, at / 86400000000 AS day, action, count(*), CAST(sum(row_count) AS BIGINT) FROM system_events \
             WHERE at >= $1 AND at < $2 GROUP BY coworker_id, at / 86400000000, action ORDER BY 1, 2, 3",
            &[Value::Int(since), Value::Int(until)],
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
        match self.conn.backend() {
            Backend::Sqlite => {
                self.conn.exec("DROP TRIGGER system_events_no_delete", &[])?;
                let n = self.conn.exec("DELETE FROM system_events WHERE seq <= $1", &[Value::Int(through)])?;
                self.conn.exec(
                    "CREATE TRIGGER system_events_no_delete BEFORE DELETE ON system_events BEGIN SELECT RAISE(ABORT, 'system events are append-only'); END",
                    &[],
                )?;
                Ok(n)
            }
            Backend::Postgres => {
                self.conn.exec("SET LOCAL holdfast.retention = 'allowed'", &[])?;
                let n = self.conn.exec("DELETE FROM system_events WHERE seq <= $1", &[Value::Int(through)])?;
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

/// Decodes an event row by moving its values out (verification decodes millions of these).
/// ` AND owner_id IN ($n, …)` for the owners given (nothing for `None`), adding their params.
fn owner_scope(owners: Option<&[Uuid]>, params: &mut Vec<Value>) -> String {
    match owners {
        None => String::new(),
        Some([]) => " AND 1 = 0".into(),
        Some(list) => {
            let ph: Vec<String> = list
                .iter()
                .map(|o| {
                    params.push(Value::Text(o.to_string()));
                    format!("${}", params.len())
                })
                .collect();
            format!(" AND owner_id IN ({})", ph.join(", "))
        }
    }
}

fn stored_event(row: Vec<Value>) -> StorageResult<StoredEvent> {
    let mut it = row.into_iter();
    let mut next = || it.next().ok_or_else(|| bad_row("end of row"));
    let int = |v: Value| v.as_int().ok_or_else(|| bad_row("non-integer"));
    let text = |v: Value| match v {
        Value::Text(s) => Ok(s),
        Value::Int(i) => Ok(i.to_string()),
        Value::Null => Err(bad_row("null text")),
    };
    let opt = |v: Value| match v {
        Value::Text(s) => Some(s),
        Value::Int(i) => Some(i.to_string()),
        Value::Null => None,
    };
    Ok(StoredEvent {
        seq: int(next()?)?,
        id: text(next()?)?,
        at: int(next()?)?,
        coworker_id: opt(next()?),
        action: text(next()?)?,
        object_type: opt(next()?),
        object_id: opt(next()?),
        row_count: int(next()?)?,
        client_addr: opt(next()?),
        user_agent: opt(next()?),
        details: text(next()?)?,
        prev_hash: text(next()?)?,
        hash: text(next()?)?,
    })
}

fn coworker_params(c: &CoWorker) -> Vec<Value> {
    vec![
        Value::Text(c.id.to_string()),
        Value::Text(c.email.clone()),
        Value::Text(c.name.clone()),
        Value::Text(c.role.as_str().into()),
        Value::Text(c.status.as_str().into()),
        Value::Text(c.seniority.as_str().into()),
        opt_uuid(c.team_id),
        opt_uuid(c.manager_id),
        opt_text(c.title.as_deref()),
        opt_text(c.password_hash.as_deref()),
        Value::Int(c.created_at),
        Value::Int(c.updated_at),
    ]
}
