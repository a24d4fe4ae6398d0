//! `holdfast-bench bundle`: how long a third party takes to check an evidence bundle with its
//! `verify.sh` (bash, sha256sum, awk, OpenSSL), beside `sha256sum` reading the same files once.
//!
//! One co-worker is given N events; the `holdfast` binary built beside this one writes their
//! bundle (`holdfast audit evidence`), and `verify.sh` is timed on it.

use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use holdfast_core::Holdfast;
use holdfast_core::storage::Database;
use holdfast_store::{Location, Store};

use crate::core_sqlite::sample_event;
use crate::shared::{bench_rep, row};

pub fn bundle(n: usize) -> Result<()> {
    let holdfast = std::env::current_exe()?.with_file_name("holdfast");
    if !holdfast.exists() {
        bail!("build the holdfast binary beside this one first: cargo build --release --bin holdfast");
    }
    let tmp = std::env::temp_dir().join(format!("holdfast-bench-bundle-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp)?;
    println!("holdfast-bench bundle: {n} events of one co-worker; {}", tmp.display());
    let db = tmp.join("holdfast.db");
    {
        let services = Holdfast::new(Store::open(&Location::Sqlite(db.clone()))?);
        let rep = bench_rep(&services)?;
        let who = vec![rep.id().context("the bench co-worker")?];
        let mut i = 0;
        while i < n {
            let events: Vec<_> = (i..(i + 10_000).min(n)).map(|j| sample_event(j, &who)).collect();
            services
                .unaudited_database_for_benchmarks()
                .write(|tx| Ok(holdfast_core::service::append_events(tx, events)?))?;
            i += 10_000;
        }
        services.shutdown();
    }
    let out = tmp.join("bundle");
    let made = Command::new(&holdfast)
        .args(["--database", &db.display().to_string(), "audit", "evidence", "--coworker", "bench@example.com"])
        .args(["--since", "2026-01-01", "--out", &out.display().to_string()])
        .output()?;
    if !made.status.success() {
        bail!("holdfast audit evidence failed: {}", String::from_utf8_lossy(&made.stderr));
    }
    let started = Instant::now();
    let verified = Command::new("bash").arg(out.join("verify.sh")).output()?;
    let verify = started.elapsed();
    if !verified.status.success() {
        bail!(
            "verify.sh failed: {}{}",
            String::from_utf8_lossy(&verified.stdout),
            String::from_utf8_lossy(&verified.stderr)
        );
    }
    let started = Instant::now();
    let hashed = Command::new("sha256sum").arg(out.join("chain.tsv")).arg(out.join("events.canonical")).output()?;
    let bare = started.elapsed();
    if !hashed.status.success() {
        bail!("sha256sum failed");
    }
    println!("{}", String::from_utf8_lossy(&verified.stdout).lines().last().unwrap_or(""));
    row(
        "verify.sh on the bundle",
        format!("{:.2} s", verify.as_secs_f64()),
        format!("{:.3} s sha256sum reading chain.tsv and events.canonical once", bare.as_secs_f64()),
        format!("{:.0}×", verify.as_secs_f64() / bare.as_secs_f64().max(1e-6)),
    );
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(())
}
