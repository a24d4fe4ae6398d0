//! Bulk operations on many records at once, and exports.
//!
//! A bulk change is one transaction: every record is checked first, and one refusal changes
//! nothing. Each record gets its own `record.update` event (so its history page shows it), and the
//! operation gets a `bulk.update` event naming every record and what it held before, which is what
//! an undo puts back. The log is the only place an operation is kept: there is no side table to
//! drift from it.
//!
//! Exports are in `exports.rs`: one service for every channel.

use serde_json::{Value as Json, json};
use uuid::Uuid;

use super::{Holdfast, append_events};
use crate::coworker::Actor;
use crate::error::CoreError;
use crate::event::{EventFilter, NewEvent, action};
use crate::record::{self, Changes, RecordKind, Value};
use crate::storage::Database;

/// Most records one bulk operation or one export may name.
pub const BULK_MAX: usize = 1_000;
/// Most rows one export may carry (exports stream through a temporary file in constant memory;
/// the co-worker's policy is what limits them in practice).
pub const EXPORT_MAX: u32 = 2_000_000;

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

/// The kinds of record a handover moves. Activities stay with whoever logged them: they are the
/// history of who talked to the customer, not work to carry on.
pub static HANDED_OVER: [&RecordKind; 6] =
    [&record::ACCOUNTS, &record::CONTACTS, &record::LEADS, &record::DEALS, &record::CONTRACTS, &record::TASKS];

/// What one reassignment wrote: the operation, how many records changed, how many per kind.
struct Reassigned {
    operation: Uuid,
    changed: usize,
    per_kind: Vec<KindCount>,
}

/// What a handover did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handover {
    /// The operation's id, which `undo_bulk` takes.
    pub operation: Uuid,
    pub changed: usize,
    /// Records handed over, per kind (plural), in the order of `record::ALL_KINDS`.
    pub per_kind: Vec<KindCount>,
    /// Names of the co-workers it went from and to.
    pub from: String,
    pub to: String,
}

/// How many records of one kind an operation touched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KindCount {
    /// The kind's plural (`accounts`, `contacts`, …).
    pub plural: &'static str,
    pub count: usize,
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
        self.noting_refusals(
            actor,
            || format!("hand {} {} to {owner}", ids.len(), kind.plural),
            || {
                let ids = checked_ids(ids)?;
                self.db.write(|tx| {
                    let owner = self.resolve_coworker(tx, "owner", owner)?.id;
                    let picked = ids.len();
                    let done = self.reassign(tx, actor, vec![(kind, ids)], owner, None)?;
                    Ok(BulkOutcome { operation: done.operation, changed: done.changed, skipped: picked - done.changed })
                })
            },
        )
    }

    /// What a co-worker owns, per kind of record (for a handover's preview; no customer data).
    pub fn ownership(&self, actor: &Actor, who: &str) -> Result<Vec<(&'static RecordKind, i64)>, CoreError> {
        let target = self.coworker_for_review(actor, who)?;
        self.db.read(|tx| HANDED_OVER.iter().map(|k| Ok((*k, tx.count_owned(k, target.id)?))).collect())
    }

    /// A handover: every live record `from` owns (of the kinds in [`HANDED_OVER`]) goes to `to` in one transaction
    /// (one refused record changes nothing), recorded as one `coworker.handover` event that an
    /// undo can reverse. For a co-worker who is leaving, or moving to other work.
    pub fn handover(&self, actor: &Actor, from: &str, to: &str) -> Result<Handover, CoreError> {
        self.noting_refusals(
            actor,
            || format!("hand everything {from} owns to {to}"),
            || {
                self.db.write(|tx| {
                    let from = self.resolve_coworker(tx, "from", from)?;
                    let to = self.resolve_coworker(tx, "to", to)?;
                    if from.id == to.id {
                        return Err(CoreError::invalid("to", "hand over to someone else than the co-worker leaving"));
                    }
                    if !to.status.may_sign_in() {
                        return Err(CoreError::invalid(
                            "to",
                            format!("{} is {} and cannot take over customers", to.name, to.status.as_str()),
                        ));
                    }
                    let mut targets = Vec::new();
                    for kind in HANDED_OVER.iter().copied() {
                        let query = crate::storage::RecordQuery {
                            filters: vec![(kind.owner_field, Value::Text(from.id.to_string()))],
                            sort: "created_at",
                            limit: u32::MAX - 1,
                            ..Default::default()
                        };
                        let ids: Vec<Uuid> = tx.list_records(kind, &query)?.iter().map(|r| r.id).collect();
                        if !ids.is_empty() {
                            targets.push((kind, ids));
                        }
                    }
                    let done = self.reassign(tx, actor, targets, to.id, Some(from.id))?;
                    Ok(Handover {
                        operation: done.operation,
                        changed: done.changed,
                        per_kind: done.per_kind,
                        from: from.name,
                        to: to.name,
                    })
                })
            },
        )
    }

    /// Gives every listed record to `owner` inside `tx`, appending one `record.update` per record
    /// and one event for the operation (`coworker.handover` when `from` is given, else
    /// `bulk.update`) that keeps what each record held before. Returns the operation's id, how
    /// many records changed, and how many of each kind.
    fn reassign(
        &self,
        tx: &mut dyn crate::storage::Tx,
        actor: &Actor,
        targets: Vec<(&'static RecordKind, Vec<Uuid>)>,
        owner: Uuid,
        from: Option<Uuid>,
    ) -> Result<Reassigned, CoreError> {
        let operation = crate::id::new_id();
        let mut events = Vec::new();
        let mut before = serde_json::Map::new();
        let mut per_kind = Vec::new();
        for (kind, ids) in targets {
            let mut changes = Changes::default();
            changes.fields.insert(kind.owner_field, Value::Text(owner.to_string()));
            let mut was = serde_json::Map::new();
            for id in ids {
                let applied =
                    self.apply_changes(tx, actor, kind, id, &changes).map_err(|e| name_record(e, kind, id))?;
                if let Some(event) = applied.event {
                    was.insert(id.to_string(), json!(applied.before.owner(kind)));
                    events.push(event.detail("operation", json!(operation)));
                }
            }
            if !was.is_empty() {
                per_kind.push(KindCount { plural: kind.plural, count: was.len() });
                before.insert(kind.name.into(), Json::Object(was));
            }
        }
        let changed = events.len();
        let mut event =
            NewEvent::by(actor, self.now(), if from.is_some() { action::HANDOVER } else { action::BULK_UPDATE })
                .object("bulk_operation", operation)
                .rows(changed)
                .detail("field", json!("owner_id"))
                .detail("to", json!(owner))
                .detail("before", Json::Object(before));
        if let Some(from) = from {
            event = event.detail("from", json!(from));
        }
        events.push(event);
        append_events(tx, events)?;
        Ok(Reassigned { operation, changed, per_kind })
    }

    /// Puts back what a bulk operation or handover changed, record by record, where nobody has
    /// changed the owner again since. Only the co-worker who ran it, or an admin, may undo it, and
    /// only once.
    pub fn undo_bulk(&self, actor: &Actor, operation: Uuid) -> Result<BulkOutcome, CoreError> {
        self.noting_refusals(
            actor,
            || format!("undo bulk change {operation}"),
            || {
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
                        return Err(CoreError::Conflict("this change has already been undone".into()));
                    }
                    let done = events
                        .iter()
                        .find(|e| e.event.action == action::BULK_UPDATE || e.event.action == action::HANDOVER)
                        .ok_or_else(|| CoreError::not_found("bulk operation", operation))?;
                    if !actor.is_admin() && actor.id().is_some() && done.event.coworker_id != actor.id() {
                        return Err(CoreError::forbidden(
                            "only the co-worker who made a bulk change, or an admin, may undo it",
                        ));
                    }
                    let d = &done.event.details;
                    let to = owner_value(&d["to"]);
                    let mut events = Vec::new();
                    let mut skipped = 0;
                    for (kind_name, records) in d["before"].as_object().into_iter().flatten() {
                        let kind =
                            record::ALL_KINDS.iter().copied().find(|r| r.name == kind_name).ok_or_else(|| {
                                CoreError::Conflict(format!(
                                    "the change names '{kind_name}', a kind of record this server does not know"
                                ))
                            })?;
                        for (id, old) in records.as_object().into_iter().flatten() {
                            let Ok(id) = Uuid::parse_str(id) else { continue };
                            let current = match tx.get_record(kind, id)? {
                                Some(r) if r.deleted_at.is_none() => r,
                                _ => {
                                    skipped += 1;
                                    continue;
                                }
                            };
                            if current.get(kind.owner_field) != &to {
                                skipped += 1;
                                continue;
                            }
                            let mut changes = Changes::default();
                            changes.fields.insert(kind.owner_field, owner_value(old));
                            let applied = self
                                .apply_changes(tx, actor, kind, id, &changes)
                                .map_err(|e| name_record(e, kind, id))?;
                            events.extend(applied.event.map(|e| e.detail("operation", json!(operation))));
                        }
                    }
                    let changed = events.len();
                    events.push(
                        NewEvent::by(actor, self.now(), action::BULK_UNDO)
                            .object("bulk_operation", operation)
                            .rows(changed)
                            .detail("undoes", json!(done.event.action))
                            .detail("skipped", json!(skipped)),
                    );
                    append_events(tx, events)?;
                    Ok(BulkOutcome { operation, changed, skipped })
                })
            },
        )
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

/// What a spreadsheet would run as a formula when a cell starts with it (OWASP, CSV injection).
pub(crate) const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// Whether a text, past any leading `'`, starts a formula.
pub(crate) fn starts_formula(text: &str) -> bool {
    text.trim_start_matches('\'').starts_with(FORMULA_STARTS)
}

/// A text cell a spreadsheet shows as text: one that would start a formula (even behind
/// apostrophes) gets one more leading `'`, which spreadsheets hide and the import removes again.
pub(crate) fn neutralized(text: &str) -> String {
    if starts_formula(text) { format!("'{text}") } else { text.to_string() }
}

/// A cell as it was before [`neutralized`].
pub(crate) fn unneutralized(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if starts_formula(rest) => rest,
        _ => cell,
    }
}

/// An owner as the bulk event holds it: an id, or null for nobody.
fn owner_value(j: &Json) -> Value {
    match j.as_str() {
        Some(s) => Value::Text(s.to_string()),
        None => Value::Null,
    }
}

#[cfg(test)]
mod csv_tests {
    use super::*;

    #[test]
    fn cells_a_spreadsheet_would_run_are_neutralized_and_read_back() {
        for formula in ["=HYPERLINK(\"http://evil\")", "+1 555 0100", "-2+3", "@SUM(A1)", "\tx", "\rx"] {
            let cell = neutralized(formula);
            assert!(cell.starts_with('\''), "{formula}");
            assert_eq!(unneutralized(&cell), formula);
        }
        assert_eq!(neutralized("Acme"), "Acme");
        assert_eq!(unneutralized("'quoted"), "'quoted", "an apostrophe the export did not add stays");
        assert_eq!(unneutralized(&neutralized("'=x")), "'=x");
    }
}
