//! The guard's figures, each beside its baseline in the same run: exporting N contacts to CSV
//! (beside `sqlite3 -csv` of the same columns from the same file) and to XLSX, with the peak
//! memory the export added; detector evaluation over a replay of M events (beside a bare pass
//! that only adds each event's rows to its co-worker's day); and the time from the request that
//! raises an alert to the webhook's arrival at a local receiver while the server serves.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use holdfast_core::Holdfast;
use holdfast_core::coworker::Actor;
use holdfast_core::guard::{ExportFormat, median_and_mad, volume_threshold_beside};
use holdfast_core::record::CONTACTS;
use holdfast_core::service::{ExportAsk, ListRequest, SettingsChange};
use holdfast_store::{Location, Store};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use crate::shared::{import_all, make_csv, percentile, row};

/// Peak resident memory of this process so far (VmHWM), in MiB.
pub(crate) fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kb / 1024.0
}

/// Resets the peak to the current resident memory (Linux: `clear_refs` 5).
pub(crate) fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

pub(crate) fn current_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

pub fn guard(contacts: usize, events: usize) -> Result<()> {
    let dir = std::env::temp_dir().join(format!("holdfast-bench-guard-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let db = dir.join("holdfast.db");
    println!("holdfast-bench guard: {contacts} contacts, {events} replayed events; SQLite; {}", dir.display());
    println!("build: {}", if cfg!(debug_assertions) { "debug (numbers are not representative)" } else { "release" });
    let services = Arc::new(Holdfast::new(Store::open(&Location::Sqlite(db.clone()))?));
    let operator = Actor::operator();
    eprintln!("importing {contacts} contacts…");
    import_all(&services, &make_csv(contacts), contacts)?;

    println!();
    println!("| figure | Holdfast | baseline | ratio |");
    println!("|---|---|---|---|");
    let columns =
        ["id", "first_name", "last_name", "email", "phone", "title", "account_id", "created_at", "updated_at"];
    let ask = |format| ExportAsk {
        kind: &CONTACTS,
        list: ListRequest::default(),
        ids: None,
        limit: Some(i64::try_from(contacts).unwrap_or(i64::MAX)),
        format,
        columns: Some(columns.iter().map(|c| c.to_string()).collect()),
        reason: None,
    };
    for format in [ExportFormat::Csv, ExportFormat::Xlsx] {
        reset_peak_rss();
        let before = current_rss_mib();
        let started = Instant::now();
        let file = match services.export_now(&operator, &ask(format))? {
            Ok(file) => file,
            Err(_) => bail!("the operator's export waited for approval"),
        };
        let took = started.elapsed();
        let added = peak_rss_mib() - before;
        if file.rows != i64::try_from(contacts).unwrap_or(0) {
            bail!("exported {} rows of {contacts}", file.rows);
        }
        let name = format!("export {contacts} contacts to {} ({} MB)", format.as_str(), file.bytes / 1_000_000);
        if format == ExportFormat::Csv {
            // The same columns, the same order, straight out of the same file by the sqlite3 shell.
            let select = format!(
                "SELECT id, first_name, last_name, email, phone, title, account_id, created_at, updated_at \
                 FROM contacts WHERE deleted_at IS NULL ORDER BY last_name, id LIMIT {contacts};"
            );
            let out = dir.join("baseline.csv");
            let started = Instant::now();
            let status = std::process::Command::new("sqlite3")
                .args(["-csv", "-header"])
                .arg(&db)
                .arg(&select)
                .stdout(std::fs::File::create(&out)?)
                .status()
                .context("running sqlite3 (apt-get install sqlite3)")?;
            let baseline = started.elapsed();
            if !status.success() {
                bail!("sqlite3 failed");
            }
            row(
                &format!("{name}; memory added {added:.0} MiB"),
                format!("{:.2} s ({:.0} rows/s)", took.as_secs_f64(), contacts as f64 / took.as_secs_f64()),
                format!("`sqlite3 -csv` {:.2} s", baseline.as_secs_f64()),
                format!("{:.2}x", took.as_secs_f64() / baseline.as_secs_f64()),
            );
        } else {
            row(
                &format!("{name}; memory added {added:.0} MiB"),
                format!("{:.2} s ({:.0} rows/s)", took.as_secs_f64(), contacts as f64 / took.as_secs_f64()),
                "—".into(),
                "—".into(),
            );
        }
    }

    replay(events);
    webhook_latency(&services)?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Detector evaluation over a replay: events of 500 co-workers over 120 days, folded into rows
/// per co-worker and day, and every co-worker's every day from the 91st judged against their own
/// preceding 90 days and their peers' (the statistics `holdfast_core::guard` uses). Beside it, the
/// bare pass that only folds the events.
fn replay(events: usize) {
    const PEOPLE: usize = 500;
    const DAYS: usize = 120;
    let mut rng = StdRng::seed_from_u64(3);
    let generated: Vec<(u16, u16, u32)> = (0..events)
        .map(|_| {
            let who = rng.random_range(0..PEOPLE) as u16;
            let day = rng.random_range(0..DAYS) as u16;
            let rows = if rng.random_range(0..20) == 0 { rng.random_range(10..50) } else { 1 };
            (who, day, rows)
        })
        .collect();

    // The physical floor: touching each event once, adding its rows to its co-worker's day.
    let started = Instant::now();
    let mut bare = vec![vec![0i64; DAYS]; PEOPLE];
    for (who, day, rows) in &generated {
        bare[usize::from(*who)][usize::from(*day)] += i64::from(*rows);
    }
    let bare_time = started.elapsed();
    std::hint::black_box(&bare);

    let started = Instant::now();
    let mut days = vec![vec![0i64; DAYS]; PEOPLE];
    for (who, day, rows) in &generated {
        days[usize::from(*who)][usize::from(*day)] += i64::from(*rows);
    }
    let mut raised = 0usize;
    for day in 90..DAYS {
        let peers: Vec<i64> = days.iter().flat_map(|d| d[day - 90..day].iter().copied()).filter(|r| *r > 0).collect();
        let (peer_median, _) = median_and_mad(&peers);
        for person in &days {
            let own: Vec<i64> = person[day - 90..day].iter().copied().filter(|r| *r > 0).collect();
            if person[day] >= volume_threshold_beside(&own, peer_median).rows {
                raised += 1;
            }
        }
    }
    let took = started.elapsed();
    row(
        &format!("detectors over a replay of {events} events (500 co-workers, 30 days judged; {raised} alerts)"),
        format!("{:.2} s ({:.1} M events/s)", took.as_secs_f64(), events as f64 / took.as_secs_f64() / 1e6),
        format!("the fold alone {:.2} s", bare_time.as_secs_f64()),
        format!("{:.2}x", took.as_secs_f64() / bare_time.as_secs_f64()),
    );
}

/// From the request that raises an alert (an export past the rep's limit, answered 202) to the
/// signed webhook arriving at a local receiver, with the server's delivery loop running.
fn webhook_latency(services: &Arc<Holdfast<Store>>) -> Result<()> {
    const ROUNDS: usize = 50;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let arrived: Arc<Mutex<Vec<Instant>>> = Arc::default();
        let keep = arrived.clone();
        let receiver = axum::Router::new().route(
            "/hook",
            axum::routing::post(move || {
                let keep = keep.clone();
                async move {
                    if let Ok(mut a) = keep.lock() {
                        a.push(Instant::now());
                    }
                    axum::http::StatusCode::NO_CONTENT
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/hook", listener.local_addr()?);
        tokio::spawn(async move { axum::serve(listener, receiver).await });
        let s = services.clone();
        tokio::task::spawn_blocking(move || {
            let change = SettingsChange {
                alert_webhook_url: Some(url),
                alert_webhook_secret: Some("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into()),
                ..Default::default()
            };
            s.change_settings(&Actor::operator(), &change)
        })
        .await??;
        let rep = crate::shared::bench_rep(services)?;
        tokio::spawn(holdfast_web::deliver_alerts(services.clone()));
        let mut latencies = Vec::with_capacity(ROUNDS);
        for _ in 0..ROUNDS {
            let before = arrived.lock().map(|a| a.len()).unwrap_or(0);
            let (s, r) = (services.clone(), rep.clone());
            let started = Instant::now();
            let e = tokio::task::spawn_blocking(move || {
                let ask = ExportAsk {
                    kind: &CONTACTS,
                    list: ListRequest::default(),
                    ids: None,
                    limit: Some(2_000),
                    format: ExportFormat::Csv,
                    columns: None,
                    reason: None,
                };
                s.request_export(&r, &ask)
            })
            .await??;
            if e.status != holdfast_core::guard::ExportStatus::Pending {
                bail!("the export did not wait for approval: {:?}", e.status);
            }
            loop {
                if let Some(at) = arrived.lock().ok().and_then(|a| a.get(before).copied()) {
                    latencies.push(at - started);
                    break;
                }
                if started.elapsed() > Duration::from_secs(30) {
                    bail!("no webhook arrived within 30 s");
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
        latencies.sort();
        row(
            &format!("request that raises an alert → signed webhook received ({ROUNDS} alerts)"),
            format!(
                "p50 {:.0} ms, p99 {:.0} ms",
                percentile(&latencies, 0.5).as_secs_f64() * 1e3,
                percentile(&latencies, 0.99).as_secs_f64() * 1e3
            ),
            "goal: p99 under 2 s".into(),
            "—".into(),
        );
        Ok(())
    })
}
