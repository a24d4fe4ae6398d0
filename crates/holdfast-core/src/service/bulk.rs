//! Bulk operations on many records at once, and exports.
//!
//! A bulk change is one transaction: every record is checked first, and one refusal changes
//! nothing. Each record gets its own `record.update` event (so its history page shows it), and the
//! operation gets a `bulk.update` event naming every record and what it held before, which is what
//! an undo puts back. The log is the only place an operation is kept: there is no side table to
//! drift from it.
//!
//! An export is a read of many records at once and is recorded as `export.create` with its row
//! count, so a co-worker's activity report counts exported rows apart from records opened.

use std::collections::BTreeMap;

use serde_json::{Value as Json, json};
use uuid::Uuid;

use super::{Holdfast, ListRequest, append_events};
use crate::coworker::Actor;
use crate::error::CoreError;
use crate::event::{EventFilter, NewEvent, action};
use crate::record::{self, Changes, Record, RecordKind, Value};
use crate::storage::Database;
use crate::time::format_timestamp;

/// Most records one bulk operation or one export may name.
pub const BULK_MAX: usize = 1_000;
/// Most rows one export may carry.
pub const EXPORT_MAX: u32 = 100_000;

/// What a bulk operation (or its undo) did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkOutcome {
    /// The operation's id, which `undo_bulk` takes.
    pub operation: Uuid,
    /// Records changed.
    pub changed: usize,
    /// Records left as they were: already so, or (for an undo) changed again since.
    pub skipped: usize,
}

/// An export: the CSV text and what it holds.
#[derive(Debug, Clone)]
pub struct Export {
    pub file_name: String,
    pub csv: String,
    pub rows: usize,
}

/// What an export covers: the records picked by id, or everything a list request matches.
#[derive(Debug, Clone)]
pub enum ExportScope {
    Picked(Vec<Uuid>),
    Matching(ListRequest),
}

impl<D: Database> Holdfast<D> {
    /// Hands the given records to `owner` (a co-worker's id or email) in one step.
    pub fn bulk_assign(
        &self,
        actor: &Actor,
        kind: &'static RecordKind,
        ids: &[Uuid],
        owner: &str,
    ) -> Result<BulkOutcome, CoreError> {
        let ids = checked_ids(ids)?;
        let operation = crate::id::new_id();
        self.db.write(|tx| {
            let owner = self.resolve_coworker(tx, "owner", owner)?.id;
            let mut changes = Changes::default();
            changes.fields.insert(kind.owner_field, Value::Text(owner.to_string()));
            let mut events = Vec::new();
            let mut before = BTreeMap::new();
            for id in &ids {
                let old = self.load_live(tx, kind, *id)?.owner(kind);
                let (_, event) =
                    self.apply_changes(tx, actor, kind, *id, &changes).map_err(|e| name_record(e, kind, *id))?;
                if let Some(event) = event {
                    before.insert(id.to_string(), json!(old));
                    events.push(event.detail("operation", json!(operation)));
                }
            }
            let changed = events.len();
            events.push(
                NewEvent::by(actor, self.now(), action::BULK_UPDATE)
                    .object("bulk_operation", operation)
                    .rows(changed)
                    .detail("kind", json!(kind.name))
                    .detail("field", json!(kind.owner_field))
                    .detail("to", json!(owner))
                    .detail("before", Json::Object(before.into_iter().collect())),
            );
            append_events(tx, events)?;
            Ok(BulkOutcome { operation, changed, skipped: ids.len() - changed })
        })
    }

    /// Puts back what a bulk operation changed, record by record, where nobody has changed the
    /// field again since. Only the co-worker who ran it, or an admin, may undo it, and only once.
    pub fn undo_bulk(&self, actor: &Actor, operation: Uuid) -> Result<BulkOutcome, CoreError> {
        self.db.write(|tx| {
            // Lock the chain first, so two undos of one operation cannot both pass the check.
            tx.chain_head()?;
            let filter = EventFilter {
                object_type: Some("bulk_operation".into()),
                object_id: Some(operation.to_string()),
                limit: 10,
                ..Default::default()
            };
            let events = tx.list_events(&filter)?;
            if events.iter().any(|e| e.event.action == action::BULK_UNDO) {
                return Err(CoreError::Conflict("this bulk change has already been undone".into()));
            }
            let done = events
                .iter()
                .find(|e| e.event.action == action::BULK_UPDATE)
                .ok_or_else(|| CoreError::not_found("bulk operation", operation))?;
            if !actor.is_admin() && actor.id().is_some() && done.event.coworker_id != actor.id() {
                return Err(CoreError::forbidden(
                    "only the co-worker who made a bulk change, or an admin, may undo it",
                ));
            }
            let d = &done.event.details;
            let kind =
                d["kind"].as_str().and_then(|k| record::ALL_KINDS.iter().copied().find(|r| r.name == k)).ok_or_else(
                    || CoreError::Conflict("the bulk change names no kind of record this server knows".into()),
                )?;
            let field = kind
                .field(d["field"].as_str().unwrap_or_default())
                .ok_or_else(|| CoreError::Conflict("the bulk change names no field this server knows".into()))?;
            let to = owner_value(&d["to"]);
            let mut events = Vec::new();
            let mut skipped = 0;
            for (id, old) in d["before"].as_object().into_iter().flatten() {
                let Ok(id) = Uuid::parse_str(id) else { continue };
                let current = match tx.get_record(kind, id)? {
                    Some(r) if r.deleted_at.is_none() => r,
                    _ => {
                        skipped += 1;
                        continue;
                    }
                };
                if current.get(field.name) != &to {
                    skipped += 1;
                    continue;
                }
                let mut changes = Changes::default();
                changes.fields.insert(field.name, owner_value(old));
                let (_, event) =
                    self.apply_changes(tx, actor, kind, id, &changes).map_err(|e| name_record(e, kind, id))?;
                events.extend(event.map(|e| e.detail("operation", json!(operation))));
            }
            let changed = events.len();
            events.push(
                NewEvent::by(actor, self.now(), action::BULK_UNDO)
                    .object("bulk_operation", operation)
                    .rows(changed)
                    .detail("kind", json!(kind.name))
                    .detail("skipped", json!(skipped)),
            );
            append_events(tx, events)?;
            Ok(BulkOutcome { operation, changed, skipped })
        })
    }

    /// Exports records as CSV (the columns `holdfast import` reads back), recording the export
    /// with its row count before any row is handed out.
    pub fn export_records(
        &self,
        actor: &Actor,
        kind: &'static RecordKind,
        scope: &ExportScope,
    ) -> Result<Export, CoreError> {
        let records = self.db.read(|tx| match scope {
            ExportScope::Picked(ids) => {
                let ids = checked_ids(ids)?;
                let policy = self.read_policy(tx)?;
                let mut out = Vec::with_capacity(ids.len());
                for id in ids {
                    let rec = self.load_live(tx, kind, id)?;
                    if !self.may_open(tx, actor, policy, kind, &rec)? {
                        return Err(CoreError::forbidden(format!(
                            "the read policy does not let {} open {} {id}",
                            actor.describe(),
                            kind.name
                        )));
                    }
                    out.push(rec);
                }
                Ok(out)
            }
            ExportScope::Matching(req) => {
                let mut query = self.build_query(tx, actor, kind, req)?;
                query.limit = EXPORT_MAX;
                let mut out = tx.list_records(kind, &query)?;
                if out.len() > EXPORT_MAX as usize {
                    return Err(CoreError::invalid(
                        "limit",
                        format!("more than {EXPORT_MAX} {} match; narrow the filters and export in parts", kind.plural),
                    ));
                }
                out.truncate(EXPORT_MAX as usize);
                Ok(out)
            }
        })?;
        let csv = to_csv(kind, &records)?;
        let mut event = NewEvent::by(actor, self.now(), action::EXPORT_CREATE)
            .object_type(kind.name)
            .rows(records.len())
            .detail("format", json!("csv"));
        match scope {
            ExportScope::Picked(ids) => event = event.detail("picked", json!(ids.len())),
            ExportScope::Matching(req) => {
                if let Some(q) = &req.q {
                    event = event.detail("q", json!(q));
                }
                if !req.filters.is_empty() || req.owner.is_some() {
                    event = event.detail("filters", super::records::filters_detail(req));
                }
            }
        }
        self.record_read(vec![event])?;
        let file_name = format!("{}-{}.csv", kind.plural, &format_timestamp(self.now())[..10]);
        Ok(Export { file_name, rows: records.len(), csv })
    }
}

fn checked_ids(ids: &[Uuid]) -> Result<Vec<Uuid>, CoreError> {
    let mut ids = ids.to_vec();
    ids.sort();
    ids.dedup();
    if ids.is_empty() {
        return Err(CoreError::invalid("ids", "pick at least one record"));
    }
    if ids.len() > BULK_MAX {
        return Err(CoreError::invalid("ids", format!("pick at most {BULK_MAX} records at a time")));
    }
    Ok(ids)
}

/// Says which record of a bulk operation was refused.
fn name_record(e: CoreError, kind: &RecordKind, id: Uuid) -> CoreError {
    match e {
        CoreError::Forbidden(why) => CoreError::Forbidden(format!("{} {id}: {why}; nothing was changed", kind.name)),
        other => other,
    }
}

fn to_csv(kind: &RecordKind, records: &[Record]) -> Result<String, CoreError> {
    let io = |e: csv::Error| CoreError::Storage(crate::error::StorageError::Other(format!("writing CSV: {e}")));
    let mut header = vec!["id"];
    header.extend(kind.fields.iter().map(|f| f.name));
    header.extend(["created_at", "updated_at"]);
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(&header).map_err(io)?;
    for r in records {
        // The API's shape of each value, so an export reads back through import unchanged.
        let json = r.to_json(kind);
        let row = header.iter().map(|name| match &json[*name] {
            Json::Null => String::new(),
            Json::String(s) => s.clone(),
            Json::Array(items) => items.iter().filter_map(Json::as_str).collect::<Vec<_>>().join(" "),
            other => other.to_string(),
        });
        w.write_record(row).map_err(io)?;
    }
    let bytes = w.into_inner().map_err(|e| io(e.into_error().into()))?;
    String::from_utf8(bytes).map_err(|e| CoreError::Storage(crate::error::StorageError::Other(e.to_string())))
}

/// An owner as the bulk event holds it: an id, or null for nobody.
fn owner_value(j: &Json) -> Value {
    match j.as_str() {
        Some(s) => Value::Text(s.to_string()),
        None => Value::Null,
    }
}
