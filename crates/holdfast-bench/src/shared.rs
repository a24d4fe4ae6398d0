//! What the benchmarks share: generated people and companies, the bench co-worker, timing loops
//! for audited reads and searches, and the table every figure is printed in (beside its baseline).

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use holdfast_core::Holdfast;
use holdfast_core::coworker::{Actor, Role};
use holdfast_core::record::CONTACTS;
use holdfast_core::service::NewCoWorker;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use uuid::Uuid;

pub const FIRST: &[&str] = &[
    "Olivia", "Liam", "Emma", "Noah", "Ava", "Oliver", "Sophia", "Elijah", "Mia", "Lucas", "Priya", "Arjun", "Mei",
    "Yuki", "Fatima", "Omar", "Lena", "Jonas", "Sofia", "Marco",
];
pub const LAST: &[&str] = &[
    "Smith", "Johnson", "Garcia", "Miller", "Davis", "Martinez", "Wilson", "Anderson", "Taylor", "Thomas", "Patel",
    "Nguyen", "Kim", "Chen", "Tanaka", "Müller", "Rossi", "Dubois", "Kowalski", "Okafor",
];
pub const COMPANIES: usize = 50_000;

pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

pub fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

pub fn row(name: &str, holdfast: String, baseline: String, ratio: String) {
    println!("| {name} | {holdfast} | {baseline} | {ratio} |");
}

/// The CSV a company would import: HubSpot-style columns, realistic values.
pub fn make_csv(n: usize) -> Vec<u8> {
    let mut rng = StdRng::seed_from_u64(7);
    let mut out = Vec::with_capacity(n * 110);
    let _ = writeln!(out, "First Name,Last Name,Email,Phone Number,Company Name,Job Title");
    for i in 0..n {
        let f = FIRST[rng.random_range(0..FIRST.len())];
        let l = LAST[rng.random_range(0..LAST.len())];
        let c = i % COMPANIES;
        let _ = writeln!(
            out,
            "{f},{l},{}.{}.{i}@company{c}.com,+1 {} {i:08},Company {c} Inc,Account Manager",
            f.to_lowercase(),
            l.to_lowercase(),
            rng.random_range(200..990)
        );
    }
    out
}

/// Imports the CSV through the service (the real import, with its system event), as the operator;
/// fails unless every one of its `contacts` rows became a contact.
pub fn import_all<D: holdfast_core::storage::Database>(
    services: &Holdfast<D>,
    csv: &[u8],
    contacts: usize,
) -> Result<()> {
    let report = services.import_contacts(
        &Actor::operator(),
        &mut std::io::Cursor::new(csv),
        &holdfast_core::service::ImportOptions::default(),
        &|_, _| {},
    )?;
    if report.created as usize != contacts {
        anyhow::bail!("import created {} of {contacts} contacts: {:?}", report.created, report.rejected.first());
    }
    Ok(())
}

/// The rep whose reads the benches time.
pub fn bench_rep<D: holdfast_core::storage::Database>(services: &Holdfast<D>) -> Result<Actor> {
    add_rep(services, "bench@example.com")?;
    // The benches' reps read far past the default reading budget (5,000 rows a day); the budget
    // is still checked on every read, it is only set high enough not to refuse the timed searches.
    let budget = holdfast_core::guard::PolicyPatch {
        daily_rows: Some(100_000_000),
        weekly_rows: Some(100_000_000),
        ..Default::default()
    };
    services.set_policy(&Actor::operator(), holdfast_core::service::PolicyScope::Role, "rep", Some(budget))?;
    Ok(services.actor_for("bench@example.com")?)
}

/// Adds a rep with no password (the benches act as them directly); returns their id.
pub fn add_rep<D: holdfast_core::storage::Database>(services: &Holdfast<D>, email: &str) -> Result<uuid::Uuid> {
    let new = NewCoWorker {
        email: email.into(),
        name: email.split('@').next().unwrap_or("x").into(),
        role: Role::Rep,
        seniority: None,
        team: None,
        manager: None,
        title: None,
        password: None,
        password_must_change: false,
    };
    Ok(services.add_coworker(&Actor::operator(), new)?.id)
}

/// Audited reads by id through the service, one after another: sorted latencies and total time.
pub fn timed_reads<D: holdfast_core::storage::Database>(
    services: &Holdfast<D>,
    rep: &Actor,
    ids: &[Uuid],
) -> Result<(Vec<Duration>, Duration)> {
    let mut lat = Vec::with_capacity(ids.len());
    let started = Instant::now();
    for id in ids {
        let t = Instant::now();
        services.get_record(rep, &CONTACTS, *id)?;
        lat.push(t.elapsed());
    }
    let total = started.elapsed();
    lat.sort();
    Ok((lat, total))
}

/// Audited reads per second at some concurrency, and the mean number of read events one commit
/// carried.
pub struct ConcurrentReads {
    pub threads: usize,
    pub rate: f64,
    pub batch: f64,
}

/// Audited reads per second with 2 and 8 threads, each thread a different rep (one co-worker's
/// own requests read one at a time, so concurrency comes from many co-workers, as it does in a
/// sales team), sharing the ids; group commit lets one commit carry many reads' events.
pub fn concurrent_reads<D: holdfast_core::storage::Database>(
    services: &Arc<Holdfast<D>>,
    ids: &[Uuid],
) -> Result<Vec<ConcurrentReads>> {
    let mut reps = Vec::new();
    for i in 0..8 {
        let email = format!("bench-{i}@example.com");
        add_rep(services, &email)?;
        reps.push(services.actor_for(&email)?);
    }
    let mut out = Vec::new();
    for threads in [2usize, 8] {
        let (commits_before, events_before) = services.read_commits();
        let started = Instant::now();
        std::thread::scope(|s| {
            for (chunk, rep) in ids.chunks(ids.len().div_ceil(threads)).zip(&reps) {
                let services = Arc::clone(services);
                s.spawn(move || {
                    for id in chunk {
                        let _ = services.get_record(rep, &CONTACTS, *id);
                    }
                });
            }
        });
        let rate = ids.len() as f64 / started.elapsed().as_secs_f64();
        let (commits, events) = services.read_commits();
        let batch = (events - events_before) as f64 / (commits - commits_before).max(1) as f64;
        out.push(ConcurrentReads { threads, rate, batch });
    }
    Ok(out)
}

/// Searches a user would type: a name and part of a surname, a company, an email's start.
pub fn search_queries(n: usize, contacts: usize) -> Vec<String> {
    let mut rng = StdRng::seed_from_u64(3);
    (0..n)
        .map(|i| match i % 3 {
            0 => format!("{} {}", FIRST[rng.random_range(0..FIRST.len())], &LAST[rng.random_range(0..LAST.len())][..3]),
            1 => format!("company{}", rng.random_range(0..COMPANIES)),
            _ => format!("{}.{}", LAST[rng.random_range(0..LAST.len())].to_lowercase(), rng.random_range(0..contacts)),
        })
        .collect()
}

/// Searches through the service (25 results each): sorted latencies.
pub fn timed_searches<D: holdfast_core::storage::Database>(
    services: &Holdfast<D>,
    rep: &Actor,
    queries: &[String],
) -> Result<Vec<Duration>> {
    let mut lat = Vec::with_capacity(queries.len());
    for q in queries {
        let req = holdfast_core::service::ListRequest { q: Some(q.clone()), limit: Some(25), ..Default::default() };
        let t = Instant::now();
        services.list_records(rep, &CONTACTS, &req)?;
        lat.push(t.elapsed());
    }
    lat.sort();
    Ok(lat)
}

/// Where a benchmark's database lives: the PostgreSQL database given (it must be empty), or a
/// fresh SQLite file in a temporary directory of its own; with the backend's name for the table.
pub fn bench_location(
    name: &str,
    postgres: Option<&str>,
) -> Result<(std::path::PathBuf, holdfast_store::Location, &'static str)> {
    let dir = std::env::temp_dir().join(format!("holdfast-bench-{name}-{}", std::process::id()));
    Ok(match postgres {
        Some(url) => (dir, holdfast_store::Location::Postgres(url.to_string()), "PostgreSQL"),
        None => {
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir)?;
            let db = dir.join("holdfast.db");
            (dir, holdfast_store::Location::Sqlite(db), "SQLite")
        }
    })
}
