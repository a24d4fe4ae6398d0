//! Bulk operations on many records at once, and exports.
//!
//! A bulk change is one transaction: every record is checked first, and one refusal changes
//! nothing. The operation is one system event (`bulk.update`, or `coworker.handover`) holding how
//! many records of each kind changed and the SHA-256 of its rows; the rows (each record with its
//! owner before and after) are written as the change goes, 500 at a time, to the operation's table
//! (see [`crate::operation`]), which a record's history and an undo read. An undo checks the rows
//! against the digest the chain vouches for, and `audit verify` checks every operation's.
//!
//! Exports are in `exports.rs`: one service for every channel.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};

use serde_json::{Value as Json, json};
use uuid::Uuid;

use super::{Holdfast, append_events};
use crate::coworker::{Actor, CoWorker, Status};
use crate::departure;
use crate::error::{CoreError, StorageError};
use crate::event::{EventFilter, NewEvent, action};
use crate::operation::{OperationRecord, RecordsDigest, Step};
use crate::record::{self, Record, RecordKind, Value};
use crate::storage::{Cell, Database, OwnerChange, Ownership, Tx};

/// Most records one bulk operation or one export may name.
pub const BULK_MAX: usize = 1_000;
/// Most rows one export may carry (exports stream through a temporary file in constant memory;
/// the co-worker's policy is what limits them in practice).
pub const EXPORT_MAX: u32 = 2_000_000;

/// One record's new owner, and what is known of its owner now.
struct OwnerMove {
    id: Uuid,
    to: Option<Uuid>,
    now: Owner,
}

/// A record's owner before a move, as far as the move knows it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Owner {
    /// Not known: read it (a bulk change of picked records).
    Unknown,
    /// Read earlier in the same transaction (a handover's plan): it must still be so, or the
    /// whole change fails.
    Read(Option<Uuid>),
    /// What the operation being undone left: a record no longer so (changed or deleted since) is
    /// left as it is and counted as skipped.
    LeftBy(Option<Uuid>),
}

impl Owner {
    fn known(self) -> Option<Option<Uuid>> {
        match self {
            Owner::Unknown => None,
            Owner::Read(o) | Owner::LeftBy(o) => Some(o),
        }
    }
}

/// One step of a bulk operation (or an import) as it is written: its rows go to the operation's
/// table as they happen; their digest, the count per kind and the new owners are gathered for its
/// system event.
pub(crate) struct OperationLog {
    operation: Uuid,
    step: Step,
    position: i64,
    digest: RecordsDigest,
    per_kind: Vec<(&'static RecordKind, usize)>,
    owners: Vec<Uuid>,
}

impl OperationLog {
    pub(crate) fn new(operation: Uuid, step: Step) -> Self {
        OperationLog {
            operation,
            step,
            position: 0,
            digest: RecordsDigest::default(),
            per_kind: Vec::new(),
            owners: Vec::new(),
        }
    }

    /// Keeps these records of `kind` as changed by this step.
    pub(crate) fn write(
        &mut self,
        tx: &mut dyn Tx,
        kind: &'static RecordKind,
        rows: Vec<OperationRecord>,
    ) -> Result<(), CoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        tx.insert_operation_records(self.operation, self.step, self.position + 1, &rows)?;
        self.position += rows.len() as i64;
        for r in &rows {
            self.digest.add(r);
            if let Some(owner) = r.owner_after
                && !self.owners.contains(&owner)
            {
                self.owners.push(owner);
            }
        }
        match self.per_kind.iter_mut().find(|(k, _)| k.name == kind.name) {
            Some((_, n)) => *n += rows.len(),
            None => self.per_kind.push((kind, rows.len())),
        }
        Ok(())
    }

    fn changed(&self) -> usize {
        self.digest.rows() as usize
    }

    pub(crate) fn operation(&self) -> Uuid {
        self.operation
    }

    /// The SHA-256 of the rows written so far.
    pub(crate) fn digest(&self) -> String {
        self.digest.clone().finish()
    }

    fn counts(&self) -> Vec<KindCount> {
        self.per_kind.iter().map(|(k, n)| KindCount { plural: k.plural, count: *n }).collect()
    }

    /// The step's event, with its counts per kind and the digest of its rows.
    pub(crate) fn event(&self, event: NewEvent) -> NewEvent {
        let per_kind: serde_json::Map<String, Json> =
            self.per_kind.iter().map(|(k, n)| (k.name.to_string(), json!(n))).collect();
        event
            .object("bulk_operation", self.operation)
            .rows(self.changed())
            .detail("per_kind", Json::Object(per_kind))
            .detail("records_digest", json!(self.digest.clone().finish()))
    }
}

/// Records to move, per kind: each record's id and its new owner.
type Moves = Vec<(&'static RecordKind, Vec<OwnerMove>)>;

/// A bulk change or handover, as the Bulk operations page lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct BulkOperation {
    pub id: Uuid,
    /// `bulk.update` or `coworker.handover`.
    pub action: String,
    pub by: Option<Uuid>,
    pub at: i64,
    pub records: i64,
    /// Records per kind (plural).
    pub per_kind: Vec<KindCount>,
    /// For a handover: whose records.
    pub from: Option<Uuid>,
    /// Who got the records.
    pub to: Vec<Uuid>,
    /// When it was undone, if it was.
    pub undone_at: Option<i64>,
    /// Not undone, the actor may undo it, and some record is still as the operation left it.
    pub undoable: bool,
}

impl BulkOperation {
    pub fn to_json(&self) -> Json {
        let per_kind: serde_json::Map<String, Json> =
            self.per_kind.iter().map(|k| (k.plural.to_string(), json!(k.count))).collect();
        json!({
            "id": self.id,
            "operation": self.id,
            "action": self.action,
            "by": self.by,
            "at": crate::time::format_timestamp(self.at),
            "records": self.records,
            "per_kind": per_kind,
            "from": self.from,
            "to": self.to,
            "undone_at": self.undone_at.map(crate::time::format_timestamp),
            "undone": self.undone_at.is_some(),
            "undoable": self.undoable,
        })
    }
}

/// What a bulk operation (or its undo) did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkOutcome {
    /// The operation's id, which `undo_bulk` takes.
    pub operation: Uuid,
    /// Records changed.
    pub changed: usize,
    /// Records left as they were: already so, or (for an undo) changed again since.
    pub skipped: usize,
    /// Records that moved with the accounts picked: what hangs under each account (contacts,
    /// deals, contracts, tasks) that its previous owner owned.
    pub along: usize,
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
    /// Names of the co-workers it went from and to (several joined with "and").
    pub from: String,
    pub to: String,
    /// Records per recipient's email, per kind (plural).
    pub per_recipient: BTreeMap<String, BTreeMap<&'static str, usize>>,
}

/// How many records of one kind an operation touched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KindCount {
    /// The kind's plural (`accounts`, `contacts`, …).
    pub plural: &'static str,
    pub count: usize,
}

impl<D: Database> Holdfast<D> {
    /// Hands the given records to `owner` (a co-worker's id or email) in one step. Accounts move
    /// with what hangs under them that their previous owner owns (contacts, deals, contracts,
    /// tasks), so an account is never split from its records.
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
                    tx.expect_many_changes()?;
                    let owner = self.resolve_coworker(tx, "owner", owner)?.id;
                    let picked = ids.len();
                    let picked_moves = ids.iter().map(|id| OwnerMove { id: *id, to: Some(owner), now: Owner::Unknown });
                    let mut moves: Moves = vec![(kind, picked_moves.collect())];
                    if kind.kind == record::Kind::Account {
                        moves.extend(records_under_accounts(tx, &ids, owner)?);
                    }
                    let done = self.reassign(tx, actor, moves, None)?;
                    let accounts_changed =
                        done.per_kind.iter().find(|k| k.plural == kind.plural).map_or(0, |k| k.count);
                    Ok(BulkOutcome {
                        operation: done.operation,
                        changed: accounts_changed,
                        skipped: picked - accounts_changed,
                        along: done.changed - accounts_changed,
                    })
                })
            },
        )
    }

    /// What a co-worker owns, per kind of record (for a handover's preview; no customer data).
    pub fn ownership(&self, actor: &Actor, who: &str) -> Result<Vec<(&'static RecordKind, i64)>, CoreError> {
        let target = self.coworker_for_review(actor, who)?;
        self.db.read(|tx| HANDED_OVER.iter().map(|k| Ok((*k, tx.count_owned(k, target.id)?))).collect())
    }

    /// A handover of everything `from` owns to one colleague (see [`Self::handover_by`]).
    pub fn handover(&self, actor: &Actor, from: &str, to: &str) -> Result<Handover, CoreError> {
        self.handover_by(actor, from, &HandoverRule::One(to.to_string()))
    }

    /// What a handover by `rule` would do, changing nothing: records and value per recipient.
    pub fn preview_handover(
        &self,
        actor: &Actor,
        from: &str,
        rule: &HandoverRule,
    ) -> Result<HandoverPreview, CoreError> {
        let leaver = self.coworker_for_review(actor, from)?;
        self.noting_refusals(
            actor,
            || format!("preview a handover of what {from} owns"),
            || {
                self.db.read(|tx| {
                    let planned = self.plan_in(tx, &leaver.email, rule)?;
                    Ok(planned.preview())
                })
            },
        )
    }

    /// A handover: every live record `from` owns (of the kinds in [`HANDED_OVER`]) goes to the
    /// colleagues `rule` names, in one transaction (one refused record changes nothing), recorded
    /// as one `coworker.handover` event that an undo can reverse. An account takes with it what
    /// hangs under it. Only active co-workers may take records. When `from` has an open departure
    /// case, its plan and transfer steps are recorded in the same transaction.
    pub fn handover_by(&self, actor: &Actor, from: &str, rule: &HandoverRule) -> Result<Handover, CoreError> {
        self.noting_refusals(
            actor,
            || format!("hand everything {from} owns to {}", rule.describe()),
            || {
                self.db.write(|tx| {
                    tx.expect_many_changes()?;
                    let planned = self.plan_in(tx, from, rule)?;
                    let preview = planned.preview();
                    let mut grouped: Moves = Vec::new();
                    for m in &planned.moves {
                        let owner_move =
                            OwnerMove { id: m.id, to: Some(m.to), now: Owner::Read(Some(planned.from.id)) };
                        match grouped.iter_mut().find(|(k, _)| k.name == m.kind.name) {
                            Some((_, v)) => v.push(owner_move),
                            None => grouped.push((m.kind, vec![owner_move])),
                        }
                    }
                    let done = self.reassign(tx, actor, grouped, Some(planned.from.id))?;
                    let names: Vec<String> = planned
                        .recipients
                        .iter()
                        .filter(|r| preview.per_recipient.contains_key(&r.email))
                        .map(|r| r.name.clone())
                        .collect();
                    self.note_transfer(tx, actor, planned.from.id, done.operation, rule, &preview)?;
                    Ok(Handover {
                        operation: done.operation,
                        changed: done.changed,
                        per_kind: done.per_kind,
                        from: planned.from.name,
                        to: if names.is_empty() { "nobody".into() } else { names.join(" and ") },
                        per_recipient: preview.per_recipient,
                    })
                })
            },
        )
    }

    /// Works out a handover inside `tx`: the leaver, the colleagues who may take records, and
    /// each record's move.
    fn plan_in(&self, tx: &mut dyn crate::storage::Tx, from: &str, rule: &HandoverRule) -> Result<Planned, CoreError> {
        let from = self.resolve_coworker(tx, "from", from)?;
        let eligible = |tx: &mut dyn crate::storage::Tx, field: &str, who: &str| -> Result<CoWorker, CoreError> {
            let c = self.resolve_coworker(tx, field, who)?;
            if c.id == from.id {
                return Err(CoreError::invalid(field, "hand over to someone else than the co-worker leaving"));
            }
            if c.status != Status::Active {
                return Err(CoreError::invalid(
                    field,
                    format!(
                        "{} is {} and cannot take over customers; pick an active colleague",
                        c.name,
                        c.status.as_str()
                    ),
                ));
            }
            Ok(c)
        };
        let mut recipients: Vec<CoWorker> = Vec::new();
        let add = |c: CoWorker, recipients: &mut Vec<CoWorker>| {
            if !recipients.iter().any(|r| r.id == c.id) {
                recipients.push(c);
            }
        };
        let core_rule = match rule {
            HandoverRule::One(to) => {
                let c = eligible(tx, "to", to)?;
                let id = c.id;
                add(c, &mut recipients);
                departure::Rule::One(id)
            }
            HandoverRule::RoundRobin(names) => {
                for n in names {
                    let c = eligible(tx, "recipients", n)?;
                    add(c, &mut recipients);
                }
                departure::Rule::RoundRobin
            }
            HandoverRule::Team(team) => {
                let team_id = match team {
                    Some(name) => Some(
                        tx.list_teams()?
                            .into_iter()
                            .find(|t| t.name.eq_ignore_ascii_case(name.trim()))
                            .ok_or_else(|| CoreError::invalid("team", format!("there is no team called '{name}'")))?
                            .id,
                    ),
                    None => from.team_id,
                };
                let Some(team_id) = team_id else {
                    return Err(CoreError::invalid("team", format!("{} is in no team; name one", from.name)));
                };
                for c in tx.list_coworkers()? {
                    if c.team_id == Some(team_id) && c.id != from.id && c.status == Status::Active {
                        add(c, &mut recipients);
                    }
                }
                departure::Rule::RoundRobin
            }
            HandoverRule::Territory(map) => {
                let mut by_country = BTreeMap::new();
                for (country, who) in map {
                    let c = eligible(tx, "territories", who)?;
                    by_country.insert(country.trim().to_lowercase(), c.id);
                    add(c, &mut recipients);
                }
                departure::Rule::Territory(by_country)
            }
            HandoverRule::Picked { accounts, rest } => {
                let mut picked = HashMap::new();
                for (account, who) in accounts {
                    let c = eligible(tx, "accounts", who)?;
                    picked.insert(*account, c.id);
                    add(c, &mut recipients);
                }
                let rest = match rest {
                    Some(who) => {
                        let c = eligible(tx, "rest", who)?;
                        let id = c.id;
                        add(c, &mut recipients);
                        Some(id)
                    }
                    None => None,
                };
                departure::Rule::Picked { accounts: picked, rest }
            }
        };
        if recipients.is_empty() {
            return Err(CoreError::invalid("recipients", "name at least one active colleague to take over"));
        }
        let mut owned = Vec::new();
        for kind in HANDED_OVER.iter().copied() {
            let query = crate::storage::RecordQuery {
                filters: vec![(kind.owner_field, Value::Text(from.id.to_string()))],
                sort: "created_at",
                limit: u32::MAX - 1,
                ..Default::default()
            };
            let records = planned_records(tx, kind, &query)?;
            if !records.is_empty() {
                owned.push((kind, records));
            }
        }
        let mut books = Vec::new();
        for r in &recipients {
            books.push(departure::Recipient { id: r.id, book: tx.count_owned(&record::ACCOUNTS, r.id)? });
        }
        let moves = departure::plan(&core_rule, &books, &owned).map_err(|e| CoreError::invalid(e.field, e.message))?;
        Ok(Planned { from, recipients, moves, owned })
    }

    /// Gives each listed record to its new owner inside `tx`, keeping each change in the
    /// operation's rows, and appends the operation's one event (`coworker.handover` when `from` is
    /// given, else `bulk.update`). Returns the operation's id, how many records changed, and how
    /// many of each kind.
    fn reassign(
        &self,
        tx: &mut dyn crate::storage::Tx,
        actor: &Actor,
        targets: Moves,
        from: Option<Uuid>,
    ) -> Result<Reassigned, CoreError> {
        let operation = crate::id::new_id();
        let mut log = OperationLog::new(operation, Step::Done);
        for (kind, moves) in targets {
            let mut skipped = 0;
            self.move_owners(tx, actor, kind, &moves, &mut log, &mut skipped)?;
        }
        let act = if from.is_some() { action::HANDOVER } else { action::BULK_UPDATE };
        let mut event = log.event(NewEvent::by(actor, self.now(), act)).detail("field", json!("owner_id"));
        event = match log.owners.as_slice() {
            [one] => event.detail("to", json!(one)),
            owners => event.detail("to", Json::Null).detail("recipients", json!(owners)),
        };
        if let Some(from) = from {
            event = event.detail("from", json!(from));
        }
        append_events(tx, vec![event])?;
        Ok(Reassigned { operation, changed: log.changed(), per_kind: log.counts() })
    }

    /// Bulk changes and handovers, newest first: every one for admins and directors, their own
    /// for everyone else.
    pub fn list_bulk_operations(&self, actor: &Actor, limit: usize) -> Result<Vec<BulkOperation>, CoreError> {
        self.bulk_operations(actor, None, limit)
    }

    /// One bulk change or handover as the Bulk operations page shows it (reading only its own
    /// events), if the actor may see it.
    pub fn bulk_operation(&self, actor: &Actor, operation: Uuid) -> Result<Option<BulkOperation>, CoreError> {
        Ok(self.bulk_operations(actor, Some(operation), 1)?.pop())
    }

    fn bulk_operations(
        &self,
        actor: &Actor,
        operation: Option<Uuid>,
        limit: usize,
    ) -> Result<Vec<BulkOperation>, CoreError> {
        let everyone = actor.is_admin() || actor.role() == crate::coworker::Role::Director;
        self.db.read(|tx| {
            // Everyone's bulk events, so that an undo by someone else (an admin) is seen too, a
            // page at a time, newest first, until `limit` operations are found: imports and undos
            // are operations' events too, and are not listed. An undo always comes after what it
            // undoes, so it is seen on the same page or an earlier one.
            let page = if everyone || operation.is_some() { limit.clamp(1, 500) * 2 } else { 2_000 };
            let mut before_seq = None;
            let mut undone: HashMap<String, i64> = HashMap::new();
            let mut out = Vec::new();
            let shown = |e: &&crate::event::SystemEvent| {
                (e.event.action == action::BULK_UPDATE || e.event.action == action::HANDOVER)
                    && (everyone || e.event.coworker_id == actor.id())
            };
            'pages: loop {
                let filter = EventFilter {
                    object_type: Some("bulk_operation".into()),
                    object_id: operation.map(|o| o.to_string()),
                    before_seq,
                    limit: page,
                    ..Default::default()
                };
                let events = tx.list_events(&filter)?;
                let Some(last) = events.last() else { break };
                before_seq = Some(last.seq);
                for e in events.iter().filter(|e| e.event.action == action::BULK_UNDO) {
                    if let Some(id) = &e.event.object_id {
                        undone.insert(id.clone(), e.event.at);
                    }
                }
                for e in events.iter().filter(shown) {
                    let Some(id) = e.event.object_id.as_deref().and_then(|o| Uuid::parse_str(o).ok()) else { continue };
                    let d = &e.event.details;
                    let mut per_kind = Vec::new();
                    for kind in record::ALL_KINDS {
                        let n = match d["per_kind"].as_object() {
                            Some(counts) => counts.get(kind.name).and_then(Json::as_u64).unwrap_or(0) as usize,
                            // Written before operations had rows of their own: the event names them.
                            None => d["before"][kind.name].as_object().map_or(0, |m| m.len()),
                        };
                        if n > 0 {
                            per_kind.push(KindCount { plural: kind.plural, count: n });
                        }
                    }
                    let to: Vec<Uuid> = match d["to"].as_str() {
                        Some(one) => Uuid::parse_str(one).into_iter().collect(),
                        None => d["recipients"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|v| v.as_str().and_then(|s| Uuid::parse_str(s).ok()))
                            .collect(),
                    };
                    let undone_at = undone.get(&id.to_string()).copied();
                    let may = actor.is_admin() || actor.id().is_none() || e.event.coworker_id == actor.id();
                    let undoable = undone_at.is_none() && may && still_as_left(tx, d, id)?;
                    out.push(BulkOperation {
                        id,
                        action: e.event.action.clone(),
                        by: e.event.coworker_id,
                        at: e.event.at,
                        records: e.event.row_count,
                        per_kind,
                        from: d["from"].as_str().and_then(|s| Uuid::parse_str(s).ok()),
                        to,
                        undone_at,
                        undoable,
                    });
                    if out.len() >= limit {
                        break 'pages;
                    }
                }
                if events.len() < page {
                    break;
                }
            }
            Ok(out)
        })
    }

    /// Changes the owner of many records of one kind inside `tx`, 500 at a time: each is checked
    /// (the actor may change it and hand it to its new owner) and written with one statement per
    /// pair of owners that also checks the owner is still the one expected, and the change is kept
    /// in `log`. A record's owner is read only when the move does not know it, or when the actor's
    /// right to change it depends on its account's team. A record that is gone, or no longer has
    /// the owner read, fails the whole change; one an undo finds changed since is left and counted
    /// in `skipped`.
    fn move_owners(
        &self,
        tx: &mut dyn crate::storage::Tx,
        actor: &Actor,
        kind: &'static RecordKind,
        moves: &[OwnerMove],
        log: &mut OperationLog,
        skipped: &mut usize,
    ) -> Result<(), CoreError> {
        let unlimited = actor.is_admin() || actor.id().is_none();
        let may_without_team =
            |owner: Option<Option<Uuid>>| unlimited || owner.is_some_and(|o| crate::access::may_edit(actor, o, &[]));
        let now = self.now();
        // Each account's team (its owner and collaborators), read once: a handover's contacts
        // share a few thousand accounts.
        let mut teams: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
        for chunk in moves.chunks(500) {
            let read_now = chunk.iter().any(|m| m.now == Owner::Unknown || !may_without_team(m.now.known()));
            let found: HashMap<Uuid, Ownership> = if read_now {
                let ids: Vec<Uuid> = chunk.iter().map(|m| m.id).collect();
                tx.owners_of(kind, &ids)?.into_iter().filter(|r| !r.deleted).map(|r| (r.id, r)).collect()
            } else {
                HashMap::new()
            };
            let mut changes = Vec::with_capacity(chunk.len());
            for m in chunk {
                if read_now && let Owner::LeftBy(left) = m.now {
                    // An undo leaves what changed since, before asking whether the actor may.
                    if found.get(&m.id).is_none_or(|r| r.owner != left) {
                        *skipped += 1;
                        continue;
                    }
                }
                let was = match m.now.known() {
                    Some(owner) => owner,
                    None => found.get(&m.id).ok_or_else(|| CoreError::not_found(kind.name, m.id))?.owner,
                };
                if was == m.to {
                    continue;
                }
                if !unlimited {
                    let team: &[Uuid] = match found.get(&m.id).and_then(|r| r.account) {
                        Some(account) if !may_without_team(Some(was)) => match teams.entry(account) {
                            Entry::Occupied(known) => known.into_mut(),
                            Entry::Vacant(slot) => slot.insert(self.team_of_account(tx, account)?),
                        },
                        _ => &[],
                    };
                    if !crate::access::may_edit(actor, was, team) {
                        return Err(name_record(
                            CoreError::forbidden(format!(
                                "{} may change only {} they own or whose account team they are on; ask the owner or a manager",
                                actor.describe(),
                                kind.plural
                            )),
                            kind,
                            m.id,
                        ));
                    }
                    if m.to.is_some_and(|to| !crate::access::may_assign(actor, to)) {
                        return Err(name_record(
                            CoreError::forbidden(format!(
                                "{} may not hand {} to another co-worker",
                                actor.describe(),
                                kind.plural
                            )),
                            kind,
                            m.id,
                        ));
                    }
                }
                changes.push((m.now, OwnerChange { id: m.id, from: was, to: m.to }));
            }
            let asked: Vec<OwnerChange> = changes.iter().map(|(_, c)| *c).collect();
            let changed: std::collections::HashSet<Uuid> =
                tx.change_owners(kind, &asked, now, actor.id())?.into_iter().collect();
            let mut moved = Vec::with_capacity(changed.len());
            for (known, c) in changes {
                if changed.contains(&c.id) {
                    moved.push(OperationRecord {
                        kind: kind.name.to_string(),
                        record_id: c.id,
                        owner_before: c.from,
                        owner_after: c.to,
                    });
                } else if matches!(known, Owner::LeftBy(_)) {
                    *skipped += 1;
                } else {
                    return Err(CoreError::Conflict(format!(
                        "{} {} was changed or deleted by someone else while this ran; nothing was changed; run it again",
                        kind.name, c.id
                    )));
                }
            }
            if kind.kind == record::Kind::Lead {
                let ids: Vec<(Uuid, Option<Uuid>)> = moved.iter().map(|m| (m.record_id, m.owner_after)).collect();
                self.leads_handed_in(tx, &ids)?;
            }
            log.write(tx, kind, moved)?;
        }
        Ok(())
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
                    tx.expect_many_changes()?;
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
                    let mut log = OperationLog::new(operation, Step::Undone);
                    let mut skipped = 0;
                    each_operation_row(tx, d, operation, &mut |tx, rows| {
                        for (kind, group) in by_kind(rows)? {
                            let asked: Vec<OwnerMove> = group
                                .iter()
                                .map(|r| OwnerMove {
                                    id: r.record_id,
                                    to: r.owner_before,
                                    now: Owner::LeftBy(r.owner_after),
                                })
                                .collect();
                            self.move_owners(tx, actor, kind, &asked, &mut log, &mut skipped)?;
                        }
                        Ok(true)
                    })?;
                    let changed = log.changed();
                    let event = log
                        .event(NewEvent::by(actor, self.now(), action::BULK_UNDO))
                        .detail("undoes", json!(done.event.action))
                        .detail("skipped", json!(skipped));
                    append_events(tx, vec![event])?;
                    if let Some(from) = d["from"].as_str().and_then(|f| Uuid::parse_str(f).ok()) {
                        self.forget_transfer(tx, actor, from, operation)?;
                    }
                    Ok(BulkOutcome { operation, changed, skipped, along: 0 })
                })
            },
        )
    }
}

/// Who takes a leaver's records, as asked (co-workers by email or id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandoverRule {
    /// Everything to one colleague.
    One(String),
    /// Shared among these colleagues, smaller books first (see [`departure::Rule::RoundRobin`]).
    RoundRobin(Vec<String>),
    /// Shared like round-robin among the active members of a team (the leaver's when `None`).
    Team(Option<String>),
    /// By the account's country (`*` for the rest).
    Territory(BTreeMap<String, String>),
    /// Account by account; the rest to one colleague.
    Picked { accounts: HashMap<Uuid, String>, rest: Option<String> },
}

impl HandoverRule {
    /// The rule's name as the API spells it.
    pub fn name(&self) -> &'static str {
        match self {
            HandoverRule::One(_) => "one",
            HandoverRule::RoundRobin(_) => "round_robin",
            HandoverRule::Team(_) => "team",
            HandoverRule::Territory(_) => "territory",
            HandoverRule::Picked { .. } => "picked",
        }
    }
    /// In words, for messages.
    pub fn describe(&self) -> String {
        match self {
            HandoverRule::One(to) => to.clone(),
            HandoverRule::RoundRobin(names) => format!("{} by round-robin", names.join(", ")),
            HandoverRule::Team(Some(t)) => format!("team {t} by round-robin"),
            HandoverRule::Team(None) => "their team by round-robin".into(),
            HandoverRule::Territory(map) => format!("{} colleagues by territory", map.len()),
            HandoverRule::Picked { accounts, .. } => format!("colleagues picked for {} accounts", accounts.len()),
        }
    }
    /// The rule as a case keeps it.
    pub fn to_json(&self) -> Json {
        match self {
            HandoverRule::One(to) => json!({"rule": "one", "to": to}),
            HandoverRule::RoundRobin(r) => json!({"rule": "round_robin", "recipients": r}),
            HandoverRule::Team(t) => json!({"rule": "team", "team": t}),
            HandoverRule::Territory(m) => json!({"rule": "territory", "territories": m}),
            HandoverRule::Picked { accounts, rest } => json!({"rule": "picked", "accounts": accounts, "rest": rest}),
        }
    }
}

/// The value a recipient would take on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecipientValue {
    pub name: String,
    /// Annual value of the accounts, cents.
    pub annual_value: i64,
    /// Amount of the open deals, cents.
    pub open_pipeline: i64,
    /// Up to the ten most valuable accounts, by name.
    pub top_accounts: Vec<String>,
}

/// What a handover would do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandoverPreview {
    pub from: String,
    pub from_email: String,
    /// Records per recipient's email, per kind (plural).
    pub per_recipient: BTreeMap<String, BTreeMap<&'static str, usize>>,
    /// Value per recipient's email.
    pub value_per_recipient: BTreeMap<String, RecipientValue>,
    pub total: usize,
}

/// A handover worked out: who leaves, who may take, and each record's move.
struct Planned {
    from: CoWorker,
    recipients: Vec<CoWorker>,
    moves: Vec<departure::Move>,
    owned: Vec<(&'static RecordKind, Vec<Record>)>,
}

impl Planned {
    fn preview(&self) -> HandoverPreview {
        let email: HashMap<Uuid, &CoWorker> = self.recipients.iter().map(|r| (r.id, r)).collect();
        let records: HashMap<Uuid, &Record> =
            self.owned.iter().flat_map(|(_, rs)| rs.iter()).map(|r| (r.id, r)).collect();
        let mut per_recipient: BTreeMap<String, BTreeMap<&'static str, usize>> = BTreeMap::new();
        let mut value: BTreeMap<String, RecipientValue> = BTreeMap::new();
        let mut tops: HashMap<String, Vec<(i64, String)>> = HashMap::new();
        for m in &self.moves {
            let Some(to) = email.get(&m.to) else { continue };
            *per_recipient.entry(to.email.clone()).or_default().entry(m.kind.plural).or_default() += 1;
            let v = value
                .entry(to.email.clone())
                .or_insert_with(|| RecipientValue { name: to.name.clone(), ..Default::default() });
            if let Some(r) = records.get(&m.id) {
                if m.kind.kind == record::Kind::Account {
                    let cents = r.get("annual_value").as_int().unwrap_or(0);
                    v.annual_value += cents;
                    tops.entry(to.email.clone()).or_default().push((cents, r.label(m.kind)));
                } else if m.kind.kind == record::Kind::Deal && departure::deal_is_open(r) {
                    v.open_pipeline += r.get("amount").as_int().unwrap_or(0);
                }
            }
        }
        for (email, mut list) in tops {
            list.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
            if let Some(v) = value.get_mut(&email) {
                v.top_accounts = list.into_iter().take(10).map(|(_, name)| name).collect();
            }
        }
        HandoverPreview {
            from: self.from.name.clone(),
            from_email: self.from.email.clone(),
            per_recipient,
            value_per_recipient: value,
            total: self.moves.len(),
        }
    }
}

/// The fields a handover's plan and preview read, besides each record's label and account.
const PLANNED_FIELDS: [&str; 4] = ["annual_value", "country", "amount", "stage"];

/// The records `query` lists, each with only its id, label, account and [`PLANNED_FIELDS`]: a plan
/// of 100,000 records then holds a few fields of each, not every field.
fn planned_records(
    tx: &mut dyn Tx,
    kind: &'static RecordKind,
    query: &crate::storage::RecordQuery,
) -> Result<Vec<Record>, CoreError> {
    let fields: Vec<&'static str> = kind
        .columns()
        .map(|f| f.name)
        .filter(|n| PLANNED_FIELDS.contains(n) || kind.label_fields.contains(n) || kind.account_field == Some(*n))
        .collect();
    let columns: Vec<&str> = std::iter::once("id").chain(fields.iter().copied()).collect();
    let mut records = Vec::new();
    tx.each_row(kind, query, &columns, &mut |cells| {
        let id = match cells.first() {
            Some(Cell::Text(text)) => Uuid::parse_str(text).ok(),
            _ => None,
        };
        let id = id.ok_or_else(|| StorageError::Other(format!("a stored {} has no id", kind.name)))?;
        let values = fields.iter().zip(&cells[1..]).map(|(name, cell)| {
            let value = match cell {
                Cell::Null => Value::Null,
                Cell::Int(n) => Value::Int(*n),
                Cell::Text(text) => Value::Text(text.to_string()),
            };
            (*name, value)
        });
        records.push(Record {
            id,
            created_at: 0,
            updated_at: 0,
            created_by: None,
            updated_by: None,
            deleted_at: None,
            fields: values.collect(),
            links: BTreeMap::new(),
        });
        Ok(())
    })?;
    Ok(records)
}

/// What hangs under these accounts (contacts, deals, contracts, tasks) that each account's
/// current owner owns: it moves with the account to `owner`.
fn records_under_accounts(tx: &mut dyn crate::storage::Tx, accounts: &[Uuid], owner: Uuid) -> Result<Moves, CoreError> {
    let mut found: Moves = Vec::new();
    for account in tx.get_records(&record::ACCOUNTS, accounts)? {
        let Some(previous) = account.owner(&record::ACCOUNTS) else { continue };
        if previous == owner || account.deleted_at.is_some() {
            continue;
        }
        for kind in [&record::CONTACTS, &record::DEALS, &record::CONTRACTS, &record::TASKS] {
            let query = crate::storage::RecordQuery {
                filters: vec![
                    ("account_id", Value::Text(account.id.to_string())),
                    (kind.owner_field, Value::Text(previous.to_string())),
                ],
                sort: "created_at",
                limit: u32::MAX - 1,
                ..Default::default()
            };
            let ids: Vec<OwnerMove> = tx
                .list_records(kind, &query)?
                .iter()
                .map(|r| OwnerMove { id: r.id, to: Some(owner), now: Owner::Read(Some(previous)) })
                .collect();
            if ids.is_empty() {
                continue;
            }
            match found.iter_mut().find(|(k, _)| k.name == kind.name) {
                Some((_, v)) => v.extend(ids),
                None => found.push((kind, ids)),
            }
        }
    }
    Ok(found)
}

/// Whether some record of an operation still has the owner the operation gave it (checked 500 at
/// a time, stopping at the first; for the list's Undo button). Stopping early leaves the digest
/// unchecked, which the undo itself does; rows read to the end that do not match it count as not.
fn still_as_left(tx: &mut dyn Tx, d: &Json, operation: Uuid) -> Result<bool, CoreError> {
    let mut found = false;
    let walked = each_operation_row(tx, d, operation, &mut |tx, rows| {
        for (kind, group) in by_kind(rows)? {
            let left: HashMap<Uuid, Option<Uuid>> = group.iter().map(|r| (r.record_id, r.owner_after)).collect();
            let ids: Vec<Uuid> = left.keys().copied().collect();
            for r in tx.get_records(kind, &ids)? {
                if r.deleted_at.is_none() && left.get(&r.id) == Some(&r.owner(kind)) {
                    found = true;
                    return Ok(false);
                }
            }
        }
        Ok(true)
    });
    match walked {
        Ok(()) => Ok(found),
        Err(CoreError::Conflict(_)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// What [`each_operation_row`] calls with each page of rows: `false` stops it.
pub(crate) type EachRows<'a> = dyn FnMut(&mut dyn Tx, &[OperationRecord]) -> Result<bool, CoreError> + 'a;

/// Calls `f` with the rows of an operation (what it did, not its undo), 500 at a time in the
/// order written, until `f` says stop; having read them all, checks them against the digest its
/// event holds (a conflict when they differ: the table was changed outside Holdfast). Operations
/// written before they had rows of their own name every record in their event (`before`, and
/// `after` or `to`), and are read from there.
pub(crate) fn each_operation_row(
    tx: &mut dyn Tx,
    d: &Json,
    operation: Uuid,
    f: &mut EachRows<'_>,
) -> Result<(), CoreError> {
    let Some(expected) = d["records_digest"].as_str() else {
        let mut rows = Vec::new();
        for (kind, records) in d["before"].as_object().into_iter().flatten() {
            for (id, old) in records.as_object().into_iter().flatten() {
                let Ok(record_id) = Uuid::parse_str(id) else { continue };
                let left = d["after"].get(kind.as_str()).and_then(|m| m.get(id)).unwrap_or(&d["to"]);
                rows.push(OperationRecord {
                    kind: kind.clone(),
                    record_id,
                    owner_before: owner_of(old),
                    owner_after: owner_of(left),
                });
            }
        }
        if !rows.is_empty() {
            f(tx, &rows)?;
        }
        return Ok(());
    };
    let Some(digest) = operation_pages(tx, operation, Step::Done, f)? else { return Ok(()) };
    if digest.finish() != expected {
        return Err(CoreError::Conflict(format!(
            "the records of bulk operation {operation} do not match its system event (they were changed outside \
             Holdfast); nothing was changed; run `holdfast audit verify`"
        )));
    }
    Ok(())
}

/// Calls `f` with one step's rows, 500 at a time in the order written, until it says stop.
/// Returns the digest of every row, or `None` when `f` stopped early.
pub(crate) fn operation_pages(
    tx: &mut dyn Tx,
    operation: Uuid,
    step: Step,
    f: &mut EachRows<'_>,
) -> Result<Option<RecordsDigest>, CoreError> {
    let mut digest = RecordsDigest::default();
    let mut after = 0;
    loop {
        let page = tx.operation_records(operation, step, after, 500)?;
        let Some((last, _)) = page.last() else { break };
        after = *last;
        let rows: Vec<OperationRecord> = page.into_iter().map(|(_, r)| r).collect();
        rows.iter().for_each(|r| digest.add(r));
        if !f(tx, &rows)? {
            return Ok(None);
        }
    }
    Ok(Some(digest))
}

/// Rows grouped by kind of record, in the order each kind first appears.
fn by_kind(rows: &[OperationRecord]) -> Result<Vec<(&'static RecordKind, Vec<&OperationRecord>)>, CoreError> {
    let mut grouped: Vec<(&'static RecordKind, Vec<&OperationRecord>)> = Vec::new();
    for r in rows {
        match grouped.iter_mut().find(|(k, _)| k.name == r.kind) {
            Some((_, v)) => v.push(r),
            None => {
                let kind = record::ALL_KINDS.iter().copied().find(|k| k.name == r.kind).ok_or_else(|| {
                    CoreError::Conflict(format!(
                        "the change names '{}', a kind of record this server does not know",
                        r.kind
                    ))
                })?;
                grouped.push((kind, vec![r]));
            }
        }
    }
    Ok(grouped)
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

/// An owner as the bulk event holds it, as an id.
fn owner_of(j: &Json) -> Option<Uuid> {
    j.as_str().and_then(|s| Uuid::parse_str(s).ok())
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
