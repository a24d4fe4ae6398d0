//! The embedded backend: one writer connection and a pool of readers on a WAL-mode file.
//!
//! `synchronous=NORMAL` in WAL mode: a commit is durable against a process crash (kill -9) at
//! once and against power loss after the next checkpoint; it saves an fsync per commit. The
//! system event log's group commit means one commit covers many reads' events anyway.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use holdfast_core::StorageError;
use holdfast_core::record::Value;
use holdfast_core::storage::Cell;
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags, ToSql};

use crate::conn::{Backend, Conn, sqlite_placeholders};
use crate::error::StoreError;

pub struct SqliteStore {
    pub(crate) path: PathBuf,
    pub(crate) writer: Mutex<Connection>,
    readers: Vec<Mutex<Connection>>,
    /// Signalled when a reader is given back (see [`SqliteStore::reader`]).
    freed: (Mutex<()>, std::sync::Condvar),
    /// Copies the write-ahead log into the database off the commit path ([`Checkpointer`]).
    _checkpointer: Option<Checkpointer>,
}

/// A thread that checkpoints the write-ahead log every few milliseconds on a connection of its
/// own (`PRAGMA wal_checkpoint(PASSIVE)`: never waits for readers or the writer). Without it the
/// commit that finds the log past 1,000 pages copies them itself while every read in its group
/// commit waits. The writer still checkpoints by itself past [`WRITER_AUTOCHECKPOINT_PAGES`],
/// should this thread fall behind.
struct Checkpointer {
    stop: std::sync::Arc<(Mutex<bool>, std::sync::Condvar)>,
    thread: Option<std::thread::JoinHandle<()>>,
}

const CHECKPOINT_EVERY: Duration = Duration::from_millis(20);
const WRITER_AUTOCHECKPOINT_PAGES: i64 = 16_384;

impl Checkpointer {
    fn start(path: &Path) -> Option<Checkpointer> {
        let conn = open_connection(path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX, 512)
            .map_err(|e| tracing::warn!("no background checkpoints: {e}"))
            .ok()?;
        let stop = std::sync::Arc::new((Mutex::new(false), std::sync::Condvar::new()));
        let flag = std::sync::Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || {
                let (lock, wake) = &*flag;
                let Ok(mut stopped) = lock.lock() else { return };
                while !*stopped {
                    stopped = match wake.wait_timeout(stopped, CHECKPOINT_EVERY) {
                        Ok((g, _)) => g,
                        Err(_) => return,
                    };
                    if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                        tracing::warn!("a background checkpoint failed: {e}");
                    }
                }
            })
            .map_err(|e| tracing::warn!("no background checkpoints: {e}"))
            .ok()?;
        Some(Checkpointer { stop, thread: Some(thread) })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        if let Ok(mut stopped) = self.stop.0.lock() {
            *stopped = true;
        }
        self.stop.1.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The writer's page cache for ordinary transactions, and for those that change many rows.
const WRITER_CACHE_KIB: i64 = 4_096;
const BULK_CACHE_KIB: i64 = 65_536;

/// Connection settings. Page caches stay small. A reader's: SQLite discards a connection's
/// whole page cache when another connection has written since its last transaction, and every
/// audited read is followed by an event write, so a large private cache would be rebuilt on
/// every read (pages come from the OS page cache; a memory map was tried and was slower). The
/// writer's: when an insert splits a b-tree page, SQLite renumbers pages through a key far past
/// the end of the file, and the commit that follows then walks the writer's whole page cache to
/// drop it — with a 64 MiB cache that walk was a quarter of an audited read's time (measured
/// with `perf`, `pcache1TruncateUnsafe`). Transactions that change many rows (imports,
/// handovers, undo) ask for a large cache for their length ([`Conn::expect_many_changes`]).
fn configure(conn: &Connection, cache_kib: i64) -> Result<(), rusqlite::Error> {
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.execute_batch(&format!(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; PRAGMA temp_store=MEMORY; \
         PRAGMA cache_size=-{cache_kib};"
    ))?;
    conn.set_prepared_statement_cache_capacity(256);
    Ok(())
}

fn open_connection(path: &Path, flags: OpenFlags, cache_kib: i64) -> Result<Connection, StoreError> {
    let c = Connection::open_with_flags(path, flags)
        .map_err(|e| StoreError::Open(format!("cannot open the SQLite database {}: {e}", path.display())))?;
    configure(&c, cache_kib).map_err(|e| StoreError::Open(format!("cannot configure {}: {e}", path.display())))?;
    Ok(c)
}

fn open_writer(path: &Path) -> Result<Connection, StoreError> {
    let c = open_connection(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        WRITER_CACHE_KIB,
    )?;
    c.execute_batch(&format!("PRAGMA wal_autocheckpoint={WRITER_AUTOCHECKPOINT_PAGES}"))
        .map_err(|e| StoreError::Open(format!("cannot configure {}: {e}", path.display())))?;
    Ok(c)
}

impl SqliteStore {
    pub fn open(path: &Path, readers: usize) -> Result<SqliteStore, StoreError> {
        let writer = open_writer(path)?;
        let mut pool = Vec::new();
        for _ in 0..readers.max(1) {
            pool.push(Mutex::new(open_connection(
                path,
                OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                2_048,
            )?));
        }
        Ok(SqliteStore {
            path: path.to_path_buf(),
            writer: Mutex::new(writer),
            readers: pool,
            freed: (Mutex::new(()), std::sync::Condvar::new()),
            _checkpointer: Checkpointer::start(path),
        })
    }

    /// A reader connection: the first free one, or the first given back while waiting. (Waiting
    /// for one particular reader would hold a quick read up behind a long one, such as the daily
    /// reading baselines, while the other readers are free.) Whoever gives a reader back calls
    /// [`SqliteStore::reader_given_back`].
    pub(crate) fn reader(&self) -> Result<std::sync::MutexGuard<'_, Connection>, StorageError> {
        loop {
            for r in &self.readers {
                match r.try_lock() {
                    Ok(guard) => return Ok(guard),
                    Err(std::sync::TryLockError::WouldBlock) => {}
                    Err(std::sync::TryLockError::Poisoned(_)) => {
                        return Err(StorageError::Other("a reader connection was poisoned".into()));
                    }
                }
            }
            let waiting =
                self.freed.0.lock().map_err(|_| StorageError::Other("the reader pool was poisoned".into()))?;
            // A reader given back between the look above and this wait is seen at the next look.
            let _ = self.freed.1.wait_timeout(waiting, Duration::from_millis(2));
        }
    }

    /// After a transaction that widened the writer's page cache: a new writer connection in its
    /// place. Lowering `cache_size` frees the pages but not the cache's hash table, which every
    /// commit that follows a page split walks in full (see [`configure`]); a new connection
    /// starts small. If it cannot be opened, the old one stays.
    pub(crate) fn renew_writer(&self, writer: &mut Connection) {
        match open_writer(&self.path) {
            Ok(fresh) => *writer = fresh,
            Err(e) => tracing::warn!("could not give back the page cache of a large transaction: {e}"),
        }
    }

    /// Wakes a request waiting for a reader.
    pub(crate) fn reader_given_back(&self) {
        self.freed.1.notify_one();
    }
}

impl SqliteStore {
    /// Copies the database page by page with SQLite's online backup API, in one step on a reader
    /// connection: one read snapshot, so the copy is consistent while the writer goes on.
    pub(crate) fn copy_to(&self, dest: &Path) -> Result<(i64, String), StorageError> {
        let fail = |what: &str, e: rusqlite::Error| StorageError::Other(format!("{what} {}: {e}", dest.display()));
        holdfast_core::private_files::create_private_file(dest)
            .map_err(|e| StorageError::Other(format!("cannot create {}: {e}", dest.display())))?;
        let source = self.reader()?;
        let mut copy = Connection::open(dest).map_err(|e| fail("cannot create", e))?;
        let backup = rusqlite::backup::Backup::new(&source, &mut copy).map_err(|e| fail("cannot copy to", e))?;
        loop {
            match backup.step(-1).map_err(|e| fail("copying to", e))? {
                rusqlite::backup::StepResult::Done => break,
                // Another connection holds a lock on the copy's file for a moment: try again.
                _ => std::thread::sleep(Duration::from_millis(20)),
            }
        }
        drop(backup);
        drop(source);
        self.reader_given_back();
        // The copy is a file on its own: no write-ahead log beside it.
        copy.execute_batch("PRAGMA journal_mode=DELETE").map_err(|e| fail("cannot finish", e))?;
        use holdfast_core::storage::EventLog;
        crate::tx::SqlTx { conn: SqliteConn(&copy, false) }.peek_chain_head()
    }
}

/// How the full-text tokenizer of every `*_fts` table (`unicode61 remove_diacritics 2`) reads
/// each character of the Basic Multilingual Plane: inside words (folded to lower case without
/// diacritics, or dropped), or as a separator. Learned once from the linked SQLite itself (one
/// word per character through a throwaway index), so it cannot drift from the index; a character
/// it cannot tell is left to the index (see `broad_search`).
pub(crate) struct TokenizerFolding(Vec<u32>);

/// How the tokenizer reads one character.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reading {
    /// Not learned (beyond the plane, or read as more than one character): ask the index.
    Unknown,
    Separator,
    /// Inside a word, but dropped (a combining mark).
    Dropped,
    /// Inside a word, read as this character.
    Letter(char),
}

const UNKNOWN: u32 = 0;
const SEPARATOR: u32 = 1;
const DROPPED: u32 = 2;
const LETTER: u32 = 3;

impl TokenizerFolding {
    /// Whether the tokenizer reads `text` as exactly `word` (one word, nothing dropped around it).
    pub(crate) fn reads_as(&self, text: &str, word: &str) -> bool {
        let mut read = String::with_capacity(word.len());
        for c in text.chars() {
            match self.read(c) {
                Reading::Letter(l) => read.push(l),
                Reading::Dropped => {}
                Reading::Separator | Reading::Unknown => return false,
            }
        }
        read == word
    }

    pub(crate) fn read(&self, c: char) -> Reading {
        match self.0.get(c as usize).copied().unwrap_or(UNKNOWN) {
            UNKNOWN => Reading::Unknown,
            SEPARATOR => Reading::Separator,
            DROPPED => Reading::Dropped,
            n => char::from_u32(n - LETTER).map_or(Reading::Unknown, Reading::Letter),
        }
    }
}

/// The tokenizer's reading of every character of the plane, learned on first use (~0.1 s).
pub(crate) fn tokenizer_folding() -> Option<&'static TokenizerFolding> {
    static LEARNED: OnceLock<Option<TokenizerFolding>> = OnceLock::new();
    LEARNED.get_or_init(|| learn_tokenizer_folding().ok()).as_ref()
}

fn learn_tokenizer_folding() -> rusqlite::Result<TokenizerFolding> {
    let conn = Connection::open_in_memory()?;
    conn.execute_batch(
        "CREATE VIRTUAL TABLE t USING fts5(x, tokenize='unicode61 remove_diacritics 2');
         CREATE VIRTUAL TABLE v USING fts5vocab(t, 'instance');",
    )?;
    {
        let tx = conn.unchecked_transaction()?;
        let mut insert = tx.prepare("INSERT INTO t (rowid, x) VALUES (?1, ?2)")?;
        for c in (0x80..=0xFFFF_u32).filter_map(char::from_u32) {
            // Between two ASCII letters: one word if the tokenizer reads it inside words.
            insert.execute((i64::from(u32::from(c)), format!("x{c}y")))?;
        }
        drop(insert);
        tx.commit()?;
    }
    let mut table = vec![UNKNOWN; 0x10000];
    for c in 0..0x80_u8 {
        table[usize::from(c)] =
            if c.is_ascii_alphanumeric() { LETTER + u32::from(c.to_ascii_lowercase()) } else { SEPARATOR };
    }
    let mut stmt = conn.prepare(
        "SELECT doc, group_concat(term, ' ') FROM (SELECT doc, term FROM v ORDER BY doc, offset) GROUP BY doc",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let (code, words): (i64, String) = (row.get(0)?, row.get(1)?);
        let Some(slot) = usize::try_from(code).ok().and_then(|i| table.get_mut(i)) else { continue };
        *slot = match words.as_str() {
            "x y" => SEPARATOR,
            "xy" => DROPPED,
            w => {
                let mut inside = w.strip_prefix('x').and_then(|w| w.strip_suffix('y')).unwrap_or("").chars();
                match (inside.next(), inside.next()) {
                    (Some(one), None) => LETTER + u32::from(one),
                    // Read as more than one character, or not as expected: left to the index.
                    _ => UNKNOWN,
                }
            }
        };
    }
    Ok(TokenizerFolding(table))
}

struct Param<'a>(&'a Value);

impl ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self.0 {
            Value::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Value::Int(i) => ToSqlOutput::Borrowed(ValueRef::Integer(*i)),
            Value::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
        })
    }
}

pub(crate) fn map_err(e: rusqlite::Error) -> StorageError {
    if let rusqlite::Error::SqliteFailure(f, msg) = &e {
        match f.code {
            rusqlite::ErrorCode::ConstraintViolation if msg.as_deref().is_some_and(|m| m.contains("UNIQUE")) => {
                return StorageError::Duplicate(
                    msg.clone().unwrap_or_default().replace("UNIQUE constraint failed: ", ""),
                );
            }
            rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked => {
                return StorageError::Busy(e.to_string());
            }
            _ => {}
        }
    }
    StorageError::Other(e.to_string())
}

/// A SQLite transaction (the connection with BEGIN issued). `widened` says the transaction
/// asked for the large page cache ([`SqliteStore::renew_writer`] gives it back).
pub struct SqliteConn<'a>(pub &'a Connection, pub bool);

impl Conn for SqliteConn<'_> {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }
    fn exec(&mut self, sql: &str, params: &[Value]) -> Result<u64, StorageError> {
        let mut stmt = self.0.prepare_cached(&sqlite_placeholders(sql)).map_err(map_err)?;
        let n = stmt.execute(rusqlite::params_from_iter(params.iter().map(Param))).map_err(map_err)?;
        Ok(n as u64)
    }
    fn rows(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Vec<Value>>, StorageError> {
        let mut stmt = self.0.prepare_cached(&sqlite_placeholders(sql)).map_err(map_err)?;
        let width = stmt.column_count();
        let mut rows = stmt.query(rusqlite::params_from_iter(params.iter().map(Param))).map_err(map_err)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(map_err)? {
            let mut values = Vec::with_capacity(width);
            for i in 0..width {
                values.push(match row.get_ref(i).map_err(map_err)? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(n) => Value::Int(n),
                    ValueRef::Real(f) => Value::Int(f as i64),
                    ValueRef::Text(t) | ValueRef::Blob(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
                });
            }
            out.push(values);
        }
        Ok(out)
    }
    fn expect_many_changes(&mut self) -> Result<(), StorageError> {
        if !self.1 {
            self.0.execute_batch(&format!("PRAGMA cache_size=-{BULK_CACHE_KIB}")).map_err(map_err)?;
            self.1 = true;
        }
        Ok(())
    }
    fn each_row(
        &mut self,
        sql: &str,
        params: &[Value],
        f: &mut dyn FnMut(&[Cell<'_>]) -> Result<(), StorageError>,
    ) -> Result<(), StorageError> {
        let mut stmt = self.0.prepare_cached(&sqlite_placeholders(sql)).map_err(map_err)?;
        let width = stmt.column_count();
        let mut rows = stmt.query(rusqlite::params_from_iter(params.iter().map(Param))).map_err(map_err)?;
        while let Some(row) = rows.next().map_err(map_err)? {
            let mut cells = Vec::with_capacity(width);
            for i in 0..width {
                cells.push(match row.get_ref(i).map_err(map_err)? {
                    ValueRef::Null | ValueRef::Blob(_) => Cell::Null,
                    ValueRef::Integer(n) => Cell::Int(n),
                    ValueRef::Real(x) => Cell::Int(x as i64),
                    ValueRef::Text(t) => Cell::Text(
                        std::str::from_utf8(t).map_err(|_| StorageError::Other("a stored text is not UTF-8".into()))?,
                    ),
                });
            }
            f(&cells)?;
        }
        Ok(())
    }
}
