//! `holdfast-bench web`: server time of pages through the real router, beside the bare SQL the
//! same page needs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use holdfast_core::Holdfast;
use holdfast_core::coworker::Actor;
use holdfast_store::{Location, Store};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use crate::shared::*;

/// `holdfast-bench web`: server time of pages (request in, HTML out, through the real router with
/// its system events) beside the bare SQL the same page needs.
pub fn web(requests: usize) -> Result<()> {
    use holdfast_core::demo::{DEMO_PASSWORD, DemoSize};
    use tower::ServiceExt;
    let tmp = std::env::temp_dir().join(format!("holdfast-bench-web-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp)?;
    let db = tmp.join("holdfast.db");
    println!("holdfast-bench web: the demo company, {requests} requests a page; SQLite backend");
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
