//! `holdfast bench`: end-to-end figures, each printed beside its physical-limit baseline (raw
//! SQLite on the same data, same process, same run). Results go in docs/benchmarks.md.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use holdfast_core::Holdfast;
use holdfast_core::coworker::{Actor, Role};
use holdfast_core::record::CONTACTS;
use holdfast_core::service::{ImportOptions, NewCoWorker};
use holdfast_store::{Location, Store};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use sha2::Digest;
use uuid::Uuid;

#[derive(Subcommand)]
pub enum BenchCmd {
    /// Core figures on N contacts: audited read by id, search, CSV import, system events per second.
    Core {
        /// How many contacts to generate and import.
        #[arg(long, default_value_t = 1_000_000)]
        contacts: usize,
        /// Reads and searches to time.
        #[arg(long, default_value_t = 20_000)]
        reads: usize,
        /// Directory for the benchmark's databases (default: a new temporary directory).
        #[arg(long)]
        dir: Option<std::path::PathBuf>,
        /// Run on this PostgreSQL database instead (it must be empty), against bare SQL on the same server.
        #[arg(long, value_name = "URL")]
        postgres: Option<String>,
    },
    /// Web pages on the demo company: account page and contact list, rendered through the router.
    Web {
        /// Requests per page.
        #[arg(long, default_value_t = 500)]
        requests: usize,
    },
    /// The event log: appends with and without hashing, verification against raw SHA-256.
    Audit {
        /// How many events to write and verify.
        #[arg(long, default_value_t = 2_000_000)]
        events: usize,
    },
}

pub(crate) const FIRST: &[&str] = &[
    "Olivia", "Liam", "Emma", "Noah", "Ava", "Oliver", "Sophia", "Elijah", "Mia", "Lucas", "Priya", "Arjun", "Mei",
    "Yuki", "Fatima", "Omar", "Lena", "Jonas", "Sofia", "Marco",
];
pub(crate) const LAST: &[&str] = &[
    "Smith", "Johnson", "Garcia", "Miller", "Davis", "Martinez", "Wilson", "Anderson", "Taylor", "Thomas", "Patel",
    "Nguyen", "Kim", "Chen", "Tanaka", "Müller", "Rossi", "Dubois", "Kowalski", "Okafor",
];
pub(crate) const COMPANIES: usize = 50_000;

pub(crate) fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

pub(crate) fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

pub(crate) fn row(name: &str, holdfast: String, baseline: String, ratio: String) {
    println!("| {name} | {holdfast} | {baseline} | {ratio} |");
}

/// The CSV a company would import: HubSpot-style columns, realistic values.
pub(crate) fn make_csv(n: usize) -> Vec<u8> {
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

/// The rep whose reads the benches time.
pub(crate) fn bench_rep<D: holdfast_core::storage::Database>(services: &Holdfast<D>) -> Result<Actor> {
    services.add_coworker(
        &Actor::operator(),
        NewCoWorker {
            email: "bench@example.com".into(),
            name: "Bench Rep".into(),
            role: Role::Rep,
            seniority: None,
            team: None,
            manager: None,
            title: None,
            password: None,
        },
    )?;
    Ok(services.actor_for("bench@example.com")?)
}

/// Audited reads by id through the service, one after another: sorted latencies and total time.
pub(crate) fn timed_reads<D: holdfast_core::storage::Database>(
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

/// Audited reads per second with 2 and 8 threads sharing the ids (group commit lets one commit
/// carry many reads' events).
pub(crate) fn concurrent_reads<D: holdfast_core::storage::Database>(
    services: &Arc<Holdfast<D>>,
    rep: &Actor,
    ids: &[Uuid],
) -> Vec<(usize, f64)> {
    let mut out = Vec::new();
    for threads in [2usize, 8] {
        let started = Instant::now();
        std::thread::scope(|s| {
            for chunk in ids.chunks(ids.len().div_ceil(threads)) {
                let (services, rep) = (Arc::clone(services), rep.clone());
                s.spawn(move || {
                    for id in chunk {
                        let _ = services.get_record(&rep, &CONTACTS, *id);
                    }
                });
            }
        });
        out.push((threads, ids.len() as f64 / started.elapsed().as_secs_f64()));
    }
    out
}

/// Searches a user would type: a name and part of a surname, a company, an email's start.
pub(crate) fn search_queries(n: usize, contacts: usize) -> Vec<String> {
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
pub(crate) fn timed_searches<D: holdfast_core::storage::Database>(
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

pub fn run(database: &str, cmd: &BenchCmd) -> Result<()> {
    let (contacts, reads, dir) = match cmd {
        BenchCmd::Core { contacts, reads, postgres: Some(url), .. } => {
            return crate::bench_postgres::core(url, *contacts, *reads);
        }
        BenchCmd::Core { contacts, reads, dir, postgres: None } => (contacts, reads, dir),
        BenchCmd::Audit { events } => return audit(database, *events),
        BenchCmd::Web { requests } => return web(*requests),
    };
    let (contacts, reads) = (*contacts, *reads);
    if contacts < 1_000 {
        bail!("--contacts must be at least 1000");
    }
    let tmp = match dir {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            d.clone()
        }
        None => std::env::temp_dir().join(format!("holdfast-bench-{}", std::process::id())),
    };
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp)?;
    let db_path = tmp.join("holdfast.db");
    let raw_path = tmp.join("baseline.db");
    println!("holdfast bench core: {contacts} contacts, {reads} timed reads; SQLite backend; {}", tmp.display());
    println!("build: {}", if cfg!(debug_assertions) { "debug (numbers are not representative)" } else { "release" });
    let services = Arc::new(Holdfast::new(Store::open(&Location::Sqlite(db_path.clone()))?));
    let operator = Actor::operator();
    let rep = bench_rep(&services)?;

    eprintln!("generating {contacts} CSV rows…");
    let csv = make_csv(contacts);

    // (c) CSV import through the service vs a bare bulk insert of the same rows.
    eprintln!("importing through the service…");
    let started = Instant::now();
    let report = services.import_contacts(&operator, &mut csv.as_slice(), &ImportOptions::default(), &|_, _| {})?;
    let import_time = started.elapsed();
    if report.created as usize != contacts {
        bail!("import created {} of {contacts} contacts: {:?}", report.created, report.rejected.first());
    }
    eprintln!("bare SQLite bulk inserts of the same rows…");
    let raw_import = raw_bulk_insert(&raw_path, &csv, false)?;
    let raw_import_full = raw_bulk_insert(&raw_path, &csv, true)?;

    // Ids to read, chosen at random.
    let raw = rusqlite::Connection::open(&db_path)?;
    let mut ids: Vec<String> = Vec::with_capacity(reads);
    {
        let mut stmt = raw.prepare("SELECT id FROM contacts WHERE rid = ?1")?;
        let mut rng = StdRng::seed_from_u64(11);
        let max: i64 = raw.query_row("SELECT max(rid) FROM contacts", [], |r| r.get(0))?;
        while ids.len() < reads {
            let rid = rng.random_range(1..=max);
            if let Ok(id) = stmt.query_row([rid], |r| r.get::<_, String>(0)) {
                ids.push(id);
            }
        }
    }
    let uuids: Vec<Uuid> = ids.iter().filter_map(|s| Uuid::parse_str(s).ok()).collect();

    // (a) read by id through the service (with its system event) vs bare primary-key lookup.
    eprintln!("timing reads…");
    let (lat, service_seq) = timed_reads(&services, &rep, &uuids)?;
    let mut raw_lat = Vec::with_capacity(reads);
    let started = Instant::now();
    {
        let mut stmt = raw.prepare_cached(
            "SELECT id, created_at, updated_at, created_by, updated_by, deleted_at, account_id, first_name, last_name, email, phone, title, buying_role, owner_id, notes FROM contacts WHERE id = ?1",
        )?;
        for id in &ids {
            let t = Instant::now();
            let n: usize = stmt
                .query_map([id], |r| {
                    let _: String = r.get(0)?;
                    let _: String = r.get(7)?;
                    Ok(())
                })?
                .count();
            if n != 1 {
                bail!("baseline lookup missed {id}");
            }
            raw_lat.push(t.elapsed());
        }
    }
    let raw_seq = started.elapsed();
    raw_lat.sort();
    let concurrent = concurrent_reads(&services, &rep, &uuids);

    // (b) search latency.
    eprintln!("timing searches…");
    let queries = search_queries(reads.min(2_000), contacts);
    let search_lat = timed_searches(&services, &rep, &queries)?;
    let mut raw_search = Vec::new();
    {
        let mut stmt = raw.prepare_cached(
            "SELECT id, first_name, last_name, email FROM contacts WHERE rid IN (SELECT rowid FROM contacts_fts WHERE contacts_fts MATCH ?1) AND deleted_at IS NULL ORDER BY last_name, id LIMIT 26",
        )?;
        for q in &queries {
            let m = holdfast_core::record::search_words(q)
                .iter()
                .map(|w| format!("\"{w}\"*"))
                .collect::<Vec<_>>()
                .join(" AND ");
            let t = Instant::now();
            let _ = stmt.query_map([m], |r| r.get::<_, String>(0))?.count();
            raw_search.push(t.elapsed());
        }
    }
    raw_search.sort();

    // (d) system events per second: the read path above wrote one event per read.
    let events_per_sec_par = concurrent.iter().map(|c| c.1).fold(0.0, f64::max);
    let raw_events = raw_event_inserts(&tmp.join("events-baseline.db"), 100_000)?;
    let raw_read_and_commit = us(raw_seq) / ids.len() as f64 + 1e6 / raw_events.0;

    println!();
    println!("| figure | Holdfast | raw SQLite baseline | Holdfast / baseline |");
    println!("|---|---|---|---|");
    row(
        "(a) contact read by id, 1 thread, mean",
        format!(
            "{:.1} µs (p50 {:.1}, p99 {:.1})",
            us(service_seq) / uuids.len() as f64,
            us(percentile(&lat, 0.5)),
            us(percentile(&lat, 0.99))
        ),
        format!(
            "{:.1} µs (p50 {:.1}, p99 {:.1})",
            us(raw_seq) / ids.len() as f64,
            us(percentile(&raw_lat, 0.5)),
            us(percentile(&raw_lat, 0.99))
        ),
        format!("{:.1}×", service_seq.as_secs_f64() / raw_seq.as_secs_f64()),
    );
    row(
        "(a) same, against the physical limit of a read that must leave a durable record",
        format!("{:.1} µs mean", us(service_seq) / uuids.len() as f64),
        format!("{raw_read_and_commit:.1} µs (bare lookup + bare one-row commit)"),
        format!("{:.1}×", us(service_seq) / uuids.len() as f64 / raw_read_and_commit),
    );
    for (threads, rate) in &concurrent {
        row(
            &format!("(a) audited contact reads/s, {threads} threads"),
            format!("{rate:.0}/s"),
            format!("{:.0}/s bare lookups (1 thread)", ids.len() as f64 / raw_seq.as_secs_f64()),
            "—".into(),
        );
    }
    row(
        "(b) search, 25 results",
        format!("p50 {:.0} µs, p99 {:.0} µs", us(percentile(&search_lat, 0.5)), us(percentile(&search_lat, 0.99))),
        format!("p50 {:.0} µs, p99 {:.0} µs", us(percentile(&raw_search, 0.5)), us(percentile(&raw_search, 0.99))),
        format!("{:.1}× at p50", us(percentile(&search_lat, 0.5)) / us(percentile(&raw_search, 0.5)).max(0.001)),
    );
    row(
        "(c) CSV import (parse, validate, dedupe, accounts, FTS, event)",
        format!("{:.0} rows/s ({:.1} s)", contacts as f64 / import_time.as_secs_f64(), import_time.as_secs_f64()),
        format!(
            "bare table {:.0} rows/s ({:.1} s); same indexes + FTS5 {:.0} rows/s ({:.1} s)",
            contacts as f64 / raw_import.as_secs_f64(),
            raw_import.as_secs_f64(),
            contacts as f64 / raw_import_full.as_secs_f64(),
            raw_import_full.as_secs_f64()
        ),
        format!(
            "{:.1}× the bare table, {:.1}× same indexes + FTS5",
            import_time.as_secs_f64() / raw_import.as_secs_f64(),
            import_time.as_secs_f64() / raw_import_full.as_secs_f64()
        ),
    );
    row(
        "(d) system events written/s (hash-chained, group commit, best of the above)",
        format!("{:.0}/s", events_per_sec_par),
        format!("{:.0}/s one commit each; {:.0}/s in one transaction", raw_events.0, raw_events.1),
        format!("{:.1}× of one-commit-each", events_per_sec_par / raw_events.0),
    );
    drop(raw);
    if dir.is_none() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    Ok(())
}

fn configure(c: &rusqlite::Connection) -> Result<()> {
    c.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-65536;")?;
    Ok(())
}

/// Bare SQLite: the same rows in one transaction, into a bare table, or (`full`) into a table
/// with the same indexes as Holdfast's contacts and the same FTS5 index over the same words.
fn raw_bulk_insert(path: &std::path::Path, csv: &[u8], full: bool) -> Result<Duration> {
    let _ = std::fs::remove_file(path);
    let mut c = rusqlite::Connection::open(path)?;
    configure(&c)?;
    c.execute_batch(
        "CREATE TABLE contacts (rid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, created_at BIGINT, first_name TEXT, last_name TEXT, email TEXT, phone TEXT, title TEXT, company TEXT, account_id TEXT, owner_id TEXT, search_text TEXT);",
    )?;
    if full {
        c.execute_batch(
            "CREATE INDEX contacts_email ON contacts (email); CREATE INDEX contacts_last ON contacts (last_name, id);
             CREATE INDEX contacts_account ON contacts (account_id); CREATE INDEX contacts_owner ON contacts (owner_id);
             CREATE VIRTUAL TABLE contacts_fts USING fts5(search_text, content='contacts', content_rowid='rid', prefix='2 4', tokenize='unicode61 remove_diacritics 2');
             CREATE TRIGGER contacts_fts_insert AFTER INSERT ON contacts BEGIN INSERT INTO contacts_fts (rowid, search_text) VALUES (new.rid, new.search_text); END;",
        )?;
    }
    let started = Instant::now();
    let tx = c.transaction()?;
    {
        let mut stmt = tx.prepare("INSERT INTO contacts (id, created_at, first_name, last_name, email, phone, title, company, account_id, owner_id, search_text) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, NULL, ?10)")?;
        let mut reader = csv::Reader::from_reader(csv);
        for rec in reader.records() {
            let rec = rec.context("baseline CSV")?;
            let search = if full {
                format!("{} {} {} {}", &rec[0], &rec[1], &rec[2], &rec[3]).to_lowercase()
            } else {
                String::new()
            };
            stmt.execute(rusqlite::params![
                holdfast_core::id::new_id().to_string(),
                0i64,
                &rec[0],
                &rec[1],
                &rec[2],
                &rec[3],
                &rec[5],
                &rec[4],
                &rec[4],
                search
            ])?;
        }
    }
    tx.commit()?;
    Ok(started.elapsed())
}

/// Bare SQLite event rows (no hashing): one commit each, and all in one transaction.
fn raw_event_inserts(path: &std::path::Path, n: usize) -> Result<(f64, f64)> {
    let mut c = rusqlite::Connection::open(path)?;
    configure(&c)?;
    c.execute_batch("CREATE TABLE events (seq INTEGER PRIMARY KEY, id TEXT, at BIGINT, coworker_id TEXT, action TEXT, object_type TEXT, object_id TEXT, row_count BIGINT, details TEXT);
                     CREATE INDEX events_by_coworker ON events (coworker_id, seq);")?;
    let insert = "INSERT INTO events (id, at, coworker_id, action, object_type, object_id, row_count, details) VALUES (?1, 1, 'c', 'record.read', 'contact', ?2, 1, '{\"via\":\"api_token\"}')";
    let each = (n / 10).max(1);
    let started = Instant::now();
    for _ in 0..each {
        c.execute(
            insert,
            rusqlite::params![holdfast_core::id::new_id().to_string(), holdfast_core::id::new_id().to_string()],
        )?;
    }
    let one_each = each as f64 / started.elapsed().as_secs_f64();
    let started = Instant::now();
    let tx = c.transaction()?;
    {
        let mut stmt = tx.prepare(insert)?;
        for _ in 0..n {
            stmt.execute(rusqlite::params![
                holdfast_core::id::new_id().to_string(),
                holdfast_core::id::new_id().to_string()
            ])?;
        }
    }
    tx.commit()?;
    Ok((one_each, n as f64 / started.elapsed().as_secs_f64()))
}

fn sample_event(i: usize, coworkers: &[Uuid]) -> holdfast_core::event::NewEvent {
    holdfast_core::event::NewEvent {
        at: 1_790_000_000_000_000 + i as i64 * 1_000,
        coworker_id: Some(coworkers[i % coworkers.len()]),
        action: if i.is_multiple_of(10) { "list.read".into() } else { "record.read".into() },
        object_type: Some("contact".into()),
        object_id: Some(holdfast_core::id::new_id().to_string()),
        row_count: if i.is_multiple_of(10) { 50 } else { 1 },
        client_addr: Some("10.1.2.3".into()),
        user_agent: Some("Mozilla/5.0 (X11; Linux x86_64) Holdfast-bench".into()),
        details: serde_json::json!({"via": "session", "credential_id": "0193a000-0000-7000-8000-000000000001"}),
    }
}

/// `holdfast bench audit`: event appends and chain verification beside their baselines.
fn audit(_database: &str, n: usize) -> Result<()> {
    use holdfast_core::audit::AuditKey;
    use holdfast_core::storage::Database;
    let tmp = std::env::temp_dir().join(format!("holdfast-bench-audit-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp)?;
    println!("holdfast bench audit: {n} events; SQLite backend; {}", tmp.display());
    println!("build: {}", if cfg!(debug_assertions) { "debug (numbers are not representative)" } else { "release" });
    let services = Holdfast::new(Store::open(&Location::Sqlite(tmp.join("holdfast.db")))?);
    let coworkers: Vec<Uuid> = (0..500).map(|_| holdfast_core::id::new_id()).collect();
    let batch = 10_000;

    eprintln!("appending {n} hash-chained events…");
    let started = Instant::now();
    let mut i = 0;
    while i < n {
        let events: Vec<_> = (i..(i + batch).min(n)).map(|j| sample_event(j, &coworkers)).collect();
        services
            .unaudited_database_for_benchmarks()
            .write(|tx| Ok(holdfast_core::service::append_events(tx, events)?))?;
        i += batch;
    }
    let append = started.elapsed();

    eprintln!("the same rows without hashing (bare SQLite, same table and indexes)…");
    let raw_path = tmp.join("baseline.db");
    let raw_append = {
        let mut c = rusqlite::Connection::open(&raw_path)?;
        configure(&c)?;
        c.execute_batch(
            "CREATE TABLE system_events (seq BIGINT PRIMARY KEY, id TEXT NOT NULL, at BIGINT NOT NULL, coworker_id TEXT, action TEXT NOT NULL, object_type TEXT, object_id TEXT, row_count BIGINT NOT NULL, client_addr TEXT, user_agent TEXT, details TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL);
             CREATE INDEX e1 ON system_events (coworker_id, seq); CREATE INDEX e2 ON system_events (object_type, object_id, seq); CREATE INDEX e3 ON system_events (at);",
        )?;
        let started = Instant::now();
        let mut i = 0;
        while i < n {
            let tx = c.transaction()?;
            {
                let mut stmt = tx.prepare_cached(
                    "INSERT INTO system_events VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                )?;
                for j in i..(i + batch).min(n) {
                    let e = sample_event(j, &coworkers);
                    stmt.execute(rusqlite::params![
                        j as i64 + 1,
                        holdfast_core::id::new_id().to_string(),
                        e.at,
                        e.coworker_id.map(|c| c.to_string()),
                        e.action,
                        e.object_type,
                        e.object_id,
                        e.row_count,
                        e.client_addr,
                        e.user_agent,
                        e.details.to_string(),
                        "",
                        ""
                    ])?;
                }
            }
            tx.commit()?;
            i += batch;
        }
        started.elapsed()
    };

    eprintln!("verifying…");
    let key = AuditKey::load_or_create(&tmp.join("audit-signing.key"))?;
    let checkpoint = services.write_checkpoint(&key, "bench")?;
    let started = Instant::now();
    let report = services.verify_log(&Actor::operator(), &key.public_hex(), &[checkpoint], &|_| {})?;
    let verify = started.elapsed();
    if !report.ok() || report.events != n as i64 {
        bail!("verification failed: {:?}", report.findings.first());
    }

    eprintln!("raw SHA-256 over the same bytes, and a bare scan of the same rows…");
    let raw = rusqlite::Connection::open(tmp.join("holdfast.db"))?;
    let mut canonical: Vec<(String, String)> = Vec::with_capacity(n.min(2_000_000));
    let scan_started = Instant::now();
    let mut scanned = 0usize;
    {
        let mut stmt = raw.prepare("SELECT seq, id, at, coworker_id, action, object_type, object_id, row_count, client_addr, user_agent, details, prev_hash, hash FROM system_events ORDER BY seq")?;
        let mut rows = stmt.query([])?;
        let mut buf = Vec::new();
        while let Some(r) = rows.next()? {
            let e = holdfast_core::audit::StoredEvent {
                seq: r.get(0)?,
                id: r.get(1)?,
                at: r.get(2)?,
                coworker_id: r.get(3)?,
                action: r.get(4)?,
                object_type: r.get(5)?,
                object_id: r.get(6)?,
                row_count: r.get(7)?,
                client_addr: r.get(8)?,
                user_agent: r.get(9)?,
                details: r.get(10)?,
                prev_hash: r.get(11)?,
                hash: r.get(12)?,
            };
            scanned += 1;
            if canonical.len() < 2_000_000 {
                e.content().canonical_bytes(&mut buf);
                canonical.push((String::from_utf8_lossy(&buf).into_owned(), e.prev_hash));
            }
        }
    }
    let scan = scan_started.elapsed();
    let started = Instant::now();
    let mut bytes = 0usize;
    let mut sink = 0u8;
    for (content, prev) in &canonical {
        let d = hex::encode(sha2::Sha256::digest(content.as_bytes()));
        let mut h = sha2::Sha256::new();
        h.update(prev.as_bytes());
        h.update(d.as_bytes());
        sink ^= h.finalize()[0];
        bytes += content.len() + 128;
    }
    let hashing = started.elapsed();
    let per_event_hash = hashing.as_secs_f64() / canonical.len().max(1) as f64;
    std::hint::black_box(sink);

    println!();
    println!("| figure | Holdfast | baseline | Holdfast / baseline |");
    println!("|---|---|---|---|");
    row(
        "events appended/s (batches of 10,000, hash-chained)",
        format!("{:.0}/s", n as f64 / append.as_secs_f64()),
        format!("{:.0}/s same rows, no hashing, bare SQLite", n as f64 / raw_append.as_secs_f64()),
        format!("{:.2}×", raw_append.as_secs_f64() / append.as_secs_f64()),
    );
    row(
        "audit verify: events/s (read, rehash, check links and checkpoint)",
        format!("{:.0}/s ({:.1} s)", n as f64 / verify.as_secs_f64(), verify.as_secs_f64()),
        format!(
            "{:.0}/s raw SHA-256 over the same bytes ({:.0} MB/s); {:.0}/s bare scan of the rows",
            1.0 / per_event_hash,
            bytes as f64 / hashing.as_secs_f64() / 1e6,
            scanned as f64 / scan.as_secs_f64()
        ),
        format!("{:.2}× of raw hashing", (n as f64 / verify.as_secs_f64()) * per_event_hash),
    );
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(())
}

/// `holdfast bench web`: server time of pages (request in, HTML out, through the real router with
/// its system events) beside the bare SQL the same page needs.
fn web(requests: usize) -> Result<()> {
    use holdfast_core::demo::{DEMO_PASSWORD, DemoSize};
    use tower::ServiceExt;
    let tmp = std::env::temp_dir().join(format!("holdfast-bench-web-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp)?;
    let db = tmp.join("holdfast.db");
    println!("holdfast bench web: the demo company, {requests} requests a page; SQLite backend");
    println!("build: {}", if cfg!(debug_assertions) { "debug (numbers are not representative)" } else { "release" });
    let services = Arc::new(Holdfast::new(Store::open(&Location::Sqlite(db.clone()))?));
    eprintln!("loading the demo company…");
    let summary = services.load_demo(&Actor::operator(), DemoSize::default(), &|_| {})?;
    let (_, session) = services.login(&summary.rep_email, DEMO_PASSWORD, None, None)?;
    let cookie = format!("holdfast_session={session}");
    let raw = rusqlite::Connection::open(&db)?;
    let mut stmt = raw.prepare("SELECT id FROM accounts ORDER BY rid")?;
    let accounts: Vec<String> = stmt.query_map([], |r| r.get::<_, String>(0))?.collect::<Result<Vec<_>, _>>()?;
    drop(stmt);
    let router = holdfast_web::router(Arc::clone(&services));
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let mut rng = StdRng::seed_from_u64(5);
    let picks: Vec<String> = (0..requests).map(|_| accounts[rng.random_range(0..accounts.len())].clone()).collect();
    let time_page = |paths: &[String]| -> Result<Vec<Duration>> {
        runtime.block_on(async {
            let mut lat = Vec::with_capacity(paths.len());
            for p in paths {
                let req = axum::http::Request::builder()
                    .uri(p.as_str())
                    .header("cookie", cookie.as_str())
                    .body(axum::body::Body::empty())?;
                let t = Instant::now();
                let resp = router.clone().oneshot(req).await?;
                let status = resp.status();
                let body = http_body_util::BodyExt::collect(resp.into_body()).await?.to_bytes();
                lat.push(t.elapsed());
                if status != axum::http::StatusCode::OK || body.len() < 500 {
                    bail!("{p} answered {status}");
                }
            }
            lat.sort();
            Ok(lat)
        })
    };
    let account_paths: Vec<String> = picks.iter().map(|id| format!("/accounts/{id}")).collect();
    let account_lat = time_page(&account_paths)?;
    let list_paths: Vec<String> =
        (0..requests).map(|i| if i % 2 == 0 { "/contacts".into() } else { "/contacts?q=smith".into() }).collect();
    let list_lat = time_page(&list_paths)?;
    // The same data read bare: what the account page shows, and a contact list page.
    let mut raw_account = Vec::with_capacity(requests);
    {
        let queries = [
            "SELECT * FROM accounts WHERE id = ?1",
            "SELECT * FROM contacts WHERE account_id = ?1 AND deleted_at IS NULL ORDER BY last_name, id LIMIT 201",
            "SELECT * FROM deals WHERE account_id = ?1 AND deleted_at IS NULL ORDER BY created_at DESC, id DESC LIMIT 51",
            "SELECT * FROM contracts WHERE account_id = ?1 AND deleted_at IS NULL ORDER BY created_at DESC, id DESC LIMIT 51",
            "SELECT * FROM activities WHERE account_id = ?1 AND deleted_at IS NULL ORDER BY occurred_at DESC, id DESC LIMIT 101",
            "SELECT * FROM tasks WHERE account_id = ?1 AND status = 'open' AND deleted_at IS NULL ORDER BY COALESCE(due_date, '9999-12-31'), id LIMIT 21",
        ];
        for id in &picks {
            let t = Instant::now();
            for q in queries {
                let mut stmt = raw.prepare_cached(q)?;
                let n = stmt.column_count();
                let _ = stmt
                    .query_map([id], |r| {
                        for i in 0..n {
                            let _ = r.get_ref(i)?;
                        }
                        Ok(())
                    })?
                    .count();
            }
            raw_account.push(t.elapsed());
        }
    }
    raw_account.sort();
    let mut raw_list = Vec::with_capacity(requests);
    {
        let mut all =
            raw.prepare_cached("SELECT * FROM contacts WHERE deleted_at IS NULL ORDER BY last_name, id LIMIT 51")?;
        let mut found = raw.prepare_cached("SELECT * FROM contacts WHERE rid IN (SELECT rowid FROM contacts_fts WHERE contacts_fts MATCH '\"smith\"*') AND deleted_at IS NULL ORDER BY last_name, id LIMIT 51")?;
        // The list shows each contact's account by name.
        let mut name = raw.prepare_cached("SELECT name FROM accounts WHERE id = ?1")?;
        let account_col = all.column_index("account_id")?;
        for i in 0..requests {
            let stmt = if i % 2 == 0 { &mut all } else { &mut found };
            let n = stmt.column_count();
            let t = Instant::now();
            let accounts: Vec<Option<String>> = stmt
                .query_map([], |r| {
                    for c in 0..n {
                        let _ = r.get_ref(c)?;
                    }
                    r.get::<_, Option<String>>(account_col)
                })?
                .collect::<Result<_, _>>()?;
            for a in accounts.iter().flatten() {
                let _: Option<String> = name.query_row([a], |r| r.get(0)).ok();
            }
            raw_list.push(t.elapsed());
        }
    }
    raw_list.sort();
    // The rep's home page: open deals and tasks by date, recent activity, their accounts with the
    // last touch, activity per week, and the names of the accounts shown.
    let home_paths: Vec<String> = (0..requests).map(|_| "/".to_string()).collect();
    let home_lat = time_page(&home_paths)?;
    let rep_id: String =
        raw.query_row("SELECT id FROM coworkers WHERE email = ?1", [summary.rep_email.as_str()], |r| r.get(0))?;
    let mut raw_home = Vec::with_capacity(requests);
    {
        let since = services.now() - 12 * 7 * holdfast_core::time::MICROS_PER_DAY;
        let lists = [
            "SELECT * FROM deals WHERE owner_id = ?1 AND stage IN ('prospecting', 'qualification', 'proposal', 'negotiation') AND deleted_at IS NULL ORDER BY COALESCE(close_date, '9999-12-31'), id LIMIT 16",
            "SELECT * FROM tasks WHERE owner_id = ?1 AND status = 'open' AND deleted_at IS NULL ORDER BY COALESCE(due_date, '9999-12-31'), id LIMIT 16",
            "SELECT * FROM activities WHERE owner_id = ?1 AND deleted_at IS NULL ORDER BY occurred_at DESC, id DESC LIMIT 9",
            "SELECT * FROM accounts WHERE owner_id = ?1 AND deleted_at IS NULL ORDER BY name, id LIMIT 51",
        ];
        let mut touch = raw.prepare_cached(
            "SELECT account_id, max(occurred_at) FROM activities WHERE account_id IN (SELECT id FROM accounts WHERE owner_id = ?1 AND deleted_at IS NULL ORDER BY name LIMIT 50) AND deleted_at IS NULL GROUP BY account_id",
        )?;
        let mut weeks = raw.prepare_cached(
            "SELECT (occurred_at - ?2) / 604800000000, count(*) FROM activities WHERE occurred_at >= ?2 AND owner_id = ?1 AND deleted_at IS NULL GROUP BY 1",
        )?;
        for _ in 0..requests {
            let t = Instant::now();
            for q in lists {
                let mut stmt = raw.prepare_cached(q)?;
                let n = stmt.column_count();
                let _ = stmt
                    .query_map([&rep_id], |r| {
                        for i in 0..n {
                            let _ = r.get_ref(i)?;
                        }
                        Ok(())
                    })?
                    .count();
            }
            let _ = touch.query_map([&rep_id], |r| r.get::<_, i64>(1))?.count();
            let _ = weeks.query_map(rusqlite::params![&rep_id, since], |r| r.get::<_, i64>(1))?.count();
            raw_home.push(t.elapsed());
        }
    }
    raw_home.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!();
    println!("| page | Holdfast server time | bare SQL for the same data | p99 ratio |");
    println!("|---|---|---|---|");
    for (name, lat, base) in [
        ("account page (customer 360)", &account_lat, &raw_account),
        ("contact list (half plain, half search \"smith\")", &list_lat, &raw_list),
        ("rep home page", &home_lat, &raw_home),
    ] {
        row(
            name,
            format!("p50 {:.2} ms, p99 {:.2} ms", ms(percentile(lat, 0.5)), ms(percentile(lat, 0.99))),
            format!("p50 {:.2} ms, p99 {:.2} ms", ms(percentile(base, 0.5)), ms(percentile(base, 0.99))),
            format!("{:.1}×", ms(percentile(lat, 0.99)) / ms(percentile(base, 0.99)).max(1e-6)),
        );
    }
    drop(raw);
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(())
}
