//! Customer records: create, read, update, delete, restore, list and search.
//!
//! About 700 lines on purpose: every path here shares the same steps (read policy, bulk-read
//! metering, refusals recorded, events written), and they read best side by side. Paging cursors
//! are in `cursors.rs`, the home pages' reports in `reports.rs`.

use std::collections::BTreeMap;

use serde_json::{Value as Json, json};
use uuid::Uuid;

use super::cursors::{decode_cursor, encode_cursor, fits_sort};
use super::leads::Door;
use super::metering::{Reach, ReadKind, as_read};
use super::protocol::{ProtocolNote, reached_contacts};
use super::{Holdfast, append_events, append_events_with_ids};
use crate::access::{self, ReadPolicy};
use crate::coworker::Actor;
use crate::error::{CoreError, FieldError};
use crate::event::{NewEvent, action};
use crate::record::{self, Changes, FieldType, Kind, Record, RecordKind, Value, parse_changes, search_words};
use crate::storage::{Database, Deleted, RecordQuery, Tx};

/// A list request as a client states it (query parameters or CLI flags).
#[derive(Debug, Clone, Default)]
pub struct ListRequest {
    pub q: Option<String>,
    /// Co-worker id or email.
    pub owner: Option<String>,
    /// Other `field=value` equality filters.
    pub filters: Vec<(String, String)>,
    /// A sortable field, `created_at` or `updated_at`; `-` in front for descending.
    pub sort: Option<String>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
    pub offset: Option<u64>,
    /// List deleted records instead (admins only).
    pub deleted: bool,
}

/// One record changed inside a transaction: as it is now, and its event (none when nothing
/// changed).
pub(crate) struct Applied {
    pub after: Record,
    pub event: Option<NewEvent>,
}

/// One page of a list.
#[derive(Debug, Clone)]
pub struct Page {
    pub items: Vec<Record>,
    pub next_cursor: Option<String>,
    /// The actor had already read past the bulk-read limit, so this page was recorded as an export.
    pub counted_as_export: bool,
}

/// Records of one kind found by a cross-record search.
#[derive(Debug, Clone)]
pub struct SearchHit {
    pub kind: &'static RecordKind,
    pub records: Vec<Record>,
}

pub const DEFAULT_PAGE: u32 = 50;
pub const MAX_PAGE: u32 = 500;

impl<D: Database> Holdfast<D> {
    /// Owner and collaborators of the account a record belongs to (for the record itself when it
    /// is an account).
    pub(crate) fn account_team(
        &self,
        tx: &mut dyn Tx,
        kind: &RecordKind,
        rec: &Record,
    ) -> Result<Vec<Uuid>, CoreError> {
        if kind.kind == Kind::Account {
            return Ok(team_of(rec));
        }
        match rec.account(kind) {
            Some(id) => self.team_of_account(tx, id),
            None => Ok(Vec::new()),
        }
    }

    /// An account's team: its owner and collaborators (none when it does not exist).
    pub(crate) fn team_of_account(&self, tx: &mut dyn Tx, account: Uuid) -> Result<Vec<Uuid>, CoreError> {
        Ok(tx.get_record(&record::ACCOUNTS, account)?.map(|a| team_of(&a)).unwrap_or_default())
    }

    /// Checks that every reference in `changes` points at something that exists.
    fn check_references(&self, tx: &mut dyn Tx, kind: &RecordKind, changes: &Changes) -> Result<(), CoreError> {
        let mut errors = Vec::new();
        for (name, value) in &changes.fields {
            let (Some(field), Some(id)) = (kind.field(name), value.as_text()) else { continue };
            if let FieldType::Ref(target) = field.ty {
                let id = Uuid::parse_str(id).map_err(|_| CoreError::invalid(name, "is not an id"))?;
                if !self.exists(tx, target, id)? {
                    errors.push(FieldError::new(*name, format!("no {} has the id {id}", target.name())));
                }
            }
        }
        for (name, ids) in &changes.links {
            let Some(FieldType::RefList(target)) = kind.field(name).map(|f| f.ty) else { continue };
            for id in ids {
                if !self.exists(tx, target, *id)? {
                    errors.push(FieldError::new(*name, format!("no {} has the id {id}", target.name())));
                }
            }
        }
        if errors.is_empty() { Ok(()) } else { Err(CoreError::Invalid(errors)) }
    }

    fn exists(&self, tx: &mut dyn Tx, target: Kind, id: Uuid) -> Result<bool, CoreError> {
        Ok(match target {
            Kind::CoWorker => tx.get_coworker(id)?.is_some(),
            other => match record::RecordKind::by_kind(other) {
                Some(k) => tx.get_record(k, id)?.is_some_and(|r| r.deleted_at.is_none()),
                None => false,
            },
        })
    }

    /// Creates a record from JSON field values. The owner defaults to the actor.
    pub fn create_record(&self, actor: &Actor, kind: &'static RecordKind, input: &Json) -> Result<Record, CoreError> {
        self.noting_refusals(
            actor,
            || format!("create a {}", kind.name),
            || {
                if kind.kind == Kind::Lead {
                    let door = if actor.channel == crate::coworker::Channel::Session { Door::Hand } else { Door::Api };
                    return self.capture_lead(actor, input, door).map(|c| c.lead);
                }
                let (note, input) = ProtocolNote::take(kind, input)?;
                let changes = parse_changes(kind, &input, true)?;
                self.db.write(|tx| {
                    let record = self.insert_new(tx, actor, kind, changes)?;
                    let touches =
                        if kind.kind == Kind::Activity { self.touch_lead_in(tx, actor, &record)? } else { Vec::new() };
                    let breaches =
                        self.check_protocol(tx, actor, &reached_contacts(kind, &record), note, record.created_at)?;
                    let mut event = NewEvent::by(actor, record.created_at, action::RECORD_CREATE)
                        .object(kind.name, record.id)
                        .rows(1)
                        .detail("fields", fields_json(kind, &record));
                    event = protocol_detail(event, note, &breaches);
                    let ids = append_events_with_ids(tx, std::iter::once(event).chain(touches).collect())?;
                    if let Some(event_id) = ids.first() {
                        self.raise_protocol_alerts(tx, actor, kind, &record, *event_id, breaches)?;
                    }
                    Ok(record)
                })
            },
        )
    }

    /// Checks and inserts a new record inside `tx` (no event: the caller writes it).
    pub(crate) fn insert_new(
        &self,
        tx: &mut dyn Tx,
        actor: &Actor,
        kind: &'static RecordKind,
        changes: Changes,
    ) -> Result<Record, CoreError> {
        self.insert_checked(tx, actor, kind, changes, true)
    }

    /// Inserts a new record; `check_references` is false only for callers that found every
    /// referenced record themselves in the same transaction (the import).
    pub(crate) fn insert_checked(
        &self,
        tx: &mut dyn Tx,
        actor: &Actor,
        kind: &'static RecordKind,
        changes: Changes,
        check_references: bool,
    ) -> Result<Record, CoreError> {
        self.insert_owned(tx, actor, kind, changes, check_references, true)
    }

    /// Inserts a new record; `check_owner` is false only when the lead rules picked the owner
    /// (whoever brought the lead in may not hand out records themselves).
    pub(crate) fn insert_owned(
        &self,
        tx: &mut dyn Tx,
        actor: &Actor,
        kind: &'static RecordKind,
        mut changes: Changes,
        check_references: bool,
        check_owner: bool,
    ) -> Result<Record, CoreError> {
        let now = self.now();
        if !changes.fields.contains_key(kind.owner_field)
            && let Some(me) = actor.id()
        {
            changes.fields.insert(kind.owner_field, Value::Text(me.to_string()));
        }
        if let Some(owner) = changes.fields.get(kind.owner_field).and_then(|v| v.as_text()) {
            let owner = Uuid::parse_str(owner).map_err(|_| CoreError::invalid(kind.owner_field, "is not an id"))?;
            if check_owner && !access::may_assign(actor, owner) {
                return Err(CoreError::forbidden(format!(
                    "{} may not create {} owned by another co-worker",
                    actor.describe(),
                    kind.plural
                )));
            }
        }
        for field in kind.columns() {
            if field.ty == FieldType::Timestamp && field.required && !changes.fields.contains_key(field.name) {
                changes.fields.insert(field.name, Value::Int(now));
            }
        }
        if check_references {
            self.check_references(tx, kind, &changes)?;
        }
        if kind.field("email").is_some() {
            self.refuse_canary(tx, changes.fields.get("email"))?;
        }
        let mut record = Record {
            id: crate::id::new_id(),
            created_at: now,
            updated_at: now,
            created_by: actor.id(),
            updated_by: actor.id(),
            deleted_at: None,
            fields: changes.fields,
            links: changes.links,
        };
        for field in kind.columns() {
            record.fields.entry(field.name).or_insert(Value::Null);
        }
        tx.insert_record(kind, &record)?;
        Ok(record)
    }

    pub(crate) fn load_live(&self, tx: &mut dyn Tx, kind: &'static RecordKind, id: Uuid) -> Result<Record, CoreError> {
        match tx.get_record(kind, id)? {
            Some(r) if r.deleted_at.is_none() => Ok(r),
            _ => Err(CoreError::not_found(kind.name, id)),
        }
    }

    /// Whether the read policy lets `actor` open `record`.
    pub(crate) fn may_open(
        &self,
        tx: &mut dyn Tx,
        actor: &Actor,
        policy: ReadPolicy,
        kind: &RecordKind,
        record: &Record,
    ) -> Result<bool, CoreError> {
        if policy == ReadPolicy::All || actor.id().is_none() {
            return Ok(true);
        }
        let team = self.account_team(tx, kind, record)?;
        Ok(access::may_read(actor, policy, record.owner(kind), &team))
    }

    /// Opens one record, recording the read.
    pub fn get_record(&self, actor: &Actor, kind: &'static RecordKind, id: Uuid) -> Result<Record, CoreError> {
        self.noting_refusals(
            actor,
            || format!("open {} {id}", kind.name),
            || {
                let _turn = self.read_turn(actor, Reach::One)?;
                let (record, (read, crossed), outside) = self.db.read(|tx| {
                    let read = self.classify_read(tx, actor, Reach::One)?;
                    let record = self.load_live(tx, kind, id)?;
                    let policy = self.read_policy(tx)?;
                    if !self.may_open(tx, actor, policy, kind, &record)? {
                        return Err(CoreError::forbidden(format!(
                            "the read policy lets {} open only their own or their team's {}",
                            actor.describe(),
                            kind.plural
                        )));
                    }
                    let outside = self.outside_book(tx, actor, kind, &record)?;
                    Ok((record, read, outside))
                })?;
                self.raise_budget_alert(crossed)?;
                let mut event =
                    NewEvent::by(actor, self.now(), action::RECORD_READ).object(kind.name, record.id).rows(1);
                if outside {
                    event = event.detail("outside_book", json!(true));
                }
                self.record_read(vec![as_read(read, event)])?;
                self.meter_read(actor, 1);
                if outside && let Err(e) = self.count_outside_book(actor) {
                    tracing::warn!("the outside-book check for {} failed: {e}", actor.describe());
                }
                Ok(record)
            },
        )
    }

    /// Changes the given fields of a record; records each field's value before and after.
    pub fn update_record(
        &self,
        actor: &Actor,
        kind: &'static RecordKind,
        id: Uuid,
        input: &Json,
    ) -> Result<Record, CoreError> {
        self.noting_refusals(
            actor,
            || format!("change {} {id}", kind.name),
            || {
                let (note, input) = ProtocolNote::take(kind, input)?;
                let changes = parse_changes(kind, &input, false)?;
                let (record, changed) = self.db.write(|tx| {
                    let before = match kind.kind {
                        Kind::Activity | Kind::Task => reached_contacts(kind, &self.load_live(tx, kind, id)?),
                        _ => Vec::new(),
                    };
                    let applied = self.apply_changes(tx, actor, kind, id, &changes)?;
                    let changed = applied.event.is_some();
                    let added: Vec<Uuid> =
                        reached_contacts(kind, &applied.after).into_iter().filter(|c| !before.contains(c)).collect();
                    let now = applied.after.updated_at;
                    let breaches = self.check_protocol(tx, actor, &added, note, now)?;
                    let events: Vec<NewEvent> =
                        applied.event.into_iter().map(|e| protocol_detail(e, note, &breaches)).collect();
                    let ids = append_events_with_ids(tx, events)?;
                    if let Some(event_id) = ids.first() {
                        self.raise_protocol_alerts(tx, actor, kind, &applied.after, *event_id, breaches)?;
                    }
                    Ok((applied.after, changed))
                })?;
                if !changed {
                    // Nothing changed, but the answer carries the whole record: that is a read.
                    self.record_unchanged_read(actor, kind, &record)?;
                }
                Ok(record)
            },
        )
    }

    /// Records (and meters) a read that came back from a change that changed nothing.
    pub(crate) fn record_unchanged_read(
        &self,
        actor: &Actor,
        kind: &RecordKind,
        record: &Record,
    ) -> Result<(), CoreError> {
        let _turn = self.read_turn(actor, Reach::One)?;
        let (read, crossed) = self.db.read(|tx| self.classify_read(tx, actor, Reach::One))?;
        self.raise_budget_alert(crossed)?;
        let event = NewEvent::by(actor, self.now(), action::RECORD_READ)
            .object(kind.name, record.id)
            .rows(1)
            .detail("unchanged_update", json!(true));
        self.record_read(vec![as_read(read, event)])?;
        self.meter_read(actor, 1);
        Ok(())
    }

    /// Checks and writes `changes` to one record inside `tx`; returns the record as it was, and
    /// the `record.update` event to append (none when nothing changed).
    pub(crate) fn apply_changes(
        &self,
        tx: &mut dyn Tx,
        actor: &Actor,
        kind: &'static RecordKind,
        id: Uuid,
        changes: &Changes,
    ) -> Result<Applied, CoreError> {
        let before = self.load_live(tx, kind, id)?;
        let team = self.account_team(tx, kind, &before)?;
        if !access::may_edit(actor, before.owner(kind), &team) {
            return Err(CoreError::forbidden(format!(
                "{} may change only {} they own or whose account team they are on; ask the owner or a manager",
                actor.describe(),
                kind.plural
            )));
        }
        if let Some(Value::Text(new_owner)) = changes.fields.get(kind.owner_field) {
            let new_owner =
                Uuid::parse_str(new_owner).map_err(|_| CoreError::invalid(kind.owner_field, "is not an id"))?;
            if before.owner(kind) != Some(new_owner) && !access::may_assign(actor, new_owner) {
                return Err(CoreError::forbidden(format!(
                    "{} may not hand {} to another co-worker",
                    actor.describe(),
                    kind.plural
                )));
            }
        }
        self.check_references(tx, kind, changes)?;
        if kind.field("email").is_some() {
            self.refuse_canary(tx, changes.fields.get("email"))?;
        }
        self.write_changes(tx, actor, kind, before, changes)
    }

    /// Writes `changes` to `before` without asking whether the actor may (the caller decided:
    /// a lead coming in again, a lead's clock): a lead is rescored on the way.
    pub(crate) fn write_changes(
        &self,
        tx: &mut dyn Tx,
        actor: &Actor,
        kind: &'static RecordKind,
        before: Record,
        changes: &Changes,
    ) -> Result<Applied, CoreError> {
        let id = before.id;
        let mut lead_changes;
        let changes = if kind.kind == Kind::Lead {
            lead_changes = changes.clone();
            self.lead_follow_ups(tx, &before, &mut lead_changes)?;
            &lead_changes
        } else {
            changes
        };
        let mut after = before.clone();
        let mut diff = serde_json::Map::new();
        for (name, value) in &changes.fields {
            if after.get(name) != value {
                let field = kind.field(name);
                diff.insert(
                    (*name).into(),
                    json!({"from": field_json(field, before.get(name)), "to": field_json(field, value)}),
                );
                after.fields.insert(name, value.clone());
            }
        }
        for (name, ids) in &changes.links {
            let old = before.links.get(name).cloned().unwrap_or_default();
            if &old != ids {
                diff.insert((*name).into(), json!({"from": old, "to": ids}));
                after.links.insert(name, ids.clone());
            }
        }
        if diff.is_empty() {
            return Ok(Applied { after, event: None });
        }
        after.updated_at = self.now();
        after.updated_by = actor.id();
        tx.update_record(kind, &after)?;
        let event = NewEvent::by(actor, after.updated_at, action::RECORD_UPDATE)
            .object(kind.name, id)
            .rows(1)
            .detail("changes", Json::Object(diff));
        Ok(Applied { after, event: Some(event) })
    }

    /// Soft-deletes a record: it disappears from lists and can be restored by an admin.
    pub fn delete_record(&self, actor: &Actor, kind: &'static RecordKind, id: Uuid) -> Result<(), CoreError> {
        self.noting_refusals(
            actor,
            || format!("delete {} {id}", kind.name),
            || {
                self.db.write(|tx| {
                    let mut rec = self.load_live(tx, kind, id)?;
                    let team = self.account_team(tx, kind, &rec)?;
                    if !access::may_edit(actor, rec.owner(kind), &team) {
                        return Err(CoreError::forbidden(format!(
                            "{} may delete only {} they own or whose account team they are on",
                            actor.describe(),
                            kind.plural
                        )));
                    }
                    rec.deleted_at = Some(self.now());
                    rec.updated_by = actor.id();
                    tx.update_record(kind, &rec)?;
                    let event = NewEvent::by(actor, self.now(), action::RECORD_DELETE)
                        .object(kind.name, id)
                        .rows(1)
                        .detail("label", Json::String(rec.label(kind)));
                    append_events(tx, vec![event])?;
                    Ok(())
                })
            },
        )
    }

    /// Brings back a deleted record (admins only).
    pub fn restore_record(&self, actor: &Actor, kind: &'static RecordKind, id: Uuid) -> Result<Record, CoreError> {
        let mut restored = self.restore_records(actor, kind, &[id])?;
        restored.pop().ok_or_else(|| CoreError::not_found(kind.name, id))
    }

    /// Brings back deleted records, all or none (admins only).
    pub fn restore_records(
        &self,
        actor: &Actor,
        kind: &'static RecordKind,
        ids: &[Uuid],
    ) -> Result<Vec<Record>, CoreError> {
        self.noting_refusals(
            actor,
            || format!("restore {} {}", ids.len(), kind.plural),
            || {
                if !actor.is_admin() {
                    return Err(CoreError::forbidden("only an admin may restore deleted records"));
                }
                if ids.is_empty() || ids.len() > super::BULK_MAX {
                    return Err(CoreError::invalid("ids", format!("pick between 1 and {} records", super::BULK_MAX)));
                }
                self.db.write(|tx| {
                    let mut out = Vec::with_capacity(ids.len());
                    let mut events = Vec::with_capacity(ids.len());
                    for id in ids {
                        let mut rec = tx.get_record(kind, *id)?.ok_or_else(|| CoreError::not_found(kind.name, id))?;
                        if rec.deleted_at.is_none() {
                            return Err(CoreError::Conflict(format!("{} {id} is not deleted", kind.name)));
                        }
                        rec.deleted_at = None;
                        rec.updated_at = self.now();
                        rec.updated_by = actor.id();
                        tx.update_record(kind, &rec)?;
                        events.push(
                            NewEvent::by(actor, self.now(), action::RECORD_RESTORE).object(kind.name, id).rows(1),
                        );
                        out.push(rec);
                    }
                    append_events(tx, events)?;
                    Ok(out)
                })
            },
        )
    }

    /// Lists records with filters, sort and paging; records the list read with its row count.
    pub fn list_records(&self, actor: &Actor, kind: &'static RecordKind, req: &ListRequest) -> Result<Page, CoreError> {
        self.noting_refusals(
            actor,
            || format!("list {}", kind.plural),
            || {
                if req.deleted && !actor.is_admin() {
                    return Err(CoreError::forbidden("only an admin may list deleted records"));
                }
                let _turn = self.read_turn(actor, Reach::Many)?;
                let (page, query, (read, crossed)) = self.db.read(|tx| {
                    let read = self.classify_read(tx, actor, Reach::Many)?;
                    let query = self.build_query(tx, actor, kind, req)?;
                    let mut items = tx.list_records(kind, &query)?;
                    let more = items.len() > query.limit as usize;
                    items.truncate(query.limit as usize);
                    let next_cursor =
                        if more { items.last().map(|r| encode_cursor(kind, r, query.sort)) } else { None };
                    Ok((Page { items, next_cursor, counted_as_export: read.0 == ReadKind::Bulk }, query, read))
                })?;
                self.raise_budget_alert(crossed)?;
                let act = if query.words.is_empty() { action::LIST_READ } else { action::SEARCH };
                let mut event = NewEvent::by(actor, self.now(), act).object_type(kind.name).rows(page.items.len());
                if let Some(q) = &req.q {
                    event = event.detail("q", Json::String(q.clone()));
                }
                if !req.filters.is_empty() || req.owner.is_some() {
                    event = event.detail("filters", filters_detail(req));
                }
                if query.offset > 0 {
                    event = event.detail("offset", json!(query.offset));
                }
                if req.deleted {
                    event = event.detail("deleted", Json::Bool(true));
                }
                self.record_read(vec![as_read(read, event)])?;
                self.meter_read(actor, page.items.len());
                Ok(page)
            },
        )
    }

    pub(crate) fn build_query(
        &self,
        tx: &mut dyn Tx,
        actor: &Actor,
        kind: &'static RecordKind,
        req: &ListRequest,
    ) -> Result<RecordQuery, CoreError> {
        let mut query = RecordQuery {
            words: req.q.as_deref().map(search_words).unwrap_or_default(),
            limit: req.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE),
            offset: req.offset.unwrap_or(0),
            deleted: if req.deleted { Deleted::Only } else { Deleted::Exclude },
            ..Default::default()
        };
        if !query.words.is_empty() && !kind.searchable() {
            return Err(CoreError::invalid(
                "q",
                format!("{} cannot be searched by text; use field filters", kind.plural),
            ));
        }
        query.words.truncate(8);
        let policy = self.read_policy(tx)?;
        query.owners = access::readable_owners(actor, policy);
        if let Some(owner) = &req.owner {
            let id = self.resolve_coworker(tx, "owner", owner)?.id;
            query.filters.push((kind.owner_field, Value::Text(id.to_string())));
        }
        let mut errors = Vec::new();
        for (name, raw) in &req.filters {
            match kind.field(name) {
                // A link list matches when it holds the id (`contact_ids=…`: activities with that contact).
                Some(field) if matches!(field.ty, FieldType::RefList(_)) => match Uuid::parse_str(raw.trim()) {
                    Ok(id) => query.filters.push((field.name, Value::Text(id.to_string()))),
                    Err(_) => errors.push(FieldError::new(name, format!("'{raw}' is not an id"))),
                },
                Some(field) if field.ty != FieldType::Timestamp => {
                    match record::parse_value(field, &Json::String(raw.clone())) {
                        Ok(v) => query.filters.push((field.name, v)),
                        Err(reason) => errors.push(FieldError::new(name, reason)),
                    }
                }
                _ => errors.push(FieldError::new(name, format!("{} cannot be filtered by '{name}'", kind.plural))),
            }
        }
        let sort = req.sort.as_deref().unwrap_or(kind.default_sort);
        let (descending, sort_name) = match sort.strip_prefix('-') {
            Some(s) => (true, s),
            None => (false, sort),
        };
        query.descending = descending;
        query.sort = match sort_name {
            "created_at" => "created_at",
            "updated_at" => "updated_at",
            other => match kind.field(other) {
                Some(f) if f.sortable => f.name,
                _ => {
                    let options: Vec<&str> = kind.fields.iter().filter(|f| f.sortable).map(|f| f.name).collect();
                    errors.push(FieldError::new(
                        "sort",
                        format!("cannot sort by '{other}'; use created_at, updated_at or {}", options.join(", ")),
                    ));
                    "created_at"
                }
            },
        };
        if let Some(cursor) = &req.cursor {
            match decode_cursor(cursor).filter(|(v, _)| fits_sort(kind, query.sort, v)) {
                Some(after) => query.after = Some(after),
                None => errors
                    .push(FieldError::new("cursor", "is not a cursor this server gave out; start again without it")),
            }
        }
        if errors.is_empty() { Ok(query) } else { Err(CoreError::Invalid(errors)) }
    }

    /// Searches accounts, contacts, leads and deals at once by name, email, phone and domain.
    pub fn search(&self, actor: &Actor, q: &str, per_kind: u32) -> Result<Vec<SearchHit>, CoreError> {
        self.noting_refusals(
            actor,
            || format!("search for {q:?}"),
            || {
                let words = search_words(q);
                if words.is_empty() {
                    return Err(CoreError::invalid("q", "type at least one letter or digit to search for"));
                }
                let per_kind = per_kind.clamp(1, 100);
                let _turn = self.read_turn(actor, Reach::Many)?;
                let (hits, (read, crossed)) = self.db.read(|tx| {
                    let read = self.classify_read(tx, actor, Reach::Many)?;
                    let owners = access::readable_owners(actor, self.read_policy(tx)?);
                    let mut hits = Vec::new();
                    for kind in [&record::ACCOUNTS, &record::CONTACTS, &record::LEADS, &record::DEALS] {
                        let query = RecordQuery {
                            words: words.iter().take(8).cloned().collect(),
                            owners: owners.clone(),
                            sort: "updated_at",
                            descending: true,
                            limit: per_kind,
                            ..Default::default()
                        };
                        let mut records = tx.list_records(kind, &query)?;
                        records.truncate(per_kind as usize);
                        hits.push(SearchHit { kind, records });
                    }
                    Ok((hits, read))
                })?;
                self.raise_budget_alert(crossed)?;
                let rows: usize = hits.iter().map(|h| h.records.len()).sum();
                self.record_read(vec![as_read(
                    read,
                    NewEvent::by(actor, self.now(), action::SEARCH).rows(rows).detail("q", Json::String(q.to_string())),
                )])?;
                self.meter_read(actor, rows);
                Ok(hits)
            },
        )
    }

    /// Display labels (names) of records by id, for links from other records: one list read of
    /// the records the actor may open; the others are left out.
    pub fn labels(
        &self,
        actor: &Actor,
        kind: &'static RecordKind,
        ids: &[Uuid],
    ) -> Result<std::collections::HashMap<Uuid, String>, CoreError> {
        let mut ids = ids.to_vec();
        ids.sort();
        ids.dedup();
        ids.truncate(500);
        if ids.is_empty() {
            return Ok(Default::default());
        }
        let labels = self.db.read(|tx| {
            let policy = self.read_policy(tx)?;
            let mut out = std::collections::HashMap::new();
            for rec in tx.get_records(kind, &ids)? {
                if rec.deleted_at.is_none() && self.may_open(tx, actor, policy, kind, &rec)? {
                    out.insert(rec.id, rec.label(kind));
                }
            }
            Ok(out)
        })?;
        self.record_read(vec![
            NewEvent::by(actor, self.now(), action::LIST_READ)
                .object_type(kind.name)
                .rows(labels.len())
                .detail("labels", Json::Bool(true)),
        ])?;
        Ok(labels)
    }

    /// How many live records of a kind exist (for summaries; no customer data is read).
    pub fn count_records(&self, kind: &'static RecordKind) -> Result<i64, CoreError> {
        self.db.read(|tx| Ok(tx.count_records(kind)?))
    }
}

/// An account's owner and collaborators.
fn team_of(account: &Record) -> Vec<Uuid> {
    let mut team: Vec<Uuid> = account.owner(&record::ACCOUNTS).into_iter().collect();
    team.extend(account.links.get("collaborator_ids").into_iter().flatten().copied());
    team
}

fn field_json(field: Option<&record::Field>, value: &Value) -> Json {
    match (field.map(|f| f.ty), value) {
        (Some(FieldType::Money), Value::Int(c)) => json!(*c as f64 / 100.0),
        (Some(FieldType::Timestamp), Value::Int(t)) => Json::String(crate::time::format_timestamp(*t)),
        (_, Value::Null) => Json::Null,
        (_, Value::Int(i)) => json!(i),
        (_, Value::Text(s)) => Json::String(s.clone()),
    }
}

/// The non-empty fields of a new record, for its create event.
pub(crate) fn fields_json(kind: &RecordKind, record: &Record) -> Json {
    let mut map = serde_json::Map::new();
    for field in kind.columns() {
        let v = record.get(field.name);
        if !v.is_null() {
            map.insert(field.name.into(), field_json(Some(field), v));
        }
    }
    for (name, ids) in &record.links {
        if !ids.is_empty() {
            map.insert((*name).into(), json!(ids));
        }
    }
    Json::Object(map)
}

/// A list request's filters as an event detail: `{"field": "value"}`, or a list of values where
/// one field is given several (`stage=proposal&stage=negotiation`).
pub(crate) fn filters_detail(req: &ListRequest) -> Json {
    let mut filters: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (k, v) in &req.filters {
        filters.entry(k.clone()).or_default().push(v.clone());
    }
    if let Some(o) = &req.owner {
        filters.entry("owner".into()).or_default().push(o.clone());
    }
    Json::Object(
        filters
            .into_iter()
            .map(|(k, mut v)| (k, if v.len() == 1 { Json::String(v.remove(0)) } else { json!(v) }))
            .collect(),
    )
}

impl<D: Database> Holdfast<D> {
    /// Creates many records of one kind in one transaction, each with its create event. All or
    /// nothing: the first invalid input fails the whole call, naming its position.
    pub fn create_many(
        &self,
        actor: &Actor,
        kind: &'static RecordKind,
        inputs: &[Json],
    ) -> Result<Vec<Uuid>, CoreError> {
        let mut parsed = Vec::with_capacity(inputs.len());
        for (i, input) in inputs.iter().enumerate() {
            parsed.push(parse_changes(kind, input, true).map_err(|e| match e {
                CoreError::Invalid(errors) => CoreError::Invalid(
                    errors.into_iter().map(|fe| FieldError::new(format!("[{i}].{}", fe.field), fe.reason)).collect(),
                ),
                other => other,
            })?);
        }
        self.db.write(|tx| {
            let mut ids = Vec::with_capacity(parsed.len());
            let mut events = Vec::with_capacity(parsed.len());
            for changes in parsed {
                if kind.kind == Kind::Lead {
                    let (captured, evs) = self.capture_in(tx, actor, changes, Door::Import)?;
                    events.extend(evs);
                    ids.push(captured.lead.id);
                    continue;
                }
                let record = self.insert_new(tx, actor, kind, changes)?;
                // a batch has no "after the fact": a guarded contact needs an approval first
                self.check_protocol(
                    tx,
                    actor,
                    &reached_contacts(kind, &record),
                    ProtocolNote::default(),
                    record.created_at,
                )?;
                events.push(
                    NewEvent::by(actor, record.created_at, action::RECORD_CREATE)
                        .object(kind.name, record.id)
                        .rows(1)
                        .detail("fields", fields_json(kind, &record)),
                );
                ids.push(record.id);
            }
            append_events(tx, events)?;
            Ok(ids)
        })
    }
}

/// Notes on a create or change event how it met the protocol: the approval it carried, the
/// contacts reached after the fact without one.
fn protocol_detail(event: NewEvent, note: ProtocolNote, breaches: &[super::protocol::Breach]) -> NewEvent {
    let mut event = event;
    if let Some(approval) = note.approval_id {
        event = event.detail("approval_id", json!(approval));
    }
    if !breaches.is_empty() {
        event = event.detail(
            "protocol_breach",
            json!(breaches.iter().map(super::protocol::Breach::summary).collect::<Vec<_>>()),
        );
    }
    event
}
