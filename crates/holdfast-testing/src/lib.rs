//! Test support: every scenario runs on SQLite and on a real PostgreSQL server.
//!
//! PostgreSQL comes from `HOLDFAST_TEST_DATABASE_URL` (a server URL whose user may create
//! databases) or, when that is unset, from a throwaway cluster this crate starts from the system's
//! PostgreSQL binaries (`initdb` in a temporary directory; run as the `postgres` user when the
//! tests run as root, since `initdb` refuses root). A watchdog stops that cluster when the test
//! process exits. Each test gets its own fresh database.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use holdfast_core::Holdfast;
use holdfast_core::coworker::{Actor, Role};
use holdfast_core::demo::{DemoSize, DemoSummary};
use holdfast_core::service::NewCoWorker;
use holdfast_store::{Location, Store};

pub mod oidc;
pub mod smtp;
pub mod web;

/// The password of every co-worker a test adds.
pub const PASSWORD: &str = "correct horse battery";

/// Adds a co-worker as the operator (password [`PASSWORD`], named after their email) and returns
/// an API token for them.
pub fn add_coworker(
    services: &Holdfast<Store>,
    email: &str,
    role: Role,
    team: Option<&str>,
    manager: Option<&str>,
) -> String {
    add_named(services, email, email.split('@').next().unwrap_or("x"), role, team, manager)
}

/// The same, with a name.
pub fn add_named(
    services: &Holdfast<Store>,
    email: &str,
    name: &str,
    role: Role,
    team: Option<&str>,
    manager: Option<&str>,
) -> String {
    let new = NewCoWorker {
        email: email.into(),
        name: name.into(),
        role,
        seniority: None,
        team: team.map(String::from),
        manager: manager.map(String::from),
        title: None,
        password: Some(PASSWORD.into()),
        password_must_change: false,
    };
    services.add_coworker(&Actor::operator(), new).unwrap_or_else(|e| panic!("adding {email}: {e}"));
    services.create_token(&Actor::operator(), email, "test").expect("token").secret
}

/// A small demo company (the one `holdfast serve --demo` loads, scaled down): co-workers with
/// roles and teams, accounts, contacts, leads, deals, contracts, a year of activities.
pub fn demo_company(services: &Holdfast<Store>) -> DemoSummary {
    let size = DemoSize { accounts: 60, contacts_per_account: 3, leads: 40, activities: 600 };
    services.load_demo(&Actor::operator(), size, &|_| {}).expect("the demo company")
}

/// A database a test runs against; keeps its temporary directory alive.
pub struct TestDb {
    pub backend: &'static str,
    pub location: Location,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub fn store(&self) -> Store {
        Store::open(&self.location).unwrap_or_else(|e| panic!("opening the {} test database: {e}", self.backend))
    }
    pub fn services(&self) -> Arc<Holdfast<Store>> {
        Arc::new(Holdfast::new(self.store()))
    }
    /// The `--database` argument for the CLI.
    pub fn database_arg(&self) -> String {
        match &self.location {
            Location::Sqlite(p) => p.display().to_string(),
            Location::Postgres(url) => url.clone(),
        }
    }
}

/// A fresh SQLite database in its own temporary directory.
pub fn sqlite() -> TestDb {
    let dir = tempfile::tempdir().expect("temporary directory");
    let location = Location::Sqlite(dir.path().join("holdfast.db"));
    TestDb { backend: "sqlite", location, _dir: Some(dir) }
}

/// A fresh database on the test PostgreSQL server.
pub fn postgres() -> TestDb {
    static N: AtomicUsize = AtomicUsize::new(0);
    let server = server_url();
    let name = format!("hf_test_{}_{}", std::process::id(), N.fetch_add(1, Ordering::SeqCst));
    let mut admin = postgres::Client::connect(server, postgres::NoTls)
        .unwrap_or_else(|e| panic!("connecting to the test PostgreSQL at {server}: {e}"));
    admin.batch_execute(&format!("CREATE DATABASE {name}")).expect("creating a test database");
    let url = match server.rfind('/') {
        Some(i) if i > "postgres://".len() => format!("{}/{name}", &server[..i]),
        _ => format!("{server}/{name}"),
    };
    TestDb { backend: "postgres", location: Location::Postgres(url), _dir: None }
}

/// Runs blocking database work on a plain thread: the synchronous PostgreSQL client refuses to
/// run on an async runtime's thread, as production code never does (handlers use spawn_blocking).
pub fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| match s.spawn(f).join() {
        Ok(v) => v,
        Err(panic) => std::panic::resume_unwind(panic),
    })
}

/// Both backends, for tests that loop over them.
pub fn each_backend() -> Vec<TestDb> {
    off_runtime(|| vec![sqlite(), postgres()])
}

fn server_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| match std::env::var("HOLDFAST_TEST_DATABASE_URL") {
        Ok(url) if !url.trim().is_empty() => url,
        _ => start_cluster().unwrap_or_else(|e| panic!("{e}")),
    })
}

fn pg_bin(name: &str) -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/usr/lib/postgresql") {
        let mut versions: Vec<PathBuf> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        versions.sort();
        candidates.extend(versions.into_iter().rev().map(|v| v.join("bin").join(name)));
    }
    if let Ok(path) = std::env::var("PATH") {
        candidates.extend(path.split(':').map(|p| Path::new(p).join(name)));
    }
    candidates.into_iter().find(|p| p.is_file())
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0").unwrap_or(false)
}

/// Runs a PostgreSQL binary, as the `postgres` user when we are root.
fn pg_command(bin: &Path, root: bool) -> Command {
    if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin);
        c
    } else {
        Command::new(bin)
    }
}

fn start_cluster() -> Result<String, String> {
    let initdb = pg_bin("initdb").ok_or(
        "no PostgreSQL found: set HOLDFAST_TEST_DATABASE_URL, or install PostgreSQL (`apt-get install postgresql`; scripts/test does this)",
    )?;
    let postgres = pg_bin("postgres").ok_or("PostgreSQL's `postgres` binary is missing")?;
    let root = is_root();
    static ATTEMPT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "holdfast-test-pg-{}-{}",
        std::process::id(),
        ATTEMPT.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    if root {
        let status = Command::new("chown").args(["-R", "postgres:postgres"]).arg(&dir).status();
        if !status.is_ok_and(|s| s.success()) {
            return Err("running as root, but cannot hand the test cluster's directory to the `postgres` user".into());
        }
    }
    let data = dir.join("data");
    let out = pg_command(&initdb, root)
        .args(["--auth=trust", "--username=postgres", "--encoding=UTF8", "--locale=C.UTF-8", "-D"])
        .arg(&data)
        .output()
        .map_err(|e| format!("running initdb: {e}"))?;
    if !out.status.success() {
        return Err(format!("initdb failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let port =
        TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).map_err(|e| e.to_string())?;
    let log = dir.join("postgres.log");
    // A watchdog shell: starts postgres, and stops it (and removes the directory) when the test
    // process that started it has gone.
    let script = format!(
        "{pg} -D {data} -p {port} -c listen_addresses=127.0.0.1 -k {dir} -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 > {log} 2>&1 & pg=$!; \
         while [ -d /proc/{parent} ] && kill -0 $pg 2>/dev/null; do sleep 1; done; kill -INT $pg 2>/dev/null; wait $pg; rm -rf {dir}",
        pg = postgres.display(),
        data = data.display(),
        dir = dir.display(),
        log = log.display(),
        parent = std::process::id(),
    );
    let mut watchdog = if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--", "sh", "-c", &script]);
        c
    } else {
        let mut c = Command::new("sh");
        c.args(["-c", &script]);
        c
    };
    watchdog.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    watchdog.spawn().map_err(|e| format!("starting postgres: {e}"))?;
    let url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match postgres::Client::connect(&url, postgres::NoTls) {
            Ok(_) => return Ok(url),
            Err(e) if Instant::now() > deadline => {
                let log = std::fs::read_to_string(&log).unwrap_or_default();
                return Err(format!("the test PostgreSQL did not start: {e}\n{log}"));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}
