//! The service layer: every read and change of customer data goes through here, is authorized
//! here, and leaves a system event here. HTTP handlers and CLI commands are thin callers.

mod coworkers;
mod events;
mod import;
mod records;

use std::sync::mpsc;
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub use coworkers::{CoWorkerChanges, NewCoWorker, NewToken, OrgChart};
pub use import::{ImportOptions, ImportReport, RejectedRow};
pub use records::{ListRequest, Page, SearchHit};

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
    throttle: Mutex<std::collections::HashMap<String, Vec<i64>>>,
}

impl<D: Database> Holdfast<D> {
    pub fn new(db: D) -> Self {
        Self::with_clock(db, Arc::new(SystemClock))
    }

    pub fn with_clock(db: D, clock: Arc<dyn Clock>) -> Self {
        let db = Arc::new(db);
        Holdfast {
            reads: ReadEventWriter::start(Arc::clone(&db)),
            db,
            clock,
            org: RwLock::new(None),
            throttle: Mutex::new(Default::default()),
        }
    }

    pub fn database(&self) -> &D {
        &self.db
    }

    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// Records events about reads. They are group-committed by a writer thread; this returns once
    /// they are durable, and fails if they could not be written, so no read goes unrecorded.
    fn record_read(&self, events: Vec<NewEvent>) -> Result<(), CoreError> {
        self.reads.append(events)
    }

    /// Waits for pending read events and stops the writer (clean shutdown).
    pub fn shutdown(&self) {
        self.reads.stop();
    }
}

impl<D: Database> Drop for Holdfast<D> {
    fn drop(&mut self) {
        self.reads.stop();
    }
}

/// Appends events inside the caller's transaction, continuing the hash chain.
pub(crate) fn append_events(tx: &mut dyn Tx, events: Vec<NewEvent>) -> Result<(), StorageError> {
    if events.is_empty() {
        return Ok(());
    }
    let (mut seq, mut hash) = tx.chain_head()?;
    let mut chained = Vec::with_capacity(events.len());
    for event in events {
        let e = SystemEvent::chain(event, seq, &hash);
        seq = e.seq;
        hash.clone_from(&e.hash);
        chained.push(e);
    }
    tx.insert_events(&chained)
}

struct Pending {
    events: Vec<NewEvent>,
    done: mpsc::SyncSender<Result<(), String>>,
}

/// The group-commit writer for read events: one thread drains a queue and writes everything
/// waiting in one transaction, so many concurrent reads cost one commit.
struct ReadEventWriter {
    queue: Mutex<Option<mpsc::Sender<Pending>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// The most events one group commit writes.
const GROUP_COMMIT_MAX: usize = 4096;

impl ReadEventWriter {
    fn start<D: Database>(db: Arc<D>) -> Self {
        let (sender, receiver) = mpsc::channel::<Pending>();
        let thread = std::thread::Builder::new()
            .name("system-event-writer".into())
            .spawn(move || {
                while let Ok(first) = receiver.recv() {
                    let mut batch = vec![first];
                    let mut count = batch[0].events.len();
                    while count < GROUP_COMMIT_MAX {
                        match receiver.try_recv() {
                            Ok(p) => {
                                count += p.events.len();
                                batch.push(p);
                            }
                            Err(_) => break,
                        }
                    }
                    let mut events = Vec::with_capacity(count);
                    let mut waiters = Vec::with_capacity(batch.len());
                    for p in batch {
                        events.extend(p.events);
                        waiters.push(p.done);
                    }
                    let result = db.write(|tx| append_events(tx, events).map_err(CoreError::from));
                    let outcome = result.map_err(|e| e.to_string());
                    for w in waiters {
                        let _ = w.send(outcome.clone());
                    }
                }
            })
            .ok();
        ReadEventWriter { queue: Mutex::new(Some(sender)), thread: Mutex::new(thread) }
    }

    fn append(&self, events: Vec<NewEvent>) -> Result<(), CoreError> {
        let (done, wait) = mpsc::sync_channel(1);
        let sent = {
            let queue = self.queue.lock().map_err(|_| unavailable())?;
            match queue.as_ref() {
                Some(q) => q.send(Pending { events, done }).is_ok(),
                None => false,
            }
        };
        if !sent {
            return Err(unavailable());
        }
        match wait.recv_timeout(Duration::from_secs(30)) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(CoreError::Storage(StorageError::Other(format!(
                "the system event could not be written, so the read was refused: {e}"
            )))),
            Err(_) => Err(unavailable()),
        }
    }

    fn stop(&self) {
        if let Ok(mut q) = self.queue.lock() {
            q.take();
        }
        if let Ok(mut t) = self.thread.lock()
            && let Some(handle) = t.take()
        {
            let _ = handle.join();
        }
    }
}

fn unavailable() -> CoreError {
    CoreError::Storage(StorageError::Other("the system event log is not accepting events (shutting down)".into()))
}
