//! The service layer: every read and change of customer data goes through here, is authorized
//! here, and leaves a system event here. HTTP handlers and CLI commands are thin callers.

mod alerts;
mod audit;
mod backup;
mod bulk;
mod confidentiality;
mod coworkers;
mod cursors;
mod departures;
mod detectors;
mod digest;
mod events;
mod exports;
mod exposure;
mod import;
mod leads;
mod leak_tracing;
mod metering;
mod passwords;
mod protocol;
mod provisioning;
mod records;
mod refusals;
mod reports;
mod scheduled;
mod settings;
mod sign_in_limits;
mod single_sign_on;
mod two_factor;

use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::time::Instant;

pub use alerts::{ALERT_RAISE, ALERT_STATE, AlertEmail, AlertSender, DeliveryRound, WebhookPost};
pub use audit::{ActivityReport, BASELINE_DAYS, Baseline, DayActivity, RecordHistory, Retention};
pub use backup::Backup;
pub use bulk::{
    BULK_MAX, BulkOperation, BulkOutcome, EXPORT_MAX, HANDED_OVER, Handover, HandoverPreview, HandoverRule, KindCount,
    RecipientValue,
};
pub use confidentiality::{Acknowledgement, ConfidentialityNotice, DEFAULT_NOTICE, NOTICE_SETTING};
pub use coworkers::{
    CoWorkerChanges, DEVICE_DAYS, NewCoWorker, NewToken, OrgChart, PENDING_SIGN_IN_MINUTES, SESSION_DAYS, SignIn,
    SignedIn,
};
pub use departures::{
    DEFAULT_INTRODUCTION, DEPARTURE_CANCEL, DEPARTURE_END, DEPARTURE_START, DEPARTURE_STEP, DepartureView,
    INTRODUCTION_SETTING, Introductions, NewDeparture, NoticeAck,
};
pub use detectors::{LOOK_BACK_DAYS, LookBack};
pub use digest::{DIGEST_SENT, Digest};
pub use exports::{
    DOWNLOAD_WINDOW, EXPORT_APPROVE, EXPORT_DENY, EXPORT_REFUSED, EXPORT_REQUEST, ExportAsk, ExportFile, ExportList,
    export_columns,
};
pub use exposure::{
    AccountCoverage, CADENCE_SETTING, COVERAGE_WINDOW_DAYS, Cadences, CoverageRow, ExposedAccount, Exposure,
    RENEWAL_WINDOW_DAYS, RenewalRow, TrendMonth, assess, senior_cadence_days,
};
pub use import::{ImportOptions, ImportReport, RejectedRow};
pub use leads::{
    CAMPAIGN_FIELDS, Captured, Conversion, ConversionDeal, Door, FORM_FIELDS, FORM_POSTS_PER_HOUR,
    FORM_POSTS_PER_MINUTE, HONEYPOT_FIELD, LEAD_CAPTURE, LEAD_CONVERT, LEAD_ESCALATE, LEAD_FORM_CREATE,
    LEAD_FORM_REFUSED, LEAD_FORM_UPDATE, LEAD_MERGE, LEAD_ROUTE, LeadImportReport, LeadMetrics, LeadView, MetricsRow,
    NewLeadForm, Submission, Submitted, TimelineEntry,
};
pub use leak_tracing::{
    AttachmentFinding, CANARY_HIT, CanaryHit, CanaryReport, EXPORT_TRACE, MAIL_OUTBOUND, MailFinding, TRACE_MAX_ROWS,
    TraceMatch, TraceReport, door_in_words,
};
pub use metering::{BULK_READ_SETTING, DEFAULT_BULK_READ_LIMIT, EXPORT_POLICY_SETTING, ExportPolicy, RowsRead};
pub use protocol::{
    ApprovalList, ApprovalView, CONTACT_APPROVAL_DECIDE, CONTACT_APPROVAL_REQUEST, PROTOCOL_BREACH, ProtocolNote,
};
pub use provisioning::{ScimPage, ScimQuery};
pub use records::{ListRequest, Page, SearchHit};
pub use refusals::REFUSALS_PER_MINUTE;
pub use reports::{HomeReport, TeamOverview};
pub use settings::{
    CANARY_DOMAIN_SETTING, CANARY_PHONE_SETTING, COMPANY_DOMAINS_SETTING, DEFAULT_EMAIL_FROM,
    DEFAULT_MAIL_ALERT_THRESHOLD, EMAIL_FROM_SETTING, LeakTracing, MAIL_THRESHOLD_SETTING, PolicyScope,
    SETTINGS_VERSION, SMTP_URL_SETTING, Settings, SettingsChange, WEBHOOK_SECRET_SETTING, WEBHOOK_URL_SETTING,
};
pub use sign_in_limits::{CLIENT_FAILURES, FREE_FAILURES};
pub use single_sign_on::{
    DEFAULT_SSO_SESSION_HOURS, ProviderIdentity, SINGLE_SIGN_ON_SETTING, SingleSignOn, SingleSignOnChange,
};
pub use two_factor::{
    Enrolment, RECOVERY_CODES, TWO_FACTOR_ENROL, TWO_FACTOR_FOR_ADMINS_SETTING, TWO_FACTOR_RECOVERY_USED,
    TWO_FACTOR_RESET,
};

use crate::error::{CoreError, StorageError};
use crate::event::{NewEvent, SystemEvent};
use crate::storage::{Database, Tx};
use crate::time::{Clock, SystemClock};

/// Holdfast's services over one database.
pub struct Holdfast<D: Database> {
    pub(crate) db: Arc<D>,
    clock: Arc<dyn Clock>,
    reads: ReadEventWriter,
    org: RwLock<Option<(Instant, Arc<OrgChart>)>>,
    sign_in_limits: sign_in_limits::SignInLimits,
    refusal_limits: refusals::RefusalLimits,
    meter: metering::ReadMeter,
    settings_cache: settings::SettingsCache,
    /// Co-workers known to have acknowledged the notice at least once (it never becomes untrue),
    /// so the first-sign-in check costs nothing after it passed.
    acknowledged: RwLock<std::collections::HashSet<uuid::Uuid>>,
    /// Posts per address to the public lead forms.
    form_limits: leads::FormLimits,
}

impl<D: Database> Holdfast<D> {
    pub fn new(db: D) -> Self {
        Self::with_clock(db, Arc::new(SystemClock))
    }

    pub fn with_clock(db: D, clock: Arc<dyn Clock>) -> Self {
        let db = Arc::new(db);
        Holdfast {
            reads: ReadEventWriter::new(),
            db,
            clock,
            org: RwLock::new(None),
            sign_in_limits: Default::default(),
            refusal_limits: Default::default(),
            meter: Default::default(),
            settings_cache: Default::default(),
            acknowledged: Default::default(),
            form_limits: Default::default(),
        }
    }

    /// The database without the service layer: no authorization, no system events. Only the
    /// benchmarks use it (to seed data at bare-SQL speed); web and CLI code never do.
    pub fn unaudited_database_for_benchmarks(&self) -> &D {
        &self.db
    }

    /// Which backend serves this installation and the schema version it is at (`/healthz`).
    pub fn health(&self) -> Result<Health, CoreError> {
        Ok(Health { backend: self.db.backend(), schema_version: self.db.schema_version()? })
    }

    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// Records events about reads. They are group-committed; this returns once they are durable,
    /// and fails if they could not be written, so no read goes unrecorded.
    fn record_read(&self, events: Vec<NewEvent>) -> Result<(), CoreError> {
        self.reads.append(&*self.db, events)
    }

    /// How many commits the read events' group commit has made, and how many events they carried
    /// (their ratio is the mean batch; the benches print it).
    pub fn read_commits(&self) -> (u64, u64) {
        self.reads.state.lock().map(|st| (st.commits, st.settled)).unwrap_or((0, 0))
    }

    /// Refuses further reads (clean shutdown). Every read that returned has its event committed:
    /// callers wait for their own commit, so nothing is pending once they have returned.
    pub fn shutdown(&self) {
        self.reads.stop();
    }
}

impl<D: Database> Drop for Holdfast<D> {
    fn drop(&mut self) {
        self.reads.stop();
    }
}

/// What `/healthz` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    /// `sqlite` or `postgres`.
    pub backend: &'static str,
    pub schema_version: i64,
}

/// Appends events inside the caller's transaction, continuing the hash chain.
pub fn append_events(tx: &mut dyn Tx, events: Vec<NewEvent>) -> Result<(), StorageError> {
    if events.is_empty() {
        return Ok(());
    }
    append_events_with_ids(tx, events).map(drop)
}

/// [`append_events`], returning the ids the events were given.
pub(crate) fn append_events_with_ids(tx: &mut dyn Tx, events: Vec<NewEvent>) -> Result<Vec<uuid::Uuid>, StorageError> {
    let (mut seq, mut hash) = tx.chain_head()?;
    let mut chained = Vec::with_capacity(events.len());
    for event in events {
        let e = SystemEvent::chain(event, seq, &hash);
        seq = e.seq;
        hash.clone_from(&e.hash);
        chained.push(e);
    }
    let ids = chained.iter().map(|e| e.id).collect();
    tx.insert_events(&chained)?;
    Ok(ids)
}

/// Group commit for read events, leader/follower style (as LevelDB's writer queue): a caller
/// queues its events; if no commit is in progress it becomes the leader and commits everything
/// queued (its own and others'), otherwise it waits for the leader that takes its events. With
/// one caller there is no thread hand-off at all; with many, one commit carries many reads.
///
/// Reads under way (between their turn and their events) are counted: a leader that knows of
/// reads about to queue waits for them, at most [`COMMIT_WINDOW`], so that they share its commit
/// instead of each waiting for the next. Without this the batches stayed at one to three reads
/// and half the CPU sat idle: every reader waits for its commit, so they all came back at once,
/// and the first to queue committed alone.
struct ReadEventWriter {
    state: Mutex<QueueState>,
    done: Condvar,
    /// Signalled when events are queued or a read under way ends (the leader's window).
    queued: Condvar,
    /// Reads under way: turns taken and not yet given back ([`ReadEventWriter::read_begins`]).
    under_way: std::sync::atomic::AtomicUsize,
}

/// How long a leader waits for reads under way to queue their events before it commits.
const COMMIT_WINDOW: std::time::Duration = std::time::Duration::from_micros(250);

#[derive(Default)]
struct QueueState {
    queue: Vec<NewEvent>,
    /// Tickets (one per event) handed out so far.
    issued: u64,
    /// Every ticket up to this one has been committed or has failed.
    settled: u64,
    leader: bool,
    /// Ticket ranges (first, last) whose commit failed, with the reason; pruned as waiters leave.
    failed: Vec<(u64, u64, String)>,
    stopped: bool,
    /// Commits made (each carries the batch taken from the queue).
    commits: u64,
    /// Callers inside [`ReadEventWriter::append`] (queued or committing).
    waiting: usize,
}

/// The most events one group commit writes.
const GROUP_COMMIT_MAX: usize = 4096;

impl ReadEventWriter {
    fn new() -> Self {
        ReadEventWriter {
            state: Mutex::new(QueueState::default()),
            done: Condvar::new(),
            queued: Condvar::new(),
            under_way: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// A read has begun; it will queue its events or call [`ReadEventWriter::read_ends`].
    pub(crate) fn read_begins(&self) {
        self.under_way.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    /// A read is over (its events, if any, are committed).
    pub(crate) fn read_ends(&self) {
        self.under_way.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        // Taking the lock orders this with a leader about to wait, so the wake-up is not lost.
        drop(self.state.lock());
        self.queued.notify_all();
    }

    fn append<D: Database>(&self, db: &D, events: Vec<NewEvent>) -> Result<(), CoreError> {
        let poisoned = || CoreError::Storage(StorageError::Other("the system event queue was poisoned".into()));
        let mut st = self.state.lock().map_err(|_| poisoned())?;
        if st.stopped {
            return Err(unavailable());
        }
        let first = st.issued + 1;
        st.issued += events.len() as u64;
        let last = st.issued;
        st.queue.extend(events);
        st.waiting += 1;
        self.queued.notify_all();
        loop {
            if st.settled >= last {
                st.waiting -= 1;
                let failure = st.failed.iter().find(|(a, b, _)| *a <= last && first <= *b).map(|f| f.2.clone());
                let floor = st.settled.saturating_sub(1_000_000);
                st.failed.retain(|(_, b, _)| *b > floor);
                return match failure {
                    None => Ok(()),
                    Some(e) => Err(CoreError::Storage(StorageError::Other(format!(
                        "the system event could not be written, so the read was refused: {e}"
                    )))),
                };
            }
            if st.leader {
                st = self.done.wait(st).map_err(|_| poisoned())?;
                continue;
            }
            // Lead: wait a moment for reads under way, then take what is queued (in ticket
            // order) and commit it.
            st.leader = true;
            let until = std::time::Instant::now() + COMMIT_WINDOW;
            while st.queue.len() < GROUP_COMMIT_MAX
                && self.under_way.load(std::sync::atomic::Ordering::SeqCst) > st.waiting
            {
                let now = std::time::Instant::now();
                if now >= until {
                    break;
                }
                st = self.queued.wait_timeout(st, until - now).map_err(|_| poisoned())?.0;
            }
            let take = st.queue.len().min(GROUP_COMMIT_MAX);
            let batch: Vec<NewEvent> = st.queue.drain(..take).collect();
            let (from, to) = (st.settled + 1, st.settled + take as u64);
            drop(st);
            let result = db.write(|tx| append_events(tx, batch).map_err(CoreError::from));
            st = self.state.lock().map_err(|_| poisoned())?;
            if let Err(e) = result {
                st.failed.push((from, to, e.to_string()));
            }
            st.settled = to;
            st.commits += 1;
            st.leader = false;
            self.done.notify_all();
        }
    }

    fn stop(&self) {
        if let Ok(mut st) = self.state.lock() {
            st.stopped = true;
        }
    }
}

fn unavailable() -> CoreError {
    CoreError::Storage(StorageError::Other("the system event log is not accepting events (shutting down)".into()))
}
