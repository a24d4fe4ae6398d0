//! `holdfast-bench restart`: the first reads after a restart beside the same server's steady
//! state. Every co-worker's first read of the day needs their reading baseline (everyone's rows
//! read per day over 90 days, from the event log); this times those first reads with the
//! warm-up `holdfast serve` starts, without it, and once everything is warm.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use holdfast_core::Holdfast;
use holdfast_core::coworker::Actor;
use holdfast_core::event::NewEvent;
use holdfast_core::record::CONTACTS;
use holdfast_core::storage::Database;
use holdfast_core::time::{Clock, MICROS_PER_DAY, ManualClock, SystemClock};
use holdfast_store::{Location, Store};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use uuid::Uuid;

use crate::shared::*;

pub fn restart(events: usize, coworkers: usize, clients: usize, reads: usize) -> Result<()> {
    let tmp = std::env::temp_dir().join(format!("holdfast-bench-restart-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp)?;
    let path = Location::Sqlite(tmp.join("holdfast.db"));
    println!(
        "holdfast-bench restart: {events} read events over 90 days by {coworkers} co-workers; {clients} clients, \
         {reads} audited reads each, each client a different co-worker; SQLite; {}",
        tmp.display()
    );
    println!("build: {}", if cfg!(debug_assertions) { "debug (numbers are not representative)" } else { "release" });
    // The log grows in time order, as a server's does: the co-workers and contacts are made 90
    // days ago (a clock set back for them), then the 90 days of reading follow.
    let now = SystemClock.now();
    let (ids, contacts) = {
        let services = Holdfast::with_clock(Store::open(&path)?, Arc::new(ManualClock::at(now - 90 * MICROS_PER_DAY)));
        let ids: Vec<Uuid> =
            (0..coworkers).map(|i| add_rep(&services, &format!("rep{i}@example.com"))).collect::<Result<_>>()?;
        let inputs: Vec<_> = (0..2_000)
            .map(
                |i| serde_json::json!({"first_name": format!("Person{i}"), "last_name": "Example", "owner_id": ids[0]}),
            )
            .collect();
        let contacts: Vec<Uuid> = services.create_many(&Actor::operator(), &CONTACTS, &inputs)?;
        eprintln!("writing {events} hash-chained read events over the last 90 days…");
        let start = now - 89 * MICROS_PER_DAY;
        let step = (89 * MICROS_PER_DAY) / events.max(1) as i64;
        let mut i = 0;
        while i < events {
            let batch: Vec<NewEvent> = (i..(i + 10_000).min(events))
                .map(|j| NewEvent {
                    at: start + j as i64 * step,
                    coworker_id: Some(ids[j % ids.len()]),
                    action: if j % 10 == 0 { "list.read".into() } else { "record.read".into() },
                    object_type: Some("contact".into()),
                    object_id: Some(contacts[j % contacts.len()].to_string()),
                    row_count: if j % 10 == 0 { 50 } else { 1 },
                    client_addr: Some("10.1.2.3".into()),
                    user_agent: None,
                    details: serde_json::json!({"via": "session"}),
                })
                .collect();
            services
                .unaudited_database_for_benchmarks()
                .write(|tx| Ok(holdfast_core::service::append_events(tx, batch)?))?;
            i += 10_000;
        }
        services.shutdown();
        (ids, contacts)
    };

    // What the baselines cost on their own, on a fresh server.
    let fresh = Holdfast::new(Store::open(&path)?);
    let started = Instant::now();
    fresh.warm_up_read_meter()?;
    let baselines = started.elapsed();
    fresh.shutdown();
    drop(fresh);

    let phase = |services: &Arc<Holdfast<Store>>, seed: u64| -> Result<Vec<Duration>> {
        let actors: Vec<Actor> = (0..clients)
            .map(|c| services.actor_for(&format!("rep{}@example.com", c % ids.len())))
            .collect::<Result<_, _>>()?;
        let mut all = Vec::with_capacity(clients * reads);
        std::thread::scope(|scope| {
            let threads: Vec<_> = actors
                .iter()
                .enumerate()
                .map(|(c, me)| {
                    let contacts = &contacts;
                    scope.spawn(move || {
                        let mut rng = StdRng::seed_from_u64(seed + c as u64);
                        let mut lat = Vec::with_capacity(reads);
                        for _ in 0..reads {
                            let id = contacts[rng.random_range(0..contacts.len())];
                            let t = Instant::now();
                            let _ = services.get_record(me, &CONTACTS, id);
                            lat.push(t.elapsed());
                        }
                        lat
                    })
                })
                .collect();
            for t in threads {
                all.extend(t.join().unwrap_or_default());
            }
        });
        all.sort();
        Ok(all)
    };
    let describe = |lat: &[Duration], took: Duration| {
        format!(
            "p50 {:.2} ms, p99 {:.2} ms, max {:.0} ms; {:.0} reads/s",
            us(percentile(lat, 0.50)) / 1e3,
            us(percentile(lat, 0.99)) / 1e3,
            us(*lat.last().unwrap_or(&Duration::ZERO)) / 1e3,
            lat.len() as f64 / took.as_secs_f64()
        )
    };

    eprintln!("restart, as holdfast serve starts (the warm-up on its own thread), and read at once…");
    let served = Arc::new(Holdfast::new(Store::open(&path)?));
    let warm = Arc::clone(&served);
    let warming = std::thread::spawn(move || warm.warm_up_read_meter());
    let started = Instant::now();
    let first = phase(&served, 1)?;
    let first_took = started.elapsed();
    let _ = warming.join();
    eprintln!("the same server, warm…");
    let started = Instant::now();
    let steady = phase(&served, 2)?;
    let steady_took = started.elapsed();
    served.shutdown();
    drop(served);
    eprintln!("restart without the warm-up…");
    let cold = Arc::new(Holdfast::new(Store::open(&path)?));
    let started = Instant::now();
    let unwarmed = phase(&cold, 3)?;
    let unwarmed_took = started.elapsed();
    cold.shutdown();

    println!();
    println!("| figure | Holdfast | baseline | ratio |");
    println!("|---|---|---|---|");
    let p99 = |l: &[Duration]| us(percentile(l, 0.99));
    row(
        "first reads after a restart, with the warm-up serve starts",
        describe(&first, first_took),
        format!("the same server warm: {}", describe(&steady, steady_took)),
        format!("{:.2}× the warm p99", p99(&first) / p99(&steady)),
    );
    row(
        "first reads after a restart, no warm-up",
        describe(&unwarmed, unwarmed_took),
        format!("the same server warm: p99 {:.2} ms", p99(&steady) / 1e3),
        format!("{:.2}× the warm p99", p99(&unwarmed) / p99(&steady)),
    );
    row(
        "everyone's reading baselines worked out once (90 days of the log)",
        format!("{:.2} s", baselines.as_secs_f64()),
        "—".into(),
        "—".into(),
    );
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(())
}
