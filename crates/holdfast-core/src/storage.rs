//! What the services need from storage. `holdfast-store` implements these for SQLite and
//! PostgreSQL; the services never see SQL.

use uuid::Uuid;

use crate::audit::{Checkpoint, StoredEvent};
use crate::coworker::{CoWorker, Identity, Team};
use crate::departure::{CaseStatus, Departure};
use crate::error::{CoreError, StorageError};
use crate::event::{EventFilter, SystemEvent};
use crate::guard::{Alert, AlertDelivery, AlertState, ExportRequest, ExportStatus};
use crate::operation::{OperationRecord, RecordOperation, Step};
use crate::protocol::{ApprovalStatus, ContactApproval};
use crate::record::{Record, RecordKind, Value};

pub type StorageResult<T> = Result<T, StorageError>;

/// A database the services run transactions on.
pub trait Database: Send + Sync + 'static {
    /// Runs `f` on a read-only snapshot.
    fn read<T>(&self, f: impl FnOnce(&mut dyn Tx) -> Result<T, CoreError>) -> Result<T, CoreError>;
    /// Runs `f` in a write transaction, committed when `f` returns `Ok`, rolled back otherwise.
    fn write<T>(&self, f: impl FnOnce(&mut dyn Tx) -> Result<T, CoreError>) -> Result<T, CoreError>;
    /// Runs `f` in a write transaction that is always rolled back (dry runs).
    fn rehearse<T>(&self, f: impl FnOnce(&mut dyn Tx) -> Result<T, CoreError>) -> Result<T, CoreError>;
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;
    /// The highest schema migration applied.
    fn schema_version(&self) -> Result<i64, CoreError>;
    /// The settings version, when the backend knows it without a query (PostgreSQL hears of every
    /// change at once); `None` means the services read it in their transaction.
    fn settings_version_hint(&self) -> Option<i64> {
        None
    }
    /// Whether other servers may share this database (PostgreSQL): then what one server counts
    /// in memory is not the whole story, and budgets are counted and taken in the database.
    fn shared_by_servers(&self) -> bool {
        false
    }
    /// Writes a consistent copy of the whole database to the new file `dest` while others go on
    /// reading and writing (an embedded database; a server database is copied with its own
    /// tools), and gives the copy's last system event (sequence number and hash).
    fn copy_to(&self, dest: &std::path::Path) -> Result<(i64, String), CoreError> {
        let _ = dest;
        Err(CoreError::Conflict(format!("a {} database is not copied by Holdfast", self.backend())))
    }
}

/// Which deleted records a query sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Deleted {
    #[default]
    Exclude,
    Only,
}

/// A list query over one kind of record, already checked by the services.
#[derive(Debug, Clone, Default)]
pub struct RecordQuery {
    /// Lower-case words that must all prefix-match the record's search text.
    pub words: Vec<String>,
    /// Field equals value.
    pub filters: Vec<(&'static str, Value)>,
    /// Only records whose owner is one of these (read policy), when set.
    pub owners: Option<Vec<Uuid>>,
    /// A column name (a sortable field, `created_at` or `updated_at`).
    pub sort: &'static str,
    pub descending: bool,
    /// Keyset cursor: the sort value and id of the last row of the previous page.
    pub after: Option<(Value, Uuid)>,
    pub offset: u64,
    pub limit: u32,
    pub deleted: Deleted,
}

/// One record's change of owner: from whom (as the change expects it), to whom.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OwnerChange {
    pub id: Uuid,
    pub from: Option<Uuid>,
    pub to: Option<Uuid>,
}

/// A record's owner and account, as [`RecordStore::owners_of`] reads them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ownership {
    pub id: Uuid,
    pub owner: Option<Uuid>,
    pub account: Option<Uuid>,
    pub deleted: bool,
}

/// One cell of a row read straight from the database, borrowed from it: nothing is copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cell<'a> {
    Null,
    Int(i64),
    Text(&'a str),
}

/// A session or API token. Only the SHA-256 of the secret is stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Credential {
    pub id: Uuid,
    pub coworker_id: Uuid,
    /// `session` or `api`.
    pub kind: String,
    pub name: String,
    pub secret_hash: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// Operations inside one transaction, by area. Each area is a trait of its own (implemented in
/// its own file of holdfast-store); `Tx` is all of them, and what the services are handed.
pub trait Tx:
    RecordStore
    + ReportStore
    + CoWorkerStore
    + SettingStore
    + EventLog
    + GuardStore
    + DepartureStore
    + LeadStore
    + LeakStore
{
}

impl<
    T: RecordStore
        + ReportStore
        + CoWorkerStore
        + SettingStore
        + EventLog
        + GuardStore
        + DepartureStore
        + LeadStore
        + LeakStore
        + ?Sized,
> Tx for T
{
}

/// Customer records: accounts, contacts, leads, deals, contracts, activities and tasks.
pub trait RecordStore {
    /// This transaction is about to change many rows (an import, a handover, an undo): the
    /// storage may give it more memory for its length. Ordinary transactions do not call it.
    fn expect_many_changes(&mut self) -> StorageResult<()> {
        Ok(())
    }
    fn insert_record(&mut self, kind: &RecordKind, record: &Record) -> StorageResult<()>;
    /// Writes every column, link list and the search text of an existing record.
    fn update_record(&mut self, kind: &RecordKind, record: &Record) -> StorageResult<()>;
    /// A record by id, deleted or not.
    fn get_record(&mut self, kind: &RecordKind, id: Uuid) -> StorageResult<Option<Record>>;
    /// Records by id, deleted or not, in no particular order; ids not found are left out.
    fn get_records(&mut self, kind: &RecordKind, ids: &[Uuid]) -> StorageResult<Vec<Record>>;
    /// Up to `query.limit + 1` records (the extra one tells the caller another page exists).
    fn list_records(&mut self, kind: &RecordKind, query: &RecordQuery) -> StorageResult<Vec<Record>>;
    /// How many records the query matches (its keyset position and limit aside), counting at
    /// most `cap`.
    fn count_matching(&mut self, kind: &RecordKind, query: &RecordQuery, cap: i64) -> StorageResult<i64>;
    /// The records `list_records` would list for `query` (in its order, at most `query.limit`,
    /// no cursor, no offset), one row at a time, with only these columns (system columns and
    /// fields stored in the kind's table: no lists of links), each row's cells borrowed. For
    /// exports, in constant memory whatever the size.
    fn each_row(
        &mut self,
        kind: &RecordKind,
        query: &RecordQuery,
        columns: &[&str],
        f: &mut dyn FnMut(&[Cell<'_>]) -> StorageResult<()>,
    ) -> StorageResult<()>;
    /// Live records whose `field` equals `value` (de-duplication), at most `limit`.
    fn find_records(&mut self, kind: &RecordKind, field: &str, value: &Value, limit: u32)
    -> StorageResult<Vec<Record>>;
    /// For each of `values` held by some live record's `field`: (value, id of the oldest such
    /// record). One query for many values (the import's duplicate check).
    fn find_ids_by_values(
        &mut self,
        kind: &RecordKind,
        field: &str,
        values: &[String],
    ) -> StorageResult<Vec<(String, Uuid)>>;
    /// Live accounts whose name equals `name` ignoring case.
    fn find_accounts_by_name(&mut self, name: &str) -> StorageResult<Vec<Record>>;
    /// Ids of live records of `kind` that point at `target` through the link list `field`.
    fn linked_from(&mut self, kind: &RecordKind, field: &str, target: Uuid, limit: u32) -> StorageResult<Vec<Uuid>>;
    fn count_records(&mut self, kind: &RecordKind) -> StorageResult<i64>;
    /// How many live records of `kind` the co-worker owns.
    fn count_owned(&mut self, kind: &RecordKind, owner: Uuid) -> StorageResult<i64>;
    /// Gives each record its new owner (or none) where it is live and still has the owner the
    /// change expects, stamping `updated_at` and `updated_by`. Returns the ids changed, in no
    /// particular order: a record left out was gone, deleted or owned by someone else.
    fn change_owners(
        &mut self,
        kind: &RecordKind,
        changes: &[OwnerChange],
        at: i64,
        by: Option<Uuid>,
    ) -> StorageResult<Vec<Uuid>>;
    /// For each of `ids` that names a record of `kind`: its owner, its account (the record itself
    /// for an account) and whether it is deleted. What a change of owner reads, and no more.
    fn owners_of(&mut self, kind: &RecordKind, ids: &[Uuid]) -> StorageResult<Vec<Ownership>>;
    /// Keeps what one step of a bulk operation did to these records, numbered from
    /// `first_position` on.
    fn insert_operation_records(
        &mut self,
        operation: Uuid,
        step: Step,
        first_position: i64,
        rows: &[OperationRecord],
    ) -> StorageResult<()>;
    /// One step's rows after `after_position`, in order, at most `limit`, each with its position.
    fn operation_records(
        &mut self,
        operation: Uuid,
        step: Step,
        after_position: i64,
        limit: u32,
    ) -> StorageResult<Vec<(i64, OperationRecord)>>;
    /// Every (operation, step) that has rows kept (what `audit verify` matches to events).
    fn operation_steps(&mut self) -> StorageResult<Vec<(Uuid, Step)>>;
    /// What bulk operations did to one record (at most `limit` rows, newest operations first).
    fn record_operations(&mut self, record_id: Uuid, limit: u32) -> StorageResult<Vec<RecordOperation>>;
}

/// Aggregates over customer records for the home pages (pipeline, overdue tasks, untouched
/// accounts, activity per week). `owners` narrows to the records those co-workers own (all when
/// `None`).
pub trait ReportStore {
    /// Open and closed deals per stage, for the owners given (all when `None`).
    fn deal_pipeline(&mut self, owners: Option<&[Uuid]>) -> StorageResult<Vec<StageTotal<String>>>;
    /// Open tasks due before `today` (`YYYY-MM-DD`), oldest first.
    fn overdue_tasks(&mut self, owners: Option<&[Uuid]>, today: &str, limit: u32) -> StorageResult<Vec<Record>>;
    /// Accounts with no activity since `since`, by name.
    fn untouched_accounts(&mut self, owners: Option<&[Uuid]>, since: i64, limit: u32) -> StorageResult<Vec<Record>>;
    /// For each of these accounts that has any live activity, when the latest one happened.
    fn last_touches(&mut self, accounts: &[Uuid]) -> StorageResult<Vec<(Uuid, i64)>>;
    /// Live activities per week from `since` (week 0 starts at `since`), for the owners given
    /// (all when `None`): (week, activities).
    fn activities_per_week(&mut self, owners: Option<&[Uuid]>, since: i64) -> StorageResult<Vec<(i64, i64)>>;
    /// Who talks to each account: per account and co-worker (who logged an activity at or after
    /// `since`, or took part in it), how many activities and the latest.
    /// Only activities before `until` when given, and only these accounts when `accounts` is.
    fn relationship_touches(
        &mut self,
        since: i64,
        until: Option<i64>,
        accounts: Option<&[Uuid]>,
    ) -> StorageResult<Vec<Touches>>;
    /// Who has a live relationship with each account: per account and co-worker whose last touch
    /// (an activity they logged or took part in) is at or after `since`, that last touch. Read from
    /// the relationships the store keeps as activities are written, not from the activities.
    fn live_relationships(&mut self, since: i64) -> StorageResult<Vec<Relationship>>;
    /// Exposure snapshots of these months (`YYYY-MM`).
    fn exposure_snapshots(&mut self, months: &[String]) -> StorageResult<Vec<ExposureSnapshot>>;
    /// Keeps snapshots (a month already kept is left as it is).
    fn insert_exposure_snapshots(&mut self, rows: &[ExposureSnapshot]) -> StorageResult<()>;
    /// How many distinct contacts took part in each account's activities at or after `since`
    /// (these accounts only, when given): (account, contacts).
    fn account_contacts(&mut self, since: i64, accounts: Option<&[Uuid]>) -> StorageResult<Vec<(Uuid, i64)>>;
    /// Every live account's id, name, tier, annual value (cents) and owner, with the amount of its
    /// open deals and how many of its contracts renew (or end) between `from` and `until` (dates).
    fn account_stakes(&mut self, from: &str, until: &str) -> StorageResult<Vec<AccountStake>>;
    /// Live contracts not cancelled or expired whose renewal date (or end date, without one) falls
    /// between `from` and `until` (dates), soonest first, with their account's name, owner and
    /// fiscal year end; at most `limit`.
    fn upcoming_renewals(&mut self, from: &str, until: &str, limit: u32) -> StorageResult<Vec<Renewal>>;
}

/// A single sign-on begun in a browser and not yet finished: what the identity provider's answer
/// must match (the nonce), the PKCE verifier, and where to go after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignInRequest {
    /// SHA-256 of the `state` sent to the identity provider.
    pub state_hash: String,
    pub nonce: String,
    pub pkce_verifier: String,
    pub next: String,
    pub created_at: i64,
}

/// A co-worker's authenticator app (TOTP, RFC 6238).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecondFactor {
    pub coworker_id: Uuid,
    /// The shared secret, base32, as the app holds it.
    pub secret: String,
    /// When the co-worker proved the app works (a code checked); before that it is not asked for.
    pub confirmed_at: Option<i64>,
    /// The last time step a code was accepted for (no code is accepted twice).
    pub last_step: Option<i64>,
    pub created_at: i64,
}

/// Co-workers, teams, and their credentials (sessions and API tokens).
pub trait CoWorkerStore {
    fn insert_coworker(&mut self, c: &CoWorker) -> StorageResult<()>;
    fn update_coworker(&mut self, c: &CoWorker) -> StorageResult<()>;
    fn get_coworker(&mut self, id: Uuid) -> StorageResult<Option<CoWorker>>;
    fn get_coworker_by_email(&mut self, email: &str) -> StorageResult<Option<CoWorker>>;
    fn list_coworkers(&mut self) -> StorageResult<Vec<CoWorker>>;
    fn insert_team(&mut self, t: &Team) -> StorageResult<()>;
    fn list_teams(&mut self) -> StorageResult<Vec<Team>>;
    fn insert_credential(&mut self, c: &Credential) -> StorageResult<()>;
    fn find_credential(&mut self, secret_hash: &str) -> StorageResult<Option<Credential>>;
    fn touch_credential(&mut self, id: Uuid, at: i64) -> StorageResult<()>;
    /// Revokes one credential, or all of a co-worker's; returns how many were live.
    fn revoke_credentials(&mut self, coworker_id: Uuid, only: Option<Uuid>, at: i64) -> StorageResult<usize>;
    fn list_credentials(&mut self, coworker_id: Uuid) -> StorageResult<Vec<Credential>>;
    /// Removes a team (its members must have left it first).
    fn delete_team(&mut self, id: Uuid) -> StorageResult<()>;
    /// What the identity provider says about each co-worker it has provisioned or matched.
    fn list_identities(&mut self) -> StorageResult<Vec<Identity>>;
    fn get_identity(&mut self, coworker_id: Uuid) -> StorageResult<Option<Identity>>;
    /// Inserts or replaces a co-worker's identity (`external_id` is unique).
    fn put_identity(&mut self, identity: &Identity) -> StorageResult<()>;
    /// Remembers a single sign-on begun in a browser (its state's hash is the key), and forgets
    /// those begun before `stale_before`.
    fn insert_sign_in_request(&mut self, request: &SignInRequest, stale_before: i64) -> StorageResult<()>;
    /// Takes (deletes and returns) the sign-on whose state hashes to `state_hash`: it can be
    /// finished once.
    fn take_sign_in_request(&mut self, state_hash: &str) -> StorageResult<Option<SignInRequest>>;
    fn get_second_factor(&mut self, coworker_id: Uuid) -> StorageResult<Option<SecondFactor>>;
    /// Inserts or replaces a co-worker's authenticator (and, when it is new, forgets the old
    /// recovery codes).
    fn put_second_factor(&mut self, factor: &SecondFactor) -> StorageResult<()>;
    /// Accepts a code's time step only if it is later than every step accepted before (a code is
    /// used once, even by two sign-ins at the same moment). Returns whether it was.
    fn advance_second_factor(&mut self, coworker_id: Uuid, step: i64) -> StorageResult<bool>;
    /// Removes the authenticator and its recovery codes.
    fn delete_second_factor(&mut self, coworker_id: Uuid) -> StorageResult<()>;
    fn insert_recovery_codes(&mut self, coworker_id: Uuid, code_hashes: &[String], at: i64) -> StorageResult<()>;
    /// Uses a recovery code once: whether an unused code with this hash was there.
    fn use_recovery_code(&mut self, coworker_id: Uuid, code_hash: &str, at: i64) -> StorageResult<bool>;
    fn unused_recovery_codes(&mut self, coworker_id: Uuid) -> StorageResult<i64>;
}

/// Installation settings, as text by key (the services type them).
pub trait SettingStore {
    fn get_setting(&mut self, key: &str) -> StorageResult<Option<String>>;
    fn set_setting(&mut self, key: &str, value: &str) -> StorageResult<()>;
    /// The settings' version, raised by each change ([`SettingStore::announce_settings`]).
    /// Every audited read checks it, so it must cost next to nothing.
    fn settings_version(&mut self) -> StorageResult<i64>;
    /// Tells every server sharing the database (and every process using it) that the settings
    /// are now at `version` (when the transaction commits).
    fn announce_settings(&mut self, version: i64) -> StorageResult<()>;
}

/// The system event log: the hash chain, queries over it, retention, signed checkpoints and
/// the cursors of SIEM shippers.
pub trait EventLog {
    /// The last event's sequence number and hash, locking the chain until commit.
    fn chain_head(&mut self) -> StorageResult<(i64, String)>;
    /// The same, without locking (read-only transactions).
    fn peek_chain_head(&mut self) -> StorageResult<(i64, String)>;
    /// Appends already-chained events (the last one becomes the chain head).
    fn insert_events(&mut self, events: &[SystemEvent]) -> StorageResult<()>;
    /// Events matching the filter, newest first.
    fn list_events(&mut self, filter: &EventFilter) -> StorageResult<Vec<SystemEvent>>;
    /// Up to `limit` events with `seq > after`, oldest first, as stored (for verification and
    /// export); `coworker` narrows to one co-worker's.
    fn scan_events(&mut self, after: i64, limit: u32, coworker: Option<Uuid>) -> StorageResult<Vec<StoredEvent>>;
    /// Calls `f` with every event with `after < seq <= through`, oldest first, borrowed from the
    /// row as it is read (nothing copied: verification reads millions).
    fn each_event(
        &mut self,
        after: i64,
        through: i64,
        f: &mut dyn FnMut(crate::audit::EventRow<'_>) -> StorageResult<()>,
    ) -> StorageResult<()>;
    /// Rows a co-worker read (opened, listed, searched, exported) at or after `since`, per hour:
    /// (start of the hour, rows), oldest first.
    fn rows_read_since(&mut self, coworker: Uuid, since: i64) -> StorageResult<Vec<(i64, i64)>>;
    /// Records a co-worker opened outside their own book (events marked `outside_book`) at or
    /// after `since`, per UTC day (days since the epoch): (day, records), oldest first.
    fn outside_book_reads_since(&mut self, coworker: Uuid, since: i64) -> StorageResult<Vec<(i64, i64)>>;
    /// Per co-worker, UTC day (days since the epoch) and action: events and rows, from `since`.
    fn daily_counts(&mut self, since: i64, until: i64) -> StorageResult<Vec<DailyCount>>;
    /// Retention: the seq and hash of the last event before `before`, if any.
    fn last_event_before(&mut self, before: i64) -> StorageResult<Option<(i64, String)>>;
    /// Retention: deletes every event with `seq <= through` past the append-only guard; returns
    /// how many. Only the retention service calls this, after signing a checkpoint at the cut.
    fn delete_events_through(&mut self, through: i64) -> StorageResult<u64>;
    fn insert_checkpoint(&mut self, c: &Checkpoint) -> StorageResult<()>;
    fn list_checkpoints(&mut self) -> StorageResult<Vec<Checkpoint>>;
    fn get_cursor(&mut self, name: &str) -> StorageResult<Option<i64>>;
    fn set_cursor(&mut self, name: &str, seq: i64, at: i64) -> StorageResult<()>;
}

/// The guard's state: exports asked for (and their approvals), alerts, and alert deliveries.
pub trait GuardStore {
    /// Takes a co-worker's turn to read many rows for `holder` until `until`: true when this call
    /// took it (nobody held it, or the holder's lease ran out before `now`). Every server sharing
    /// the database sees the same turn.
    fn take_read_turn(&mut self, coworker: Uuid, holder: Uuid, now: i64, until: i64) -> StorageResult<bool>;
    /// Gives the turn back (only when `holder` still holds it).
    fn end_read_turn(&mut self, coworker: Uuid, holder: Uuid) -> StorageResult<()>;
    /// Takes the lease of a scheduled job until `until` for `holder`, unless another holder's
    /// lease has not run out at `now`; whether it was taken.
    fn take_job_lease(&mut self, job: &str, holder: Uuid, now: i64, until: i64) -> StorageResult<bool>;
    /// Gives the job's lease back, if `holder` still has it.
    fn end_job_lease(&mut self, job: &str, holder: Uuid) -> StorageResult<()>;
    fn insert_export(&mut self, e: &ExportRequest) -> StorageResult<()>;
    fn get_export(&mut self, id: Uuid) -> StorageResult<Option<ExportRequest>>;
    /// Writes an export's status, decision, download and file fields.
    fn update_export(&mut self, e: &ExportRequest) -> StorageResult<()>;
    /// Takes a ready export's one download: true when this call took it (it was ready, not yet
    /// downloaded and not expired at `now`), so two downloads at once cannot both get the file.
    fn claim_export_download(&mut self, id: Uuid, now: i64) -> StorageResult<bool>;
    /// Exports newest first: of these co-workers (all when `None`), in this status (any when `None`).
    fn list_exports(
        &mut self,
        coworkers: Option<&[Uuid]>,
        status: Option<ExportStatus>,
        limit: u32,
    ) -> StorageResult<Vec<ExportRequest>>;
    /// Inserts an alert unless one with its dedupe key exists; true when inserted.
    fn insert_alert(&mut self, a: &Alert) -> StorageResult<bool>;
    fn get_alert(&mut self, id: Uuid) -> StorageResult<Option<Alert>>;
    fn update_alert(&mut self, a: &Alert) -> StorageResult<()>;
    /// Alerts newest first: about these co-workers (all when `None`) or addressed to
    /// `addressed_to`, in this state (any when `None`).
    fn list_alerts(
        &mut self,
        coworkers: Option<&[Uuid]>,
        addressed_to: Option<Uuid>,
        state: Option<AlertState>,
        limit: u32,
    ) -> StorageResult<Vec<Alert>>;
    /// How many alerts about these co-workers (all when `None`) or addressed to `addressed_to`
    /// are in this state.
    fn count_alerts(
        &mut self,
        coworkers: Option<&[Uuid]>,
        addressed_to: Option<Uuid>,
        state: AlertState,
    ) -> StorageResult<i64>;
    fn insert_contact_approval(&mut self, a: &ContactApproval) -> StorageResult<()>;
    fn get_contact_approval(&mut self, id: Uuid) -> StorageResult<Option<ContactApproval>>;
    /// Writes an approval's status and decision.
    fn update_contact_approval(&mut self, a: &ContactApproval) -> StorageResult<()>;
    /// Requests newest first: asked by `requested_by` (anyone's when `None`), in this status (any
    /// when `None`).
    fn list_contact_approvals(
        &mut self,
        requested_by: Option<Uuid>,
        status: Option<ApprovalStatus>,
        limit: u32,
    ) -> StorageResult<Vec<ContactApproval>>;
    fn insert_delivery(&mut self, d: &AlertDelivery) -> StorageResult<()>;
    /// Deliveries not yet delivered nor given up whose next try is due at `now`, oldest first,
    /// locked against other servers where the backend can (PostgreSQL: `FOR UPDATE SKIP LOCKED`).
    fn due_deliveries(&mut self, now: i64, limit: u32) -> StorageResult<Vec<AlertDelivery>>;
    fn update_delivery(&mut self, d: &AlertDelivery) -> StorageResult<()>;
    /// The newest deliveries (the delivery log).
    fn list_deliveries(&mut self, limit: u32) -> StorageResult<Vec<AlertDelivery>>;
}

/// Deals in one pipeline stage and their total amount.
/// Departure cases and the confidentiality notice's versions.
pub trait DepartureStore {
    fn insert_departure(&mut self, d: &Departure) -> StorageResult<()>;
    /// Writes the case's status, steps, dates and closing time.
    fn update_departure(&mut self, d: &Departure) -> StorageResult<()>;
    fn get_departure(&mut self, id: Uuid) -> StorageResult<Option<Departure>>;
    /// Cases, newest first, of these co-workers (all when `None`) in this status (any when `None`).
    fn list_departures(
        &mut self,
        coworkers: Option<&[Uuid]>,
        status: Option<CaseStatus>,
    ) -> StorageResult<Vec<Departure>>;
    /// Open cases whose access end has come (at or before `now`), locked for this transaction.
    fn due_departures(&mut self, now: i64) -> StorageResult<Vec<Departure>>;
    /// Keeps a text of the notice (once per text) and returns its version number.
    fn keep_notice_version(&mut self, sha256: &str, text: &str, at: i64, by: Option<Uuid>) -> StorageResult<i64>;
    /// Every version of the notice: number, SHA-256, text, when and by whom, oldest first.
    fn notice_versions(&mut self) -> StorageResult<Vec<NoticeVersion>>;
}

/// One text the confidentiality notice has had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeVersion {
    pub version: i64,
    pub sha256: String,
    pub text: String,
    pub published_at: i64,
    pub published_by: Option<Uuid>,
}

/// One co-worker's activities at one account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Touches {
    pub account: Uuid,
    pub coworker: Uuid,
    pub activities: i64,
    pub last_at: i64,
}

/// A co-worker's relationship with an account: when they last touched it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Relationship {
    pub account: Uuid,
    pub coworker: Uuid,
    pub last_at: i64,
}

/// One co-worker's walk-out exposure at a month's end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExposureSnapshot {
    /// `YYYY-MM`.
    pub month: String,
    /// The nil id for a month with nobody exposed.
    pub coworker_id: Uuid,
    pub accounts: i64,
    /// Cents.
    pub value_at_stake: i64,
    pub taken_at: i64,
}

/// A contract coming up for renewal, with what the renewal calendar shows of its account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Renewal {
    pub contract: Uuid,
    pub name: String,
    /// Cents.
    pub value: i64,
    /// The renewal date, or the end date when it has none.
    pub date: String,
    pub end_date: Option<String>,
    pub account: Uuid,
    pub account_name: String,
    pub account_owner: Option<Uuid>,
    pub tier: Option<String>,
    pub fiscal_year_end_month: Option<i64>,
}

/// What an account is worth to the company, for exposure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountStake {
    pub id: Uuid,
    pub name: String,
    pub tier: Option<String>,
    pub owner: Option<Uuid>,
    /// Cents.
    pub annual_value: i64,
    /// Open deals' amount, cents.
    pub open_pipeline: i64,
    /// Contracts renewing (or ending) in the window.
    pub renewals: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageTotal<S = &'static str> {
    pub stage: S,
    pub deals: i64,
    /// Total amount in cents.
    pub cents: i64,
}

/// Events and rows one co-worker caused with one action on one day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DailyCount {
    pub coworker_id: Option<Uuid>,
    pub day: i64,
    pub action: String,
    pub events: i64,
    pub rows: i64,
    /// Of those events, the `record.read`s of records outside the reader's own book.
    pub outside_book: i64,
}

/// A web-to-lead form an admin made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeadForm {
    pub id: Uuid,
    pub name: String,
    /// The lead fields the form asks for, in order.
    pub fields: Vec<String>,
    /// Where a browser goes after posting (the form's own thank-you page when none).
    pub redirect_url: Option<String>,
    pub created_by: Option<Uuid>,
    pub created_at: i64,
    pub archived_at: Option<i64>,
    pub submissions: i64,
    pub last_submission_at: Option<i64>,
}

/// Something a co-worker is told in the app (and by email when an SMTP server is set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub id: Uuid,
    pub coworker_id: Uuid,
    /// `lead.assigned`, `lead.escalated`, `lead.rerouted`.
    pub kind: String,
    pub object_type: Option<String>,
    pub object_id: Option<Uuid>,
    pub summary: String,
    pub created_at: i64,
    pub read_at: Option<i64>,
    /// `pending`, `sent` or `failed`; none when no email goes with it.
    pub email_state: Option<String>,
    pub email_attempts: i64,
    pub email_next_at: Option<i64>,
    pub email_error: Option<String>,
}

/// A lead's clock, as the speed-to-lead figures read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeadClock {
    pub id: Uuid,
    pub owner_id: Option<Uuid>,
    pub source: Option<String>,
    pub status: String,
    pub routed_at: i64,
    pub sla_due_at: Option<i64>,
    pub first_touch_at: Option<i64>,
}

/// Leads: web-to-lead forms, the round-robin's turns, the clock, and notifications.
pub trait LeadStore {
    fn insert_lead_form(&mut self, form: &LeadForm) -> StorageResult<()>;
    fn update_lead_form(&mut self, form: &LeadForm) -> StorageResult<()>;
    fn get_lead_form(&mut self, id: Uuid) -> StorageResult<Option<LeadForm>>;
    /// Counts a post to a form that is not archived; false when it is archived or gone.
    fn count_lead_form_post(&mut self, id: Uuid, at: i64) -> StorageResult<bool>;
    fn list_lead_forms(&mut self) -> StorageResult<Vec<LeadForm>>;
    /// Serialises routing decisions across servers (PostgreSQL; SQLite has one writer).
    fn lock_lead_rotation(&mut self) -> StorageResult<()>;
    /// How many leads each co-worker of `pool` has been given.
    fn lead_rotation(&mut self, pool: &str) -> StorageResult<Vec<(Uuid, i64)>>;
    fn set_lead_rotation(&mut self, pool: &str, coworker: Uuid, assigned: i64) -> StorageResult<()>;
    /// Whether `owner` holds at least `at_least` open leads (new or working); counts no further.
    fn holds_open_leads(&mut self, owner: Uuid, at_least: i64) -> StorageResult<bool>;
    /// Ids of live open leads with no first touch whose `column` moment is at or before
    /// `before`, oldest first: `sla_due_at` (not yet escalated) or `reroute_at`.
    fn untouched_leads(&mut self, column: &str, before: i64, limit: u32) -> StorageResult<Vec<Uuid>>;
    /// Ids of live open leads owned by `owner`.
    fn open_lead_ids(&mut self, owner: Uuid) -> StorageResult<Vec<Uuid>>;
    /// The clocks of live leads routed at or after `since`.
    fn lead_clocks(&mut self, since: i64) -> StorageResult<Vec<LeadClock>>;
    /// Live leads marked as probable duplicates: (lead, the lead it duplicates), newest first.
    fn duplicate_leads(&mut self, limit: u32) -> StorageResult<Vec<(Uuid, Uuid)>>;
    /// Live leads with a previous owner (re-routed when that owner left) and no touch since.
    fn reengagement_leads(&mut self, limit: u32) -> StorageResult<Vec<Uuid>>;
    fn insert_notification(&mut self, n: &Notification) -> StorageResult<()>;
    /// Writes a notification's email state (attempts, next try, error), nothing else.
    fn update_notification_email(&mut self, n: &Notification) -> StorageResult<()>;
    fn list_notifications(&mut self, coworker: Uuid, limit: u32) -> StorageResult<Vec<Notification>>;
    fn unread_notifications(&mut self, coworker: Uuid) -> StorageResult<i64>;
    fn mark_notifications_read(&mut self, coworker: Uuid, at: i64) -> StorageResult<usize>;
    /// Notification emails due (taken `FOR UPDATE SKIP LOCKED` on PostgreSQL).
    fn due_notification_emails(&mut self, now: i64, limit: u32) -> StorageResult<Vec<Notification>>;
}

/// A made-up person placed in one export (see `crate::leak`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Canary {
    pub email: String,
    /// As written in the file, and its digits (how a call or a text to it is looked up).
    pub phone: Option<String>,
    pub phone_digits: Option<String>,
    pub first_name: String,
    pub last_name: String,
    /// The id the canary's row carries in the file.
    pub record_id: Uuid,
    pub export_id: Uuid,
    /// The kind exported (`contacts`, `leads`).
    pub kind: String,
    pub created_at: i64,
}

/// An export's fingerprint: the keyed marks of its rows and who made it how (no copy of the data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    pub export_id: Uuid,
    /// Who made it (none: the operator at the command line).
    pub coworker_id: Option<Uuid>,
    pub kind: String,
    pub format: String,
    /// The way out: `web`, `api`, `cli`.
    pub door: String,
    pub columns: Vec<String>,
    /// Real rows (canaries not counted) and canaries.
    pub rows: i64,
    pub canaries: i64,
    pub created_at: i64,
    /// Its rows' marks as read back: every mark packed (`crate::leak::pack_marks`), in the order
    /// they were made (written, they are given beside it as [`crate::leak::PackedMarks`]).
    pub marks: String,
}

/// Leak tracing: canaries and export fingerprints.
pub trait LeakStore {
    /// Keeps a placed canary (an address two exports happened to make is kept for both).
    fn insert_canary(&mut self, c: &Canary) -> StorageResult<()>;
    /// The newest canary with this email, or with these phone digits (the last nine).
    fn find_canary(&mut self, email: Option<&str>, phone_digits: Option<&str>) -> StorageResult<Option<Canary>>;
    /// The canaries whose emails are among `emails` (one query for many).
    fn canaries_with_emails(&mut self, emails: &[String]) -> StorageResult<Vec<Canary>>;
    /// Every canary (a trace looks for all of them in a file), oldest first.
    fn all_canaries(&mut self) -> StorageResult<Vec<Canary>>;
    fn canaries_of_export(&mut self, export_id: Uuid) -> StorageResult<Vec<Canary>>;
    /// Keeps an export's fingerprint: `f` (its `marks` left empty) and its marks, one part at a time.
    fn insert_fingerprint(&mut self, f: &Fingerprint, marks: &crate::leak::PackedMarks) -> StorageResult<()>;
    fn get_fingerprint(&mut self, export_id: Uuid) -> StorageResult<Option<Fingerprint>>;
    /// Every fingerprint's export and size (rows and canaries), so a trace can read them in
    /// batches of bounded size.
    /// (export, rows and canaries, maker) of every fingerprint.
    fn fingerprint_sizes(&mut self) -> StorageResult<Vec<(Uuid, i64, Option<Uuid>)>>;
    fn fingerprints(&mut self, export_ids: &[Uuid]) -> StorageResult<Vec<Fingerprint>>;
    fn count_fingerprints(&mut self) -> StorageResult<i64>;
}
