//! Customer records: SQL generated once from holdfast-core's record descriptors (columns, links,
//! search text), lists with filters, search (FTS5 on SQLite, tsvector on PostgreSQL), keyset
//! paging, and the look-ups de-duplication needs.

use std::collections::HashMap;
use std::sync::OnceLock;

use holdfast_core::StorageError;
use holdfast_core::operation::{OperationRecord, RecordOperation, Step};
use holdfast_core::record::{ALL_KINDS, FieldType, Record, RecordKind, Value};
use holdfast_core::storage::{Cell, Deleted, OwnerChange, Ownership, RecordQuery, RecordStore, StorageResult};
use uuid::Uuid;

use crate::codec::{Cols, bad_row, opt_uuid, record_from_row, record_params};
use crate::conn::{Backend, Conn};
use crate::tx::SqlTx;

pub(crate) const SYSTEM_COLUMNS: [&str; 6] =
    ["id", "created_at", "updated_at", "created_by", "updated_by", "deleted_at"];

/// Precomputed SQL for one record kind.
pub(crate) struct KindSql {
    pub(crate) columns: Vec<&'static str>,
    /// `SELECT` and the quoted columns, without `FROM`.
    pub(crate) select_columns: String,
    pub(crate) select: String,
    pub(crate) insert: String,
    /// SQLite: the new row's entry in the kind's full-text index, written by a statement of its
    /// own right after the insert (see migration 0017 for why not by a trigger).
    pub(crate) search_insert: Option<String>,
    pub(crate) update: String,
    pub(crate) by_id: String,
}

pub(crate) fn kind_sql(kind: &RecordKind) -> &'static KindSql {
    static ALL: OnceLock<HashMap<&'static str, KindSql>> = OnceLock::new();
    let all = ALL.get_or_init(|| {
        ALL_KINDS
            .iter()
            .map(|k| {
                let mut columns: Vec<&'static str> = SYSTEM_COLUMNS.to_vec();
                columns.extend(k.columns().map(|f| f.name));
                let quoted: Vec<String> = columns.iter().map(|c| format!("\"{c}\"")).collect();
                let select_columns = format!("SELECT {}", quoted.join(", "));
                let select = format!("{select_columns} FROM {}", k.plural);
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
                let search_insert = k.searchable().then(|| {
                    format!("INSERT INTO {}_fts (rowid, search_text) VALUES (last_insert_rowid(), $1)", k.plural)
                });
                (k.plural, KindSql { columns, select_columns, select, insert, search_insert, update, by_id })
            })
            .collect()
    });
    // Every kind is in ALL_KINDS, so the lookup cannot miss.
    &all[kind.plural]
}

impl<C: Conn> SqlTx<C> {
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

    pub(crate) fn load_links(&mut self, kind: &RecordKind, records: &mut [Record]) -> StorageResult<()> {
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
}

/// The WHERE conditions of a list query (all but its keyset position), their values appended to
/// `params`; `None` when nothing can match (an empty owner list).
/// What a list sorts by: the column, or for a sortable field that may be empty its empty values
/// as a stand-in value (see `Field::null_sorts_as`; the literal comes from the descriptor, never
/// from input).
pub(crate) fn sort_expression(kind: &RecordKind, q: &RecordQuery) -> String {
    match kind.field(q.sort).and_then(|f| f.null_sorts_as()) {
        Some(Value::Text(t)) => format!("COALESCE(\"{}\", '{}')", q.sort, t.replace('\'', "")),
        Some(Value::Int(i)) => format!("COALESCE(\"{}\", {i})", q.sort),
        _ => format!("\"{}\"", q.sort),
    }
}

pub(crate) fn matching_conditions(
    backend: Backend,
    kind: &RecordKind,
    q: &RecordQuery,
    params: &mut Vec<Value>,
) -> Option<Vec<String>> {
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
                listed.push(next(params, value.clone()));
            }
        }
        let is_link = kind.field(field).is_some_and(|f| matches!(f.ty, FieldType::RefList(_)));
        match listed.len() {
            0 => {}
            // A link list "equals" an id when it contains it.
            _ if is_link => {
                let k = next(params, Value::Text(kind.name.into()));
                let f = next(params, Value::Text(field.to_string()));
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
            return None;
        }
        let ps: Vec<String> = owners.iter().map(|o| next(params, Value::Text(o.to_string()))).collect();
        wheres.push(format!("\"{}\" IN ({})", kind.owner_field, ps.join(", ")));
    }
    if !q.words.is_empty() {
        match backend {
            Backend::Sqlite => {
                let p = next(params, Value::Text(crate::broad_search::fts_query(&q.words)));
                wheres.push(format!(
                    "rid IN (SELECT rowid FROM {}_fts WHERE {}_fts MATCH {p})",
                    kind.plural, kind.plural
                ));
            }
            Backend::Postgres => {
                let m = q.words.iter().map(|w| format!("{w}:*")).collect::<Vec<_>>().join(" & ");
                let p = next(params, Value::Text(m));
                wheres.push(format!("to_tsvector('simple', search_text) @@ to_tsquery('simple', {p})"));
            }
        }
    }
    Some(wheres)
}

impl<C: Conn> RecordStore for SqlTx<C> {
    fn expect_many_changes(&mut self) -> StorageResult<()> {
        self.conn.expect_many_changes()
    }
    fn insert_record(&mut self, kind: &RecordKind, record: &Record) -> StorageResult<()> {
        let sql = kind_sql(kind);
        let mut params = record_params(kind, record);
        self.conn.exec(&sql.insert, &params)?;
        if let (Backend::Sqlite, Some(search_insert)) = (self.conn.backend(), &sql.search_insert) {
            // The search text is the insert's last parameter.
            let search_text = params.pop().unwrap_or(Value::Null);
            self.conn.exec(search_insert, &[search_text])?;
        }
        self.write_links(kind, record)
    }

    fn update_record(&mut self, kind: &RecordKind, record: &Record) -> StorageResult<()> {
        let n = self.conn.exec(&kind_sql(kind).update, &record_params(kind, record))?;
        if n != 1 {
            return Err(StorageError::Other(format!("{} {} vanished during the update", kind.name, record.id)));
        }
        self.write_links(kind, record)
    }

    fn get_record(&mut self, kind: &RecordKind, id: Uuid) -> StorageResult<Option<Record>> {
        let rows = self.conn.rows(&kind_sql(kind).by_id, &[Value::Text(id.to_string())])?;
        let Some(row) = rows.first() else { return Ok(None) };
        let mut records = vec![record_from_row(kind, row)?];
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
                records.push(record_from_row(kind, row)?);
            }
        }
        self.load_links(kind, &mut records)?;
        Ok(records)
    }

    fn list_records(&mut self, kind: &RecordKind, q: &RecordQuery) -> StorageResult<Vec<Record>> {
        if let Some(records) = self.walk_for_broad_search(kind, q)? {
            return Ok(records);
        }
        if let Some(records) = self.search_by_sort_ranges(kind, q)? {
            return Ok(records);
        }
        let sql = kind_sql(kind);
        let mut params: Vec<Value> = Vec::new();
        let Some(mut wheres) = matching_conditions(self.conn.backend(), kind, q, &mut params) else {
            return Ok(Vec::new());
        };
        let next = |params: &mut Vec<Value>, v: Value| {
            params.push(v);
            format!("${}", params.len())
        };
        let sort = sort_expression(kind, q);
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
        let mut records = rows.iter().map(|r| record_from_row(kind, r)).collect::<StorageResult<Vec<_>>>()?;
        self.load_links(kind, &mut records)?;
        Ok(records)
    }

    fn each_row(
        &mut self,
        kind: &RecordKind,
        q: &RecordQuery,
        columns: &[&str],
        f: &mut dyn FnMut(&[Cell<'_>]) -> StorageResult<()>,
    ) -> StorageResult<()> {
        let stored = kind_sql(kind);
        if let Some(c) = columns.iter().find(|c| !stored.columns.contains(c)) {
            return Err(StorageError::Other(format!("{} has no stored column {c}", kind.plural)));
        }
        let mut params: Vec<Value> = Vec::new();
        let Some(wheres) = matching_conditions(self.conn.backend(), kind, q, &mut params) else { return Ok(()) };
        let sort = sort_expression(kind, q);
        let dir = if q.descending { "DESC" } else { "ASC" };
        params.push(Value::Int(i64::from(q.limit)));
        let quoted: Vec<String> = columns.iter().map(|c| format!("\"{c}\"")).collect();
        let text = format!(
            "SELECT {} FROM {} WHERE {} ORDER BY {sort} {dir}, id {dir} LIMIT ${}",
            quoted.join(", "),
            kind.plural,
            wheres.join(" AND "),
            params.len()
        );
        self.conn.each_row(&text, &params, f)
    }

    fn count_matching(&mut self, kind: &RecordKind, q: &RecordQuery, cap: i64) -> StorageResult<i64> {
        let mut params: Vec<Value> = Vec::new();
        let Some(wheres) = matching_conditions(self.conn.backend(), kind, q, &mut params) else { return Ok(0) };
        params.push(Value::Int(cap));
        let text = format!(
            "SELECT count(*) FROM (SELECT 1 FROM {} WHERE {} LIMIT ${}) AS matching",
            kind.plural,
            wheres.join(" AND "),
            params.len()
        );
        let rows = self.conn.rows(&text, &params)?;
        Ok(rows.first().and_then(|r| r.first()).and_then(Value::as_int).unwrap_or(0))
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
        let mut records = rows.iter().map(|r| record_from_row(kind, r)).collect::<StorageResult<Vec<_>>>()?;
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
        let mut records = rows.iter().map(|r| record_from_row(kind, r)).collect::<StorageResult<Vec<_>>>()?;
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

    fn change_owners(
        &mut self,
        kind: &RecordKind,
        changes: &[OwnerChange],
        at: i64,
        by: Option<Uuid>,
    ) -> StorageResult<Vec<Uuid>> {
        // One UPDATE per (owner before, owner after) per 500 records; the owner is not searched,
        // so no search index and no link table is touched.
        type Owners = (Option<Uuid>, Option<Uuid>);
        let mut groups: Vec<(Owners, Vec<Uuid>)> = Vec::new();
        for c in changes {
            match groups.iter_mut().find(|(pair, _)| *pair == (c.from, c.to)) {
                Some((_, ids)) => ids.push(c.id),
                None => groups.push(((c.from, c.to), vec![c.id])),
            }
        }
        // The owner test must not steer SQLite to the owner index (a scan of every record the
        // owner has, per statement): `+` keeps it on the ids' primary key.
        let still_owned = match self.conn.backend() {
            Backend::Sqlite => format!("+\"{}\" IS $4", kind.owner_field),
            Backend::Postgres => format!("\"{}\" IS NOT DISTINCT FROM $4", kind.owner_field),
        };
        let mut changed = Vec::with_capacity(changes.len());
        for ((from, to), ids) in groups {
            for chunk in ids.chunks(500) {
                let mut params = vec![opt_uuid(to), Value::Int(at), opt_uuid(by), opt_uuid(from)];
                let marks: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 5)).collect();
                params.extend(chunk.iter().map(|id| Value::Text(id.to_string())));
                let rows = self.conn.rows(
                    &format!(
                        "UPDATE {table} SET \"{owner}\" = $1, updated_at = $2, updated_by = $3 \
                         WHERE id IN ({ids}) AND deleted_at IS NULL AND {still_owned} RETURNING id",
                        table = kind.plural,
                        owner = kind.owner_field,
                        ids = marks.join(", ")
                    ),
                    &params,
                )?;
                for row in rows {
                    changed.push(Cols(row.iter()).uuid()?);
                }
            }
        }
        Ok(changed)
    }

    fn owners_of(&mut self, kind: &RecordKind, ids: &[Uuid]) -> StorageResult<Vec<Ownership>> {
        let account = match (kind.kind, kind.account_field) {
            (holdfast_core::record::Kind::Account, _) => "id".to_string(),
            (_, Some(field)) => format!("\"{field}\""),
            (_, None) => "NULL".to_string(),
        };
        let mut found = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let params: Vec<Value> = chunk.iter().map(|id| Value::Text(id.to_string())).collect();
            let text = format!(
                "SELECT id, \"{}\", {account}, deleted_at FROM {} WHERE id IN ({})",
                kind.owner_field,
                kind.plural,
                marks.join(", ")
            );
            for row in self.conn.rows(&text, &params)? {
                let mut c = Cols(row.iter());
                found.push(Ownership {
                    id: c.uuid()?,
                    owner: c.opt_uuid()?,
                    account: c.opt_uuid()?,
                    deleted: c.opt_int()?.is_some(),
                });
            }
        }
        Ok(found)
    }

    fn insert_operation_records(
        &mut self,
        operation: Uuid,
        step: Step,
        first_position: i64,
        rows: &[OperationRecord],
    ) -> StorageResult<()> {
        let (operation, step) = (Value::Text(operation.to_string()), Value::Text(step.as_str().into()));
        let mut position = first_position;
        for chunk in rows.chunks(500) {
            let mut params = vec![operation.clone(), step.clone()];
            let mut tuples = Vec::with_capacity(chunk.len());
            for r in chunk {
                let n = params.len();
                tuples.push(format!("($1, $2, ${}, ${}, ${}, ${}, ${})", n + 1, n + 2, n + 3, n + 4, n + 5));
                params.extend([
                    Value::Int(position),
                    Value::Text(r.kind.clone()),
                    Value::Text(r.record_id.to_string()),
                    opt_uuid(r.owner_before),
                    opt_uuid(r.owner_after),
                ]);
                position += 1;
            }
            self.conn.exec(
                &format!(
                    "INSERT INTO operation_records (operation_id, step, position, kind, record_id, owner_before, owner_after) VALUES {}",
                    tuples.join(", ")
                ),
                &params,
            )?;
        }
        Ok(())
    }

    fn operation_records(
        &mut self,
        operation: Uuid,
        step: Step,
        after_position: i64,
        limit: u32,
    ) -> StorageResult<Vec<(i64, OperationRecord)>> {
        let rows = self.conn.rows(
            "SELECT position, kind, record_id, owner_before, owner_after FROM operation_records \
             WHERE operation_id = $1 AND step = $2 AND position > $3 ORDER BY position LIMIT $4",
            &[
                Value::Text(operation.to_string()),
                Value::Text(step.as_str().into()),
                Value::Int(after_position),
                Value::Int(limit.into()),
            ],
        )?;
        rows.iter()
            .map(|r| {
                let mut c = Cols(r.iter());
                Ok((c.int()?, operation_record(&mut c)?))
            })
            .collect()
    }

    fn operation_steps(&mut self) -> StorageResult<Vec<(Uuid, Step)>> {
        let rows = self.conn.rows("SELECT DISTINCT operation_id, step FROM operation_records", &[])?;
        rows.iter()
            .map(|r| {
                let mut c = Cols(r.iter());
                let operation = c.uuid()?;
                let step = c.text()?;
                Ok((operation, Step::parse(&step).ok_or_else(|| bad_row(&format!("operation step '{step}'")))?))
            })
            .collect()
    }

    fn record_operations(&mut self, record_id: Uuid, limit: u32) -> StorageResult<Vec<RecordOperation>> {
        let rows = self.conn.rows(
            "SELECT operation_id, step, kind, record_id, owner_before, owner_after FROM operation_records \
             WHERE record_id = $1 ORDER BY operation_id DESC, step DESC LIMIT $2",
            &[Value::Text(record_id.to_string()), Value::Int(limit.into())],
        )?;
        rows.iter()
            .map(|r| {
                let mut c = Cols(r.iter());
                Ok(RecordOperation {
                    operation: c.uuid()?,
                    step: Step::parse(&c.text()?).ok_or_else(|| bad_row("operation step"))?,
                    row: operation_record(&mut c)?,
                })
            })
            .collect()
    }

    fn count_owned(&mut self, kind: &RecordKind, owner: Uuid) -> StorageResult<i64> {
        let rows = self.conn.rows(
            &format!("SELECT count(*) FROM {} WHERE \"{}\" = $1 AND deleted_at IS NULL", kind.plural, kind.owner_field),
            &[Value::Text(owner.to_string())],
        )?;
        rows.first().and_then(|r| r.first()).and_then(Value::as_int).ok_or_else(|| bad_row("count"))
    }
}

/// An operation's row (kind, record, owner before and after), its ids read in the exact spelling
/// Holdfast writes them.
fn operation_record(c: &mut Cols<'_>) -> StorageResult<OperationRecord> {
    Ok(OperationRecord {
        kind: c.text()?,
        record_id: c.exact_uuid()?,
        owner_before: c.exact_opt_uuid()?,
        owner_after: c.exact_opt_uuid()?,
    })
}
