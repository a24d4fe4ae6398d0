//! `holdfast-bench core --postgres URL`: the core figures on PostgreSQL, each beside the same
//! work done with bare SQL on a plain `postgres` client connection to the same server, same run.
//! The database must be empty: the bench creates Holdfast's schema in it, and scratch tables for
//! the baselines.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Result, bail};
use holdfast_core::Holdfast;
use holdfast_store::{Location, Store};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use uuid::Uuid;

use crate::shared::{
    bench_rep, concurrent_reads, import_all, make_csv, percentile, row, search_queries, timed_reads, timed_searches, us,
};

pub fn core(url: &str, contacts: usize, reads: usize) -> Result<()> {
    let mut raw = postgres::Client::connect(url, postgres::NoTls)?;
    let tables: i64 = raw
        .query_one("SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()", &[])?
        .get(0);
    if tables > 0 {
        bail!(
            "the bench needs an empty database; this one has {tables} tables (create one with `createdb holdfast_bench`)"
        );
    }
    let version: String = raw.query_one("SHOW server_version", &[])?.get(0);
    let sync: String = raw.query_one("SHOW synchronous_commit", &[])?.get(0);
    println!(
        "holdfast-bench core: {contacts} contacts, {reads} timed reads; PostgreSQL {version} (synchronous_commit={sync})"
    );
    println!("build: {}", if cfg!(debug_assertions) { "debug (numbers are not representative)" } else { "release" });
    let services = Arc::new(Holdfast::new(Store::open(&Location::Postgres(url.to_string()))?));
    let rep = bench_rep(&services)?;
    eprintln!("generating {contacts} CSV rows…");
    let csv = make_csv(contacts);

    // (c) import through the service vs bare inserts of the same rows in one transaction.
    eprintln!("importing through the service…");
    let started = Instant::now();
    import_all(&services, &csv, contacts)?;
    let import_time = started.elapsed();
    eprintln!("bare inserts of the same rows…");
    raw.batch_execute(
        "CREATE TABLE bench_contacts (id TEXT PRIMARY KEY, first_name TEXT, last_name TEXT, email TEXT, phone TEXT, company TEXT, title TEXT)",
    )?;
    let started = Instant::now();
    {
        let mut tx = raw.transaction()?;
        let insert = tx.prepare(
            "INSERT INTO bench_contacts (id, first_name, last_name, email, phone, company, title) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )?;
        let mut reader = csv::Reader::from_reader(csv.as_slice());
        for rec in reader.records() {
            let rec = rec?;
            let id = holdfast_core::id::new_id().to_string();
            let f = |i: usize| rec.get(i).unwrap_or("").to_string();
            tx.execute(&insert, &[&id, &f(0), &f(1), &f(2), &f(3), &f(4), &f(5)])?;
        }
        tx.commit()?;
    }
    let raw_import = started.elapsed();

    // Ids to read, chosen at random.
    let all: Vec<String> = raw.query("SELECT id FROM contacts", &[])?.iter().map(|r| r.get(0)).collect();
    let mut rng = StdRng::seed_from_u64(11);
    let ids: Vec<String> = (0..reads).map(|_| all[rng.random_range(0..all.len())].clone()).collect();
    let uuids: Vec<Uuid> = ids.iter().filter_map(|s| Uuid::parse_str(s).ok()).collect();
    drop(all);

    // (a) read by id through the service vs a bare primary-key lookup, and a bare one-row commit.
    eprintln!("timing reads…");
    let (lat, service_seq) = timed_reads(&services, &rep, &uuids)?;
    let lookup = raw.prepare(
        "SELECT id, created_at, updated_at, created_by, updated_by, deleted_at, account_id, first_name, last_name, email, phone, title, buying_role, owner_id, notes FROM contacts WHERE id = $1",
    )?;
    let mut raw_lat = Vec::with_capacity(reads);
    let started = Instant::now();
    for id in &ids {
        let t = Instant::now();
        let rows = raw.query(&lookup, &[id])?;
        if rows.len() != 1 {
            bail!("baseline lookup missed {id}");
        }
        raw_lat.push(t.elapsed());
    }
    let raw_seq = started.elapsed();
    raw_lat.sort();
    raw.batch_execute(
        "CREATE TABLE bench_events (seq BIGSERIAL PRIMARY KEY, id TEXT, at BIGINT, coworker_id TEXT, action TEXT, object_type TEXT, object_id TEXT, row_count BIGINT, details TEXT)",
    )?;
    let insert = raw.prepare(
        "INSERT INTO bench_events (id, at, coworker_id, action, object_type, object_id, row_count, details) VALUES ($1, 1, 'c', 'record.read', 'contact', $2, 1, '{\"via\":\"api_token\"}')",
    )?;
    let commits = (reads / 4).max(100);
    let started = Instant::now();
    for _ in 0..commits {
        let (a, b) = (holdfast_core::id::new_id().to_string(), holdfast_core::id::new_id().to_string());
        raw.execute(&insert, &[&a, &b])?;
    }
    let one_commit = started.elapsed() / commits as u32;
    let raw_read_and_commit = us(raw_seq) / ids.len() as f64 + us(one_commit);

    let concurrent = concurrent_reads(&services, &uuids)?;

    // (b) search: the service vs the same tsquery on the same table.
    eprintln!("timing searches…");
    let queries = search_queries(reads.min(2_000), contacts);
    let search_lat = timed_searches(&services, &rep, &queries)?;
    let search = raw.prepare(
        "SELECT id, first_name, last_name, email FROM contacts WHERE to_tsvector('simple', search_text) @@ to_tsquery('simple', $1) AND deleted_at IS NULL ORDER BY last_name, id LIMIT 26",
    )?;
    let mut raw_search = Vec::new();
    for q in &queries {
        let m = holdfast_core::record::search_words(q).iter().map(|w| format!("{w}:*")).collect::<Vec<_>>().join(" & ");
        let t = Instant::now();
        let _ = raw.query(&search, &[&m])?;
        raw_search.push(t.elapsed());
    }
    raw_search.sort();
    let best = concurrent.iter().map(|c| c.rate).fold(0.0, f64::max);

    println!();
    println!("| figure | Holdfast | bare SQL on the same server | Holdfast / baseline |");
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
                1.0 / one_commit.as_secs_f64(),
                ids.len() as f64 / raw_seq.as_secs_f64()
            ),
            format!("{:.2}× the commits", c.rate * one_commit.as_secs_f64()),
        );
    }
    row(
        "(b) search, 25 results",
        format!("p50 {:.0} µs, p99 {:.0} µs", us(percentile(&search_lat, 0.5)), us(percentile(&search_lat, 0.99))),
        format!("p50 {:.0} µs, p99 {:.0} µs", us(percentile(&raw_search, 0.5)), us(percentile(&raw_search, 0.99))),
        format!("{:.1}× at p50", us(percentile(&search_lat, 0.5)) / us(percentile(&raw_search, 0.5)).max(0.001)),
    );
    row(
        "(c) CSV import (parse, validate, dedupe, accounts, search text, event)",
        format!("{:.0} rows/s ({:.1} s)", contacts as f64 / import_time.as_secs_f64(), import_time.as_secs_f64()),
        format!(
            "bare inserts in one transaction {:.0} rows/s ({:.1} s)",
            contacts as f64 / raw_import.as_secs_f64(),
            raw_import.as_secs_f64()
        ),
        format!("{:.1}×", import_time.as_secs_f64() / raw_import.as_secs_f64()),
    );
    row(
        "(d) system events written/s (hash-chained, group commit, best of the above)",
        format!("{best:.0}/s"),
        format!("{:.0}/s one commit each", 1.0 / one_commit.as_secs_f64()),
        format!("{:.1}× of one-commit-each", best * one_commit.as_secs_f64()),
    );
    services.shutdown();
    Ok(())
}
