//! `holdfast-bench core` on SQLite: audited reads, searches, CSV import and event appends on N
//! contacts, each beside bare SQLite on the same rows (the physical limit).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use holdfast_core::Holdfast;
use holdfast_core::coworker::Actor;
use holdfast_core::record::CONTACTS;
use holdfast_store::{Location, Store};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use uuid::Uuid;

use crate::BenchCmd;
use crate::shared::*;

pub fn run(cmd: &BenchCmd) -> Result<()> {
    let (contacts, reads, dir) = match cmd {
        BenchCmd::Core { contacts, reads, postgres: Some(url), .. } => {
            return crate::core_postgres::core(url, *contacts, *reads);
        }
        BenchCmd::Core { contacts, reads, dir, postgres: None } => (contacts, reads, dir),
        BenchCmd::Audit { events } => return crate::audit::audit(*events),
        BenchCmd::Bundle { events } => return crate::bundle::bundle(*events),
        BenchCmd::Restart { events, coworkers, clients, reads } => {
            return crate::restart::restart(*events, *coworkers, *clients, *reads);
        }
        BenchCmd::Guard { contacts, events } => return crate::guard::guard(*contacts, *events),
        BenchCmd::Web { requests } => return crate::web::web(*requests),
        BenchCmd::Http { contacts, clients, seconds, postgres } => {
            return crate::http::http(*contacts, *clients, *seconds, postgres.as_deref());
        }
        BenchCmd::Departure { records, postgres } => return crate::departure::departure(*records, postgres.as_deref()),
        BenchCmd::Leads { contacts, decisions, import, postgres } => {
            return crate::leads::leads(*contacts, *decisions, *import, postgres.as_deref());
        }
        BenchCmd::Leaks { contacts, exports, trace_rows, mail_rows } => {
            return crate::leaks::leaks(*contacts, *exports, *trace_rows, *mail_rows);
        }
        BenchCmd::Exposure { accounts, activities, postgres } => {
            return crate::exposure::exposure(*accounts, *activities, postgres.as_deref());
        }
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
    println!("holdfast-bench core: {contacts} contacts, {reads} timed reads; SQLite backend; {}", tmp.display());
    println!("build: {}", if cfg!(debug_assertions) { "debug (numbers are not representative)" } else { "release" });
    let services = Arc::new(Holdfast::new(Store::open(&Location::Sqlite(db_path.clone()))?));
    let rep = bench_rep(&services)?;

    eprintln!("generating {contacts} CSV rows…");
    let csv = make_csv(contacts);

    // (c) CSV import through the service vs a bare bulk insert of the same rows.
    eprintln!("importing through the service…");
    let started = Instant::now();
    import_all(&services, &csv, contacts)?;
    let import_time = started.elapsed();
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
    let concurrent = concurrent_reads(&services, &uuids)?;

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
    let broad = timed_broad_searches(&services, &rep, &raw)?;

    // (d) system events per second: the read path above wrote one event per read.
    let events_per_sec_par = concurrent.iter().map(|c| c.rate).fold(0.0, f64::max);
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
    for c in &concurrent {
        row(
            &format!("(a) audited contact reads/s, {} threads (one rep each)", c.threads),
            format!("{:.0}/s ({:.1} reads per commit)", c.rate, c.batch),
            format!(
                "{:.0} bare one-row commits/s (1 thread); {:.0}/s bare lookups",
                raw_events.0,
                ids.len() as f64 / raw_seq.as_secs_f64()
            ),
            format!("{:.2}× the commits", c.rate / raw_events.0),
        );
    }
    row(
        "(b) search, 25 results",
        format!("p50 {:.0} µs, p99 {:.0} µs", us(percentile(&search_lat, 0.5)), us(percentile(&search_lat, 0.99))),
        format!("p50 {:.0} µs, p99 {:.0} µs", us(percentile(&raw_search, 0.5)), us(percentile(&raw_search, 0.99))),
        format!("{:.1}× at p50", us(percentile(&search_lat, 0.5)) / us(percentile(&raw_search, 0.5)).max(0.001)),
    );
    for b in &broad {
        row(
            &format!("(b) search \"{}\" ({} matches), first 25 by name, median of 5", b.query, b.matches),
            format!("{:.0} µs", us(b.holdfast)),
            format!("{:.0} µs the same FTS5 query bare", us(b.bare)),
            format!("{:.2}×", b.holdfast.as_secs_f64() / b.bare.as_secs_f64().max(1e-9)),
        );
    }
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

pub fn configure(c: &rusqlite::Connection) -> Result<()> {
    c.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-65536;")?;
    Ok(())
}

/// Bare SQLite: the same rows in one transaction, into a bare table, or (`full`) into a table
/// with the same indexes as Holdfast's contacts and the same FTS5 index over the same words,
/// each row's index entry written by a statement right after the row (the quickest way: a
/// trigger opens a statement journal, which makes FTS5 flush its pending terms on every row).
fn raw_bulk_insert(path: &std::path::Path, csv: &[u8], full: bool) -> Result<Duration> {
    let _ = std::fs::remove_file(path);
    let mut c = rusqlite::Connection::open(path)?;
    configure(&c)?;
    c.execute_batch(
        "CREATE TABLE contacts (rid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, created_at BIGINT, first_name TEXT, last_name TEXT, email TEXT, phone TEXT, title TEXT, company TEXT, account_id TEXT, owner_id TEXT, reports_to_id TEXT, search_text TEXT);",
    )?;
    if full {
        c.execute_batch(
            "CREATE INDEX contacts_email ON contacts (email); CREATE INDEX contacts_last ON contacts (last_name, id);
             CREATE INDEX contacts_account ON contacts (account_id); CREATE INDEX contacts_owner ON contacts (owner_id);
             CREATE INDEX contacts_reports_to ON contacts (reports_to_id); CREATE INDEX contacts_phone ON contacts (phone);
             CREATE VIRTUAL TABLE contacts_fts USING fts5(search_text, content='contacts', content_rowid='rid', prefix='2 4', tokenize='unicode61 remove_diacritics 2');",
        )?;
    }
    let started = Instant::now();
    let tx = c.transaction()?;
    {
        let mut stmt = tx.prepare("INSERT INTO contacts (id, created_at, first_name, last_name, email, phone, title, company, account_id, owner_id, search_text) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, NULL, ?10)")?;
        let mut index = match full {
            true => Some(tx.prepare("INSERT INTO contacts_fts (rowid, search_text) VALUES (last_insert_rowid(), ?1)")?),
            false => None,
        };
        let mut reader = csv::Reader::from_reader(csv);
        for rec in reader.records() {
            let rec = rec.context("baseline CSV")?;
            // The words Holdfast indexes for the same contact (names, email, phone and its digits, title).
            let search = if full { search_text(&rec) } else { String::new() };
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
                &search
            ])?;
            if let Some(index) = index.as_mut() {
                index.execute([&search])?;
            }
        }
    }
    tx.commit()?;
    Ok(started.elapsed())
}

/// The search text Holdfast writes for a contact with this row's name, email, phone and title.
fn search_text(rec: &csv::StringRecord) -> String {
    use holdfast_core::record::{CONTACTS, Record, Value};
    let mut contact = Record {
        id: uuid::Uuid::nil(),
        created_at: 0,
        updated_at: 0,
        created_by: None,
        updated_by: None,
        deleted_at: None,
        fields: Default::default(),
        links: Default::default(),
    };
    for (field, cell) in [("first_name", 0), ("last_name", 1), ("email", 2), ("phone", 3), ("title", 5)] {
        contact.fields.insert(field, Value::Text(rec[cell].to_lowercase()));
    }
    contact.search_text(&CONTACTS)
}

/// Bare SQLite event rows (no hashing): one commit each, and all in one transaction.
pub fn raw_event_inserts(path: &std::path::Path, n: usize) -> Result<(f64, f64)> {
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

pub fn sample_event(i: usize, coworkers: &[Uuid]) -> holdfast_core::event::NewEvent {
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

/// A search a user types that matches much of the table, timed through the service and bare.
struct BroadSearch {
    query: &'static str,
    matches: i64,
    holdfast: Duration,
    bare: Duration,
}

/// The first letters typed into a search box, and other words most contacts have: the searches
/// that fetch and sort every match through the full-text index (medians of five runs each).
fn timed_broad_searches(
    services: &Holdfast<holdfast_store::Store>,
    rep: &Actor,
    raw: &rusqlite::Connection,
) -> Result<Vec<BroadSearch>> {
    let mut out = Vec::new();
    let mut bare_stmt = raw.prepare(
        "SELECT id, first_name, last_name, email FROM contacts WHERE rid IN (SELECT rowid FROM contacts_fts WHERE contacts_fts MATCH ?1) AND deleted_at IS NULL ORDER BY last_name, id LIMIT 26",
    )?;
    for query in ["a", "s", "com", "1", "acc", "olivia", "smith", "mu"] {
        let m = holdfast_core::record::search_words(query)
            .iter()
            .map(|w| format!("\"{w}\"*"))
            .collect::<Vec<_>>()
            .join(" AND ");
        let matches: i64 =
            raw.query_row("SELECT count(*) FROM contacts_fts WHERE contacts_fts MATCH ?1", [&m], |r| r.get(0))?;
        let (mut holdfast, mut bare) = (Vec::new(), Vec::new());
        for _ in 0..5 {
            let req =
                holdfast_core::service::ListRequest { q: Some(query.into()), limit: Some(25), ..Default::default() };
            let t = Instant::now();
            let page = services.list_records(rep, &CONTACTS, &req)?;
            holdfast.push(t.elapsed());
            let t = Instant::now();
            let ids = bare_stmt.query_map([&m], |r| r.get::<_, String>(0))?.collect::<Result<Vec<_>, _>>()?;
            bare.push(t.elapsed());
            let listed: Vec<String> = page.items.iter().map(|r| r.id.to_string()).collect();
            if listed[..] != ids[..ids.len().min(25)] {
                bail!("search {query:?}: Holdfast listed other contacts than the bare query");
            }
        }
        holdfast.sort();
        bare.sort();
        out.push(BroadSearch { query, matches, holdfast: holdfast[2], bare: bare[2] });
    }
    Ok(out)
}
