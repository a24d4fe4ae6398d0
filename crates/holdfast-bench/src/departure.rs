//! A departure's mass transfer: N records (a tenth accounts, the rest contacts under them) handed
//! from a leaver to two colleagues by round-robin in one transaction, every record's change kept in
//! the operation's rows under one `coworker.handover` event, then undone; beside it, a bare
//! `UPDATE` of the same rows' owner in one transaction on the same database, in the same run. Peak
//! memory added by the handover is printed too.

use std::time::Instant;

use anyhow::{Result, bail};
use holdfast_core::Holdfast;
use holdfast_core::coworker::Actor;
use holdfast_core::record::{ACCOUNTS, CONTACTS, Value};
use holdfast_core::service::HandoverRule;
use holdfast_core::storage::Database;
use holdfast_store::Store;
use serde_json::json;

use crate::shared::{add_rep, bench_location, row};

pub fn departure(records: usize, postgres: Option<&str>) -> Result<()> {
    if records < 100 {
        bail!("--records must be at least 100");
    }
    let (dir, location, backend) = bench_location("departure", postgres)?;
    println!("holdfast-bench departure: {records} records ({} accounts, the rest contacts); {backend}", records / 10);
    println!("build: {}", if cfg!(debug_assertions) { "debug (numbers are not representative)" } else { "release" });
    let services = Holdfast::new(Store::open(&location)?);
    let operator = Actor::operator();
    let leaver = add_rep(&services, "leaver@example.com")?;
    add_rep(&services, "hannah@example.com")?;
    add_rep(&services, "mia@example.com")?;
    let accounts = records / 10;
    eprintln!("creating {records} records…");
    let inputs: Vec<_> = (0..accounts)
        .map(|i| json!({"name": format!("Account {i}"), "annual_value": 100_000 + i, "owner_id": leaver.to_string()}))
        .collect();
    let mut account_ids = Vec::with_capacity(accounts);
    for chunk in inputs.chunks(5_000) {
        account_ids.extend(services.create_many(&operator, &ACCOUNTS, chunk)?);
    }
    let inputs: Vec<_> = (0..records - accounts)
        .map(|i| {
            json!({"first_name": format!("P{i}"), "last_name": "Example", "email": format!("p{i}@example.com"),
                   "account_id": account_ids[i % accounts].to_string(), "owner_id": leaver.to_string()})
        })
        .collect();
    for chunk in inputs.chunks(5_000) {
        services.create_many(&operator, &CONTACTS, chunk)?;
    }
    drop(inputs);
    let store = services.unaudited_database_for_benchmarks();

    // The floor: the same rows' owner changed by two bare UPDATEs in one transaction (then put back, untimed).
    let bare = |from: &str, to: &str| -> Result<std::time::Duration> {
        let started = Instant::now();
        store.with_conn(true, |conn| {
            for table in ["accounts", "contacts"] {
                conn.exec(
                    &format!("UPDATE {table} SET owner_id = $1, updated_at = $3 WHERE owner_id = $2"),
                    &[Value::Text(to.into()), Value::Text(from.into()), Value::Int(1)],
                )?;
            }
            Ok(())
        })?;
        Ok(started.elapsed())
    };
    let hannah = services.actor_for("hannah@example.com")?.id().map(|i| i.to_string()).unwrap_or_default();
    let baseline = bare(&leaver.to_string(), &hannah)?;
    bare(&hannah, &leaver.to_string())?;

    let rule = HandoverRule::RoundRobin(vec!["hannah@example.com".into(), "mia@example.com".into()]);
    crate::guard::reset_peak_rss();
    let before = crate::guard::current_rss_mib();
    let started = Instant::now();
    let done = services.handover_by(&operator, "leaver@example.com", &rule)?;
    let took = started.elapsed();
    let added = crate::guard::peak_rss_mib() - before;
    if done.changed != records {
        bail!("handed over {} of {records}", done.changed);
    }
    let started = Instant::now();
    let undone = services.undo_bulk(&operator, done.operation)?;
    let undo_took = started.elapsed();
    if undone.changed != records {
        bail!("undid {} of {records}", undone.changed);
    }
    let left = store.read(|tx| Ok(tx.count_owned(&ACCOUNTS, leaver)? + tx.count_owned(&CONTACTS, leaver)?))?;
    if left != i64::try_from(records).unwrap_or(0) {
        bail!("after the undo the leaver owns {left} of {records}");
    }

    println!();
    println!("| figure | Holdfast | baseline | ratio |");
    println!("|---|---|---|---|");
    row(
        &format!(
            "handover of {records} records by round-robin to two, one transaction, every record's change kept ({backend}); memory added {added:.0} MiB"
        ),
        format!("{:.2} s ({:.0} records/s)", took.as_secs_f64(), records as f64 / took.as_secs_f64()),
        format!("bare `UPDATE` {:.2} s", baseline.as_secs_f64()),
        format!("{:.1}x", took.as_secs_f64() / baseline.as_secs_f64()),
    );
    row(
        &format!("undo of that handover ({backend})"),
        format!("{:.2} s", undo_took.as_secs_f64()),
        format!("bare `UPDATE` {:.2} s", baseline.as_secs_f64()),
        format!("{:.1}x", undo_took.as_secs_f64() / baseline.as_secs_f64()),
    );
    if postgres.is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(())
}
