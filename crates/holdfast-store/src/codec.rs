//! Row codecs: typed values out of a row in column order, and records, co-workers, credentials
//! and events to and from rows. Kept apart from the queries so each store file reads as SQL.

use std::collections::BTreeMap;

use holdfast_core::StorageError;
use holdfast_core::audit::StoredEvent;
use holdfast_core::coworker::{CoWorker, Role, Seniority, Status};
use holdfast_core::event::{NewEvent, SystemEvent};
use holdfast_core::record::{Record, RecordKind, Value};
use holdfast_core::storage::{Credential, StorageResult};
use uuid::Uuid;

use crate::records::{SYSTEM_COLUMNS, kind_sql};

pub(crate) fn opt_uuid(v: Option<Uuid>) -> Value {
    v.map(|u| Value::Text(u.to_string())).unwrap_or(Value::Null)
}

pub(crate) fn opt_int(v: Option<i64>) -> Value {
    v.map(Value::Int).unwrap_or(Value::Null)
}

pub(crate) fn opt_text(v: Option<&str>) -> Value {
    v.map(|s| Value::Text(s.to_string())).unwrap_or(Value::Null)
}

pub(crate) fn bad_row(what: &str) -> StorageError {
    StorageError::Other(format!("unexpected {what} in a stored row"))
}

/// Reads typed values out of a row in column order.
pub(crate) struct Cols<'a>(pub(crate) std::slice::Iter<'a, Value>);

impl Cols<'_> {
    pub(crate) fn value(&mut self) -> StorageResult<&Value> {
        self.0.next().ok_or_else(|| bad_row("end of row"))
    }
    pub(crate) fn text(&mut self) -> StorageResult<String> {
        match self.value()? {
            Value::Text(s) => Ok(s.clone()),
            Value::Int(i) => Ok(i.to_string()),
            Value::Null => Err(bad_row("null text")),
        }
    }
    pub(crate) fn opt_text(&mut self) -> StorageResult<Option<String>> {
        Ok(match self.value()? {
            Value::Null => None,
            Value::Text(s) => Some(s.clone()),
            Value::Int(i) => Some(i.to_string()),
        })
    }
    pub(crate) fn int(&mut self) -> StorageResult<i64> {
        self.value()?.as_int().ok_or_else(|| bad_row("non-integer"))
    }
    pub(crate) fn opt_int(&mut self) -> StorageResult<Option<i64>> {
        Ok(self.value()?.as_int())
    }
    pub(crate) fn uuid(&mut self) -> StorageResult<Uuid> {
        Uuid::parse_str(&self.text()?).map_err(|_| bad_row("id"))
    }
    pub(crate) fn opt_uuid(&mut self) -> StorageResult<Option<Uuid>> {
        match self.opt_text()? {
            Some(s) => Uuid::parse_str(&s).map(Some).map_err(|_| bad_row("id")),
            None => Ok(None),
        }
    }
    /// An id written exactly as Holdfast writes ids (lowercase, hyphenated): for rows whose text a
    /// digest vouches for, where another spelling of the same id would slip past it.
    pub(crate) fn exact_uuid(&mut self) -> StorageResult<Uuid> {
        self.exact_opt_uuid()?.ok_or_else(|| bad_row("missing id"))
    }
    pub(crate) fn exact_opt_uuid(&mut self) -> StorageResult<Option<Uuid>> {
        match self.opt_text()? {
            Some(s) => match Uuid::parse_str(&s) {
                Ok(id) if id.hyphenated().to_string() == s => Ok(Some(id)),
                _ => Err(bad_row(&format!("id '{s}'"))),
            },
            None => Ok(None),
        }
    }
}

pub(crate) fn record_from_row(kind: &RecordKind, row: &[Value]) -> StorageResult<Record> {
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

pub(crate) fn record_params(kind: &RecordKind, record: &Record) -> Vec<Value> {
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

pub(crate) fn coworker_from_row(row: &[Value]) -> StorageResult<CoWorker> {
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
        password_must_change: c.int()? != 0,
    })
}

pub(crate) fn credential_from_row(row: &[Value]) -> StorageResult<Credential> {
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

pub(crate) fn event_from_row(row: &[Value]) -> StorageResult<SystemEvent> {
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

pub(crate) fn stored_event(row: Vec<Value>) -> StorageResult<StoredEvent> {
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

pub(crate) fn coworker_params(c: &CoWorker) -> Vec<Value> {
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
        Value::Int(i64::from(c.password_must_change)),
    ]
}
