//! `holdfast-bench audit`: appends to the hash-chained event log and its verification, beside
//! bare inserts and raw SHA-256 over the same bytes.

use std::time::Instant;

use anyhow::{Result, bail};
use holdfast_core::Holdfast;
use holdfast_core::coworker::Actor;
use holdfast_store::{Location, Store};
use sha2::Digest;
use uuid::Uuid;

use crate::core_sqlite::{configure, sample_event};
use crate::shared::*;

/// `holdfast-bench audit`: event appends and chain verification beside their baselines.
pub fn audit(n: usize) -> Result<()> {
    use holdfast_core::audit::AuditKey;
    use holdfast_core::storage::Database;
    let tmp = std::env::temp_dir().join(format!("holdfast-bench-audit-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp)?;
    println!("holdfast-bench audit: {n} events; SQLite backend; {}", tmp.display());
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
    let report = services.verify_log(&Actor::operator(), &key.public_hex(), &[checkpoint])?;
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
    // The tools a third party would use: the sqlite3 shell dumps the rows, sha256sum hashes them
    // (one hash over the bytes, where verification hashes each event twice and checks links).
    let dump = tmp.join("events.dump");
    let shell_started = Instant::now();
    let status = std::process::Command::new("sqlite3")
        .arg(tmp.join("holdfast.db"))
        .arg("SELECT * FROM system_events ORDER BY seq")
        .stdout(std::fs::File::create(&dump)?)
        .status();
    let shell = shell_started.elapsed();
    if status.is_ok_and(|s| s.success()) {
        let sum_started = Instant::now();
        let summed = std::process::Command::new("sha256sum").arg(&dump).output()?;
        let sum = sum_started.elapsed();
        if summed.status.success() {
            row(
                "audit verify beside the shell tools (the issue's baseline)",
                format!("{:.2} s", verify.as_secs_f64()),
                format!(
                    "`sha256sum` of the rows `sqlite3` dumped ({} MB): {:.2} s; the `sqlite3` dump itself {:.2} s",
                    std::fs::metadata(&dump)?.len() / 1_000_000,
                    sum.as_secs_f64(),
                    shell.as_secs_f64()
                ),
                format!("{:.2}× of sha256sum", verify.as_secs_f64() / sum.as_secs_f64()),
            );
        }
    } else {
        eprintln!("(no sqlite3 shell: apt-get install sqlite3 for the shell baselines)");
    }
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(())
}
