//! Coverage and walk-out exposure at scale: A accounts (five contacts each) and N activities over a
//! year by 50 reps with a manager in one meeting in ten, loaded with bare multi-row INSERTs (the
//! figure is the report, not the load). Timed, medians of three: the company-wide exposure report
//! and the company-wide coverage report through the service (each writes its `report.read`
//! event), beside one hand-written SQL aggregate that finds the same single-threaded accounts and
//! sums their value per co-worker on the same database in the same run; and one account's
//! coverage (the account page's panel) over 200 accounts, p50 and p99. `HOLDFAST_BENCH_KEEP=1`
//! keeps the SQLite database for a look at the query plans.

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use holdfast_core::Holdfast;
use holdfast_core::coworker::{Actor, Role};
use holdfast_core::record::Value;
use holdfast_core::service::{COVERAGE_WINDOW_DAYS, NewCoWorker};
use holdfast_core::time::MICROS_PER_DAY;
use holdfast_store::Store;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use uuid::Uuid;

use crate::shared::{bench_location, percentile, row};

const REPS: usize = 50;
const MANAGERS: usize = 5;
/// Rows per INSERT statement while loading.
const BATCH: usize = 400;

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// Inserts `rows` (each `width` values) into `table (columns)` with multi-row INSERTs.
fn insert_rows(store: &Store, table: &str, columns: &str, width: usize, rows: Vec<Vec<Value>>) -> Result<()> {
    for chunk in rows.chunks(BATCH * 250) {
        store.with_conn(true, |conn| {
            for batch in chunk.chunks(BATCH) {
                let mut params = Vec::with_capacity(batch.len() * width);
                let mut groups = Vec::with_capacity(batch.len());
                for r in batch {
                    let marks: Vec<String> = (0..width).map(|i| format!("${}", params.len() + i + 1)).collect();
                    groups.push(format!("({})", marks.join(", ")));
                    params.extend(r.iter().cloned());
                }
                conn.exec(&format!("INSERT INTO {table} ({columns}) VALUES {}", groups.join(", ")), &params)?;
            }
            Ok(())
        })?;
    }
    Ok(())
}

fn text(s: impl ToString) -> Value {
    Value::Text(s.to_string())
}

pub fn exposure(accounts: usize, activities: usize, postgres: Option<&str>) -> Result<()> {
    if accounts < 100 || activities < 1_000 {
        bail!("--accounts must be at least 100 and --activities at least 1000");
    }
    let (dir, location, backend) = bench_location("exposure", postgres)?;
    let contacts = accounts * 5;
    println!("holdfast-bench exposure: {accounts} accounts, {contacts} contacts, {activities} activities; {backend}");
    println!("build: {}", if cfg!(debug_assertions) { "debug (numbers are not representative)" } else { "release" });
    let services = Holdfast::new(Store::open(&location)?);
    let operator = Actor::operator();
    let add = |email: String, role: Role, manager: Option<String>| -> Result<Uuid> {
        let new = NewCoWorker {
            name: email.split('@').next().unwrap_or("x").into(),
            email,
            role,
            seniority: None,
            team: None,
            manager,
            title: None,
            password: None,
            password_must_change: false,
        };
        Ok(services.add_coworker(&operator, new)?.id)
    };
    let managers: Vec<Uuid> =
        (0..MANAGERS).map(|i| add(format!("manager{i}@example.com"), Role::Manager, None)).collect::<Result<_>>()?;
    let reps: Vec<Uuid> = (0..REPS)
        .map(|i| add(format!("rep{i}@example.com"), Role::Rep, Some(format!("manager{}@example.com", i % MANAGERS))))
        .collect::<Result<_>>()?;
    let store = services.unaudited_database_for_benchmarks();
    let now = services.now();
    let mut rng = StdRng::seed_from_u64(7);

    eprintln!("loading {accounts} accounts, {contacts} contacts, {activities} activities…");
    let loading = Instant::now();
    let tiers = ["strategic", "enterprise", "mid_market", "smb", "smb"];
    let account_ids: Vec<Uuid> = (0..accounts).map(|_| Uuid::now_v7()).collect();
    let owners: Vec<Uuid> = (0..accounts).map(|i| reps[i % REPS]).collect();
    let rows = account_ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            vec![
                text(id),
                Value::Int(now),
                Value::Int(now),
                text(format!("Account {i}")),
                text(tiers[i % tiers.len()]),
                text("customer"),
                Value::Int(100_000 * (1 + (i as i64 % 50))),
                text(owners[i]),
                text(format!("account {i}")),
            ]
        })
        .collect();
    insert_rows(
        store,
        "accounts",
        "id, created_at, updated_at, name, tier, lifecycle, annual_value, owner_id, search_text",
        9,
        rows,
    )?;
    let contact_ids: Vec<Uuid> = (0..contacts).map(|_| Uuid::now_v7()).collect();
    let rows = contact_ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            vec![
                text(id),
                Value::Int(now),
                Value::Int(now),
                text(account_ids[i / 5]),
                text(format!("P{i}")),
                text("Example"),
                text(owners[i / 5]),
                text("open"),
                text(format!("p{i} example")),
            ]
        })
        .collect();
    insert_rows(
        store,
        "contacts",
        "id, created_at, updated_at, account_id, first_name, last_name, owner_id, protocol, search_text",
        9,
        rows,
    )?;
    // A fifth of the accounts are worked by their owner alone; the rest see a second rep now and
    // then, and a manager at one meeting in ten.
    let year = 365 * MICROS_PER_DAY;
    let mut done = 0;
    while done < activities {
        let n = (activities - done).min(200_000);
        let mut acts = Vec::with_capacity(n);
        let mut links = Vec::with_capacity(n + n / 10);
        for _ in 0..n {
            let a = rng.random_range(0..accounts);
            let id = Uuid::now_v7();
            let lone = a % 5 == 0;
            let who = if lone || rng.random_range(0..4) != 0 { owners[a] } else { reps[rng.random_range(0..REPS)] };
            acts.push(vec![
                text(id),
                Value::Int(now),
                Value::Int(now),
                text("call"),
                Value::Int(now - rng.random_range(0..year)),
                text("Talked"),
                text(account_ids[a]),
                text(who),
            ]);
            let contact = contact_ids[a * 5 + if lone { 0 } else { rng.random_range(0..5) }];
            links.push(vec![text("activity"), text(id), text("contact_ids"), text(contact), Value::Int(0)]);
            if !lone && rng.random_range(0..10) == 0 {
                let m = managers[rng.random_range(0..MANAGERS)];
                links.push(vec![text("activity"), text(id), text("coworker_ids"), text(m), Value::Int(0)]);
            }
        }
        insert_rows(
            store,
            "activities",
            "id, created_at, updated_at, type, occurred_at, summary, account_id, owner_id",
            8,
            acts,
        )?;
        insert_rows(store, "record_links", "kind, record_id, field, target_id, position", 5, links)?;
        done += n;
        eprintln!("  {done} activities");
    }
    store.with_conn(true, |conn| conn.exec("ANALYZE", &[]).map(drop))?;
    eprintln!("loaded in {:.0} s", loading.elapsed().as_secs_f64());

    let since = now - COVERAGE_WINDOW_DAYS * MICROS_PER_DAY;
    // The floor: one aggregate that finds every account only one co-worker talks to in the window
    // and sums their annual value per co-worker, riskiest first.
    let aggregate = "WITH t AS ( \
           SELECT account_id, owner_id AS c FROM activities \
             WHERE deleted_at IS NULL AND account_id IS NOT NULL AND owner_id IS NOT NULL AND occurred_at >= $1 \
           UNION ALL \
           SELECT a.account_id, l.target_id FROM record_links l JOIN activities a ON a.id = l.record_id \
             WHERE l.kind = 'activity' AND l.field = 'coworker_ids' AND a.deleted_at IS NULL \
               AND a.account_id IS NOT NULL AND a.occurred_at >= $1), \
         s AS (SELECT account_id, min(c) AS c FROM t GROUP BY account_id HAVING count(DISTINCT c) = 1) \
         SELECT s.c, count(*), CAST(sum(coalesce(a.annual_value, 0)) AS BIGINT) AS v FROM s JOIN accounts a ON a.id = s.account_id \
           WHERE a.deleted_at IS NULL GROUP BY s.c ORDER BY v DESC";
    let mut bare = Vec::new();
    let mut bare_rows = 0;
    for _ in 0..3 {
        let started = Instant::now();
        let rows = store.with_conn(false, |conn| conn.rows(aggregate, &[Value::Int(since)]))?;
        bare.push(started.elapsed());
        bare_rows = rows.iter().map(|r| r.get(1).and_then(Value::as_int).unwrap_or(0)).sum::<i64>();
    }
    let mut report = Vec::new();
    let mut exposed = 0;
    for _ in 0..3 {
        let started = Instant::now();
        let list = services.exposure(&operator)?;
        report.push(started.elapsed());
        exposed = list.iter().map(|e| e.accounts.len() as i64).sum::<i64>();
    }
    if exposed != bare_rows {
        bail!("the report found {exposed} single-threaded accounts, the aggregate {bare_rows}");
    }
    let mut table = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        let rows = services.coverage_report(&operator)?;
        table.push(started.elapsed());
        if rows.len() != accounts {
            bail!("the coverage report has {} of {accounts} accounts", rows.len());
        }
    }
    let mut one = Vec::new();
    for i in 0..200 {
        let started = Instant::now();
        services.account_coverage(&operator, account_ids[(i * 7_919) % accounts])?;
        one.push(started.elapsed());
    }
    one.sort();
    let (bare, report, table) = (median(bare), median(report), median(table));

    println!();
    println!("| figure | Holdfast | baseline | ratio |");
    println!("|---|---|---|---|");
    row(
        &format!(
            "company-wide walk-out exposure, {accounts} accounts / {activities} activities, {exposed} single-threaded ({backend})"
        ),
        format!("{:.2} s", report.as_secs_f64()),
        format!("one hand-written aggregate {:.2} s", bare.as_secs_f64()),
        format!("{:.2}x", report.as_secs_f64() / bare.as_secs_f64()),
    );
    row(
        &format!("company-wide coverage report (score and reason for every account, {backend})"),
        format!("{:.2} s", table.as_secs_f64()),
        format!("one hand-written aggregate {:.2} s", bare.as_secs_f64()),
        format!("{:.2}x", table.as_secs_f64() / bare.as_secs_f64()),
    );
    row(
        &format!("one account's coverage (account page panel), 200 accounts ({backend})"),
        format!(
            "p50 {:.1} ms, p99 {:.1} ms",
            percentile(&one, 0.5).as_secs_f64() * 1e3,
            percentile(&one, 0.99).as_secs_f64() * 1e3
        ),
        "-".into(),
        "-".into(),
    );
    // What keeping the relationships costs a write: logging an activity with a co-worker taking
    // part, through the service, with the triggers that keep them, and then without them (dropped
    // for the measurement; the database is the benchmark's own).
    let log = |label: &str| -> Result<Vec<Duration>> {
        let mut times = Vec::with_capacity(500);
        for i in 0..500 {
            let a = account_ids[(i * 104_729) % accounts];
            let body = serde_json::json!({"type": "call", "summary": label, "account_id": a.to_string(),
                "owner_id": reps[i % REPS].to_string(), "coworker_ids": [managers[i % MANAGERS].to_string()]});
            let started = Instant::now();
            services.create_record(&operator, &holdfast_core::record::ACTIVITIES, &body)?;
            times.push(started.elapsed());
        }
        times.sort();
        Ok(times)
    };
    let kept = log("with the relationships kept")?;
    let drops: &[&str] = if postgres.is_some() {
        &[
            "DROP TRIGGER account_relationships_activity ON activities",
            "DROP TRIGGER account_relationships_link_insert ON record_links",
            "DROP TRIGGER account_relationships_link_delete ON record_links",
        ]
    } else {
        &[
            "DROP TRIGGER account_relationships_activity_insert",
            "DROP TRIGGER account_relationships_activity_update",
            "DROP TRIGGER account_relationships_activity_delete",
            "DROP TRIGGER account_relationships_link_insert",
            "DROP TRIGGER account_relationships_link_delete",
        ]
    };
    store.with_conn(true, |conn| {
        for d in drops {
            conn.exec(d, &[])?;
        }
        Ok(())
    })?;
    let bare = log("without")?;
    row(
        &format!("logging one activity with a co-worker taking part (service create, 500 calls, {backend})"),
        format!(
            "p50 {:.2} ms, p99 {:.2} ms",
            percentile(&kept, 0.5).as_secs_f64() * 1e3,
            percentile(&kept, 0.99).as_secs_f64() * 1e3
        ),
        format!(
            "without the relationship triggers p50 {:.2} ms, p99 {:.2} ms",
            percentile(&bare, 0.5).as_secs_f64() * 1e3,
            percentile(&bare, 0.99).as_secs_f64() * 1e3
        ),
        format!("{:.2}x", percentile(&kept, 0.5).as_secs_f64() / percentile(&bare, 0.5).as_secs_f64()),
    );
    if postgres.is_none() && std::env::var_os("HOLDFAST_BENCH_KEEP").is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(())
}
