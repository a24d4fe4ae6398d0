//! Holdfast's storage: SQLite (embedded, the default) and PostgreSQL behind one [`Store`], which
//! implements `holdfast_core::storage::Database`. All SQL lives in this crate.

mod broad_search;
mod codec;
mod conn;
mod coworkers;
mod departures;
mod error;
mod event_log;
mod guard;
mod leads;
mod leak_tracing;
mod postgres;
mod records;
mod reports;
mod settings;
mod settings_watch;
mod sqlite;
mod tx;

use std::path::{Path, PathBuf};

use holdfast_core::storage::{Database, Tx};
use holdfast_core::{CoreError, private_files};

pub use conn::{Backend, Conn};
pub use error::StoreError;
pub use tx::SqlTx;

use crate::postgres::{PgStore, PgTxConn};
use crate::sqlite::{SqliteConn, SqliteStore};

/// The schema migrations, per backend, in order. Both lists must stay the same length.
const COMMON_SQL: &str = include_str!("../migrations/common.sql");
const COMMON_0002_SQL: &str = include_str!("../migrations/common_0002.sql");
const COMMON_0007_SQL: &str = include_str!("../migrations/common_0007.sql");
const COMMON_0008_SQL: &str = include_str!("../migrations/common_0008.sql");
const COMMON_0009_SQL: &str = include_str!("../migrations/common_0009.sql");
const COMMON_0012_SQL: &str = include_str!("../migrations/common_0012.sql");
const COMMON_0013_SQL: &str = include_str!("../migrations/common_0013.sql");
const COMMON_0014_SQL: &str = include_str!("../migrations/common_0014.sql");
const SQLITE_MIGRATIONS: &[(&str, &str)] = &[
    ("0001_init", include_str!("../migrations/sqlite/0001_init.sql")),
    ("0002_checkpoints", include_str!("../migrations/sqlite/0002_checkpoints.sql")),
    ("0003_retention", include_str!("../migrations/sqlite/0003_retention.sql")),
    ("0004_device_credentials", include_str!("../migrations/sqlite/0004_device_credentials.sql")),
    ("0005_password_must_change", include_str!("../migrations/sqlite/0005_password_must_change.sql")),
    ("0006_guard", include_str!("../migrations/sqlite/0006_guard.sql")),
    ("0007_departures", include_str!("../migrations/sqlite/0007_departures.sql")),
    ("0008_contact_protocol", include_str!("../migrations/sqlite/0008_contact_protocol.sql")),
    ("0009_relationships_read_turns", include_str!("../migrations/sqlite/0009_relationships_read_turns.sql")),
    ("0010_job_leases", include_str!("../migrations/sqlite/0010_job_leases.sql")),
    ("0011_operation_records", include_str!("../migrations/sqlite/0011_operation_records.sql")),
    ("0012_identity", include_str!("../migrations/sqlite/0012_identity.sql")),
    ("0013_leads", include_str!("../migrations/sqlite/0013_leads.sql")),
    ("0014_leak_tracing", include_str!("../migrations/sqlite/0014_leak_tracing.sql")),
    ("0015_event_days", include_str!("../migrations/sqlite/0015_event_days.sql")),
    ("0016_fingerprint_parts", include_str!("../migrations/sqlite/0016_fingerprint_parts.sql")),
    ("0017_search_index_writes", include_str!("../migrations/sqlite/0017_search_index_writes.sql")),
];
const POSTGRES_MIGRATIONS: &[(&str, &str)] = &[
    ("0001_init", include_str!("../migrations/postgres/0001_init.sql")),
    ("0002_checkpoints", include_str!("../migrations/postgres/0002_checkpoints.sql")),
    ("0003_retention", include_str!("../migrations/postgres/0003_retention.sql")),
    ("0004_device_credentials", include_str!("../migrations/postgres/0004_device_credentials.sql")),
    ("0005_password_must_change", include_str!("../migrations/postgres/0005_password_must_change.sql")),
    ("0006_guard", include_str!("../migrations/postgres/0006_guard.sql")),
    ("0007_departures", include_str!("../migrations/postgres/0007_departures.sql")),
    ("0008_contact_protocol", include_str!("../migrations/postgres/0008_contact_protocol.sql")),
    ("0009_relationships_read_turns", include_str!("../migrations/postgres/0009_relationships_read_turns.sql")),
    ("0010_job_leases", include_str!("../migrations/postgres/0010_job_leases.sql")),
    ("0011_operation_records", include_str!("../migrations/postgres/0011_operation_records.sql")),
    ("0012_identity", include_str!("../migrations/postgres/0012_identity.sql")),
    ("0013_leads", include_str!("../migrations/postgres/0013_leads.sql")),
    ("0014_leak_tracing", include_str!("../migrations/postgres/0014_leak_tracing.sql")),
    ("0015_event_days", include_str!("../migrations/postgres/0015_event_days.sql")),
    ("0016_fingerprint_parts", include_str!("../migrations/postgres/0016_fingerprint_parts.sql")),
    ("0017_search_index_writes", include_str!("../migrations/postgres/0017_search_index_writes.sql")),
];
const _: () = assert!(SQLITE_MIGRATIONS.len() == POSTGRES_MIGRATIONS.len(), "both backends need the same migrations");

/// The schema version this binary writes.
pub const SCHEMA_VERSION: i64 = SQLITE_MIGRATIONS.len() as i64;

fn migration_text(backend: Backend, sql: &str) -> String {
    let rowid = match backend {
        Backend::Sqlite => "rid INTEGER PRIMARY KEY,",
        Backend::Postgres => "",
    };
    sql.replace("@COMMON@", COMMON_SQL)
        .replace("@COMMON_0002@", COMMON_0002_SQL)
        .replace("@DEPARTURES@", COMMON_0007_SQL)
        .replace("@CONTACT_PROTOCOL@", COMMON_0008_SQL)
        .replace("@RELATIONSHIPS@", COMMON_0009_SQL)
        .replace("@IDENTITIES@", COMMON_0012_SQL)
        .replace("@LEADS@", COMMON_0013_SQL)
        .replace("@LEAK_TRACING@", COMMON_0014_SQL)
        .replace("@ROWID@", rowid)
}

/// Where the data lives, parsed from `--database`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A SQLite file (`holdfast.db` inside the data directory, or a file named directly).
    Sqlite(PathBuf),
    Postgres(String),
}

impl Location {
    /// `postgres://…` or `postgresql://…`; `sqlite:PATH` or a path ending in `.db`/`.sqlite` for a
    /// file; any other text is a data directory holding `holdfast.db`.
    pub fn parse(text: &str) -> Location {
        let t = text.trim();
        if t.starts_with("postgres://") || t.starts_with("postgresql://") {
            return Location::Postgres(t.to_string());
        }
        if let Some(rest) = t.strip_prefix("sqlite://").or_else(|| t.strip_prefix("sqlite:")) {
            return Location::Sqlite(PathBuf::from(rest));
        }
        let p = PathBuf::from(t);
        if p.extension().is_some_and(|e| e == "db" || e == "sqlite" || e == "sqlite3") {
            Location::Sqlite(p)
        } else {
            Location::Sqlite(p.join("holdfast.db"))
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Location::Sqlite(p) => format!("SQLite database {}", p.display()),
            Location::Postgres(url) => format!("PostgreSQL {}", postgres::redact(url)),
        }
    }
}

enum Engine {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

/// A migrated database, ready for the services.
pub struct Store {
    engine: Engine,
    location: Location,
    /// PostgreSQL: the settings version announced by any server sharing the database.
    settings_watch: Option<std::sync::Arc<settings_watch::SettingsWatch>>,
}

impl Drop for Store {
    fn drop(&mut self) {
        if let Some(w) = &self.settings_watch {
            w.stop();
        }
    }
}

impl Store {
    /// Opens (creating and migrating as needed) the database at `location`.
    pub fn open(location: &Location) -> Result<Store, StoreError> {
        let engine = match location {
            Location::Sqlite(path) => {
                if let Some(dir) = path.parent() {
                    private_files::create_private_dir(dir).map_err(|e| {
                        StoreError::Open(format!("cannot create the data directory {}: {e}", dir.display()))
                    })?;
                }
                // Created private before SQLite opens it; SQLite gives its WAL and SHM the same mode.
                private_files::create_private_file(path)
                    .map_err(|e| StoreError::Open(format!("cannot create the database {}: {e}", path.display())))?;
                let readers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2).max(2) * 2;
                Engine::Sqlite(SqliteStore::open(path, readers)?)
            }
            Location::Postgres(url) => Engine::Postgres(PgStore::open(url, 16)?),
        };
        let mut store = Store { engine, location: location.clone(), settings_watch: None };
        store.migrate()?;
        if let Location::Postgres(url) = location {
            store.settings_watch = Some(settings_watch::SettingsWatch::start(url.clone()));
        }
        Ok(store)
    }

    pub fn location(&self) -> &Location {
        &self.location
    }

    /// The SQLite file, when this store is embedded.
    pub fn sqlite_path(&self) -> Option<&Path> {
        match &self.engine {
            Engine::Sqlite(s) => Some(&s.path),
            Engine::Postgres(_) => None,
        }
    }

    fn migrate(&self) -> Result<(), StoreError> {
        let fail =
            |m: &str, e: &dyn std::fmt::Display| StoreError::Migration { migration: m.into(), reason: e.to_string() };
        match &self.engine {
            Engine::Sqlite(s) => {
                let mut conn = s.writer.lock().map_err(|_| fail("lock", &"poisoned"))?;
                // A migration that rebuilds a table others refer to (SQLite cannot alter a CHECK)
                // runs with foreign keys off, as SQLite's documentation prescribes; they are
                // checked before the commit and turned back on after it.
                conn.execute_batch("PRAGMA foreign_keys=OFF").map_err(|e| fail("foreign keys off", &e))?;
                let result = Self::migrate_sqlite(&mut conn, &fail);
                conn.execute_batch("PRAGMA foreign_keys=ON").map_err(|e| fail("foreign keys on", &e))?;
                result
            }
            Engine::Postgres(p) => {
                let mut pc = p.take().map_err(|e| fail("connect", &e))?;
                let result = (|| {
                    let mut tx = pc.client.transaction().map_err(|e| fail("start", &e))?;
                    // One migrator at a time across processes.
                    tx.batch_execute("SELECT pg_advisory_xact_lock(7265347823)").map_err(|e| fail("lock", &e))?;
                    tx.batch_execute("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)")
                        .map_err(|e| fail("schema_migrations", &e))?;
                    let current: i64 = tx
                        .query_one("SELECT coalesce(max(version), 0)::bigint FROM schema_migrations", &[])
                        .map_err(|e| fail("read version", &e))?
                        .get(0);
                    if current > SCHEMA_VERSION {
                        return Err(StoreError::TooNew { found: current, known: SCHEMA_VERSION });
                    }
                    for (i, (name, sql)) in POSTGRES_MIGRATIONS.iter().enumerate().skip(current as usize) {
                        tx.batch_execute(&migration_text(Backend::Postgres, sql)).map_err(|e| fail(name, &e))?;
                        tx.execute(
                            "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
                            &[&(i as i64 + 1), name, &jiff_now()],
                        )
                        .map_err(|e| fail(name, &e))?;
                    }
                    tx.commit().map_err(|e| fail("commit", &e))
                })();
                p.give_back(pc);
                result
            }
        }
    }

    fn migrate_sqlite(
        conn: &mut rusqlite::Connection,
        fail: &dyn Fn(&str, &dyn std::fmt::Display) -> StoreError,
    ) -> Result<(), StoreError> {
        let tx =
            conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(|e| fail("start", &e))?;
        tx.execute_batch("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)")
            .map_err(|e| fail("schema_migrations", &e))?;
        let current: i64 = tx
            .query_row("SELECT coalesce(max(version), 0) FROM schema_migrations", [], |r| r.get(0))
            .map_err(|e| fail("read version", &e))?;
        if current > SCHEMA_VERSION {
            return Err(StoreError::TooNew { found: current, known: SCHEMA_VERSION });
        }
        for (i, (name, sql)) in SQLITE_MIGRATIONS.iter().enumerate().skip(current as usize) {
            tx.execute_batch(&migration_text(Backend::Sqlite, sql)).map_err(|e| fail(name, &e))?;
            tx.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
                rusqlite::params![i as i64 + 1, name, jiff_now()],
            )
            .map_err(|e| fail(name, &e))?;
        }
        let broken: i64 = tx
            .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| r.get(0))
            .map_err(|e| fail("foreign key check", &e))?;
        if broken > 0 {
            return Err(fail("foreign key check", &format!("{broken} rows refer to rows that do not exist")));
        }
        tx.commit().map_err(|e| fail("commit", &e))
    }

    /// Runs `f` with a raw connection in a transaction (committed if `commit` and `f` succeeds).
    /// For the store's own maintenance, tests and benchmarks; services go through [`Database`].
    pub fn with_conn<T>(
        &self,
        commit: bool,
        f: impl FnOnce(&mut dyn Conn) -> Result<T, holdfast_core::StorageError>,
    ) -> Result<T, CoreError> {
        let mut out = None;
        let run = |tx: &mut dyn RawAccess| -> Result<(), CoreError> {
            out = Some(f(tx.conn())?);
            Ok(())
        };
        self.transaction(if commit { Mode::Write } else { Mode::Rehearse }, run)?;
        out.ok_or_else(|| CoreError::Storage(holdfast_core::StorageError::Other("no result".into())))
    }

    fn transaction<T>(
        &self,
        mode: Mode,
        f: impl FnOnce(&mut dyn RawAccess) -> Result<T, CoreError>,
    ) -> Result<T, CoreError> {
        let _one = OneTransactionAtATime::enter();
        match &self.engine {
            Engine::Sqlite(s) => {
                let mut guard = match mode {
                    Mode::Read => s.reader()?,
                    Mode::Write | Mode::Rehearse => {
                        s.writer.lock().map_err(|_| holdfast_core::StorageError::Other("writer poisoned".into()))?
                    }
                };
                let result = (|| -> Result<(Result<T, CoreError>, bool), CoreError> {
                    let begin = if mode == Mode::Read { "BEGIN DEFERRED" } else { "BEGIN IMMEDIATE" };
                    guard.execute_batch(begin).map_err(sqlite::map_err)?;
                    let mut tx = SqlTx { conn: SqliteConn(&guard, false) };
                    let result = f(&mut tx);
                    let end = if result.is_ok() && mode == Mode::Write { "COMMIT" } else { "ROLLBACK" };
                    let ended = match guard.execute_batch(end).map_err(sqlite::map_err) {
                        Ok(()) => result,
                        Err(e) => {
                            let _ = guard.execute_batch("ROLLBACK");
                            Err(e.into())
                        }
                    };
                    Ok((ended, tx.conn.1))
                })();
                let result = match result {
                    Ok((ended, widened)) => {
                        if widened {
                            s.renew_writer(&mut guard);
                        }
                        ended
                    }
                    Err(e) => Err(e),
                };
                drop(guard);
                if mode == Mode::Read {
                    s.reader_given_back();
                }
                result
            }
            Engine::Postgres(p) => {
                let mut pc = p.take()?;
                let result = (|| {
                    let crate::postgres::PgConn { client, statements } = &mut pc;
                    let pg_tx = match mode {
                        Mode::Read => client.build_transaction().read_only(true).start(),
                        _ => client.transaction(),
                    }
                    .map_err(crate::postgres::map_err)?;
                    let mut tx = SqlTx { conn: PgTxConn { tx: pg_tx, statements } };
                    let result = f(&mut tx);
                    match (&result, mode) {
                        (Ok(_), Mode::Write) => tx.conn.tx.commit().map_err(crate::postgres::map_err)?,
                        _ => tx.conn.tx.rollback().map_err(crate::postgres::map_err)?,
                    }
                    result
                })();
                p.give_back(pc);
                result
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Read,
    Write,
    Rehearse,
}

/// A transaction seen both as the services' [`Tx`] and as a raw [`Conn`].
trait RawAccess: Tx {
    fn conn(&mut self) -> &mut dyn Conn;
    fn as_tx(&mut self) -> &mut dyn Tx;
}

impl<C: Conn> RawAccess for SqlTx<C> {
    fn conn(&mut self) -> &mut dyn Conn {
        &mut self.conn
    }
    fn as_tx(&mut self) -> &mut dyn Tx {
        self
    }
}

fn jiff_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_micros() as i64).unwrap_or(0)
}

impl Database for Store {
    fn read<T>(&self, f: impl FnOnce(&mut dyn Tx) -> Result<T, CoreError>) -> Result<T, CoreError> {
        self.transaction(Mode::Read, |t| f(t.as_tx()))
    }
    fn write<T>(&self, f: impl FnOnce(&mut dyn Tx) -> Result<T, CoreError>) -> Result<T, CoreError> {
        self.transaction(Mode::Write, |t| f(t.as_tx()))
    }
    fn rehearse<T>(&self, f: impl FnOnce(&mut dyn Tx) -> Result<T, CoreError>) -> Result<T, CoreError> {
        self.transaction(Mode::Rehearse, |t| f(t.as_tx()))
    }
    fn backend(&self) -> &'static str {
        match self.engine {
            Engine::Sqlite(_) => "sqlite",
            Engine::Postgres(_) => "postgres",
        }
    }
    fn shared_by_servers(&self) -> bool {
        matches!(self.engine, Engine::Postgres(_))
    }
    fn settings_version_hint(&self) -> Option<i64> {
        self.settings_watch.as_ref().and_then(|w| w.version())
    }
    fn copy_to(&self, dest: &Path) -> Result<(i64, String), CoreError> {
        let _one = OneTransactionAtATime::enter();
        match &self.engine {
            Engine::Sqlite(s) => Ok(s.copy_to(dest)?),
            Engine::Postgres(_) => Err(CoreError::Conflict(
                "this installation keeps its data in PostgreSQL: back the database up with pg_dump \
                 (pg_dump --format=custom, see docs/deploy.md) and copy the data directory's \
                 audit-signing.key and checkpoints.jsonl beside it"
                    .into(),
            )),
        }
    }
    fn schema_version(&self) -> Result<i64, CoreError> {
        self.with_conn(false, |c| {
            let rows = c.rows("SELECT coalesce(max(version), 0) FROM schema_migrations", &[])?;
            Ok(rows.first().and_then(|r| r.first()).and_then(|v| v.as_int()).unwrap_or(0))
        })
    }
}

thread_local! {
    /// How many transactions this thread has open (see [`OneTransactionAtATime`]).
    static OPEN_TRANSACTIONS: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// A thread holds one connection at a time. A transaction that opened a second one (a service
/// calling another service that reads for itself) waits for a free connection while holding
/// one: with every connection of the pool held that way, nothing moves again, and on SQLite a
/// reader can even wait for itself. Debug builds (the tests) stop there and name the caller;
/// a release build logs it and goes on.
struct OneTransactionAtATime;

impl OneTransactionAtATime {
    fn enter() -> OneTransactionAtATime {
        let open = OPEN_TRANSACTIONS.with(|n| n.replace(n.get() + 1));
        if open > 0 {
            let trace = std::backtrace::Backtrace::force_capture();
            if cfg!(debug_assertions) {
                panic!(
                    "a transaction was opened inside another on the same thread (pass the tx down instead):\n{trace}"
                );
            }
            tracing::error!("a transaction was opened inside another on the same thread:\n{trace}");
        }
        OneTransactionAtATime
    }
}

impl Drop for OneTransactionAtATime {
    fn drop(&mut self) {
        OPEN_TRANSACTIONS.with(|n| n.set(n.get().saturating_sub(1)));
    }
}
