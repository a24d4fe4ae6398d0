//! Leads at scale: a million contacts, then the capture path a web form, the API and the import
//! use — matched against those contacts and the leads already in, scored, routed among 20 reps by
//! rules and a weighted round-robin with caps, the owner's notification written — each beside a
//! bare `INSERT` of the same lead row on the same database in the same run.
//!
//! Figures: one routing decision (a lead captured through the API path), a public form post to the
//! owner's notification, and a CSV import of leads half of which match a customer contact.

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use holdfast_core::Holdfast;
use holdfast_core::coworker::Actor;
use holdfast_core::lead::{LeadRules, PoolMember, RouteRule};
use holdfast_core::record::Value;
use holdfast_core::service::{Door, ImportOptions, NewLeadForm, Submission};
use holdfast_store::Store;
use serde_json::json;

use crate::shared::{COMPANIES, add_rep, bench_location, import_all, make_csv, percentile, row, us};

fn bare_insert(store: &Store, n: usize, tag: &str) -> Result<Duration> {
    let started = Instant::now();
    store.with_conn(true, |conn| {
        for i in 0..n {
            conn.exec(
                "INSERT INTO leads (id, created_at, updated_at, first_name, last_name, email, status, owner_id, score, search_text) \
                 VALUES ($1, $2, $2, $3, 'Bare', $4, 'new', NULL, 0, '')",
                &[
                    Value::Text(uuid::Uuid::now_v7().to_string()),
                    Value::Int(1),
                    Value::Text(format!("{tag}{i}")),
                    Value::Text(format!("{tag}{i}@bare.example")),
                ],
            )?;
        }
        Ok(())
    })?;
    Ok(started.elapsed())
}

/// One bare single-row INSERT per transaction, `n` times: sorted latencies.
fn bare_single_inserts(store: &Store, n: usize, tag: &str) -> Result<Vec<Duration>> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let started = Instant::now();
        bare_insert(store, 1, &format!("{tag}{i}-"))?;
        out.push(started.elapsed());
    }
    out.sort();
    Ok(out)
}

pub fn leads(contacts: usize, decisions: usize, import_rows: usize, postgres: Option<&str>) -> Result<()> {
    let (dir, location, backend) = bench_location("leads", postgres)?;
    println!(
        "holdfast-bench leads: {contacts} contacts, {decisions} routing decisions, {import_rows} imported leads; {backend}"
    );
    println!("build: {}", if cfg!(debug_assertions) { "debug (numbers are not representative)" } else { "release" });
    let services = Holdfast::new(Store::open(&location)?);
    let operator = Actor::operator();
    let mut reps = Vec::new();
    for i in 0..20 {
        reps.push(add_rep(&services, &format!("rep{i}@example.com"))?);
    }
    let rules = LeadRules {
        routing: vec![RouteRule {
            name: "Nordics".into(),
            country: vec!["Norway".into(), "Sweden".into()],
            industry: Vec::new(),
            companies: Vec::new(),
            to: reps[..3].to_vec(),
        }],
        round_robin: reps
            .iter()
            .enumerate()
            .map(|(i, id)| PoolMember { coworker_id: *id, weight: 1 + (i % 3) as i64, cap: (i % 5 == 0).then_some(50) })
            .collect(),
        ..LeadRules::default()
    };
    services.set_lead_rules(&operator, rules)?;
    eprintln!("importing {contacts} contacts…");
    import_all(&services, &make_csv(contacts), contacts)?;
    let store = services.unaudited_database_for_benchmarks();

    // One routing decision: a lead through the API's capture (match against leads, contacts and
    // accounts; score; rules, then the round-robin with caps; insert; event; notification).
    let mut took = Vec::with_capacity(decisions);
    for i in 0..decisions {
        let country = if i % 5 == 0 { "Norway" } else { "United States" };
        let fields = json!({"first_name": format!("Lead{i}"), "last_name": "Example", "email": format!("lead{i}@prospect{}.com", i % 997),
                            "company": format!("Prospect {}", i % 997), "title": "VP Operations", "country": country, "phone": format!("+1 555 {i:07}")});
        let started = Instant::now();
        let captured = services.capture_lead(&operator, &fields, Door::Api)?;
        took.push(started.elapsed());
        if captured.lead.owner(&holdfast_core::record::LEADS).is_none() {
            bail!("lead {i} was not routed");
        }
    }
    took.sort();
    let bare = bare_single_inserts(store, decisions.min(2_000), "single")?;
    println!();
    println!("| figure | Holdfast | baseline | ratio |");
    println!("|---|---|---|---|");
    row(
        &format!(
            "routing decision: a lead captured, matched against {contacts} contacts, scored, routed among 20 reps, notified ({backend})"
        ),
        format!("p50 {:.0} µs, p99 {:.0} µs", us(percentile(&took, 0.5)), us(percentile(&took, 0.99))),
        format!(
            "bare one-row `INSERT` transaction p50 {:.0} µs, p99 {:.0} µs",
            us(percentile(&bare, 0.5)),
            us(percentile(&bare, 0.99))
        ),
        format!("{:.1}x at p99", us(percentile(&took, 0.99)) / us(percentile(&bare, 0.99)).max(1.0)),
    );

    // A public form post to the owner's notification (written in the same transaction).
    let form = services.create_lead_form(
        &operator,
        NewLeadForm { name: "Bench".into(), fields: vec!["company".into()], redirect_url: None },
    )?;
    let mut posts = Vec::with_capacity(decisions);
    for i in 0..decisions {
        let mut values = std::collections::BTreeMap::new();
        values.insert("first_name".to_string(), format!("Web{i}"));
        values.insert("email".to_string(), format!("web{i}@visitor{}.com", i % 499));
        values.insert("company".to_string(), format!("Visitor {}", i % 499));
        let post = Submission {
            values,
            client_addr: Some(format!("10.{}.{}.{}", i / 65_536 % 256, i / 256 % 256, i % 256)),
            user_agent: None,
        };
        let started = Instant::now();
        services.submit_lead_form(form.id, post)?;
        posts.push(started.elapsed());
    }
    posts.sort();
    let notified = store.with_conn(false, |conn| {
        let rows = conn.rows("SELECT COUNT(*) FROM notifications WHERE kind = 'lead.assigned'", &[])?;
        Ok(rows.first().and_then(|r| r.first()).and_then(|v| v.as_int()).unwrap_or(0))
    })?;
    if notified < (2 * decisions) as i64 {
        bail!("only {notified} owners were told of {} leads", 2 * decisions);
    }
    row(
        &format!("public form post to the owner's notification, through the service ({backend})"),
        format!(
            "p50 {:.0} µs, p99 {:.0} µs (goal: under 1 s)",
            us(percentile(&posts, 0.5)),
            us(percentile(&posts, 0.99))
        ),
        format!("bare one-row `INSERT` transaction p99 {:.0} µs", us(percentile(&bare, 0.99))),
        format!("{:.1}x at p99", us(percentile(&posts, 0.99)) / us(percentile(&bare, 0.99)).max(1.0)),
    );

    // A CSV import of leads, half of them customer contacts' emails.
    let mut csv = Vec::with_capacity(import_rows * 120);
    let _ = writeln!(csv, "First Name,Last Name,Email,Company Name,Job Title,Number of Employees,Country");
    for i in 0..import_rows {
        let c = i % COMPANIES;
        // make_csv's contact i has the email first.last.i@company{i % COMPANIES}.com; the first
        // names and last names are random, so match on the imported contacts' own addresses.
        if i % 2 == 0 && i < contacts {
            let _ = writeln!(csv, "Known{i},Contact,CONTACT_EMAIL_{i},Company {c} Inc,CFO,250,United States");
        } else {
            let _ = writeln!(
                csv,
                "New{i},Prospect,new{i}@fresh{}.com,Fresh {} Ltd,Director of IT,80,Sweden",
                i % 2_000,
                i % 2_000
            );
        }
    }
    // Swap in real contact emails for the placeholders.
    let emails: Vec<String> = store.with_conn(false, |conn| {
        let rows = conn.rows(&format!("SELECT email FROM contacts ORDER BY id LIMIT {}", import_rows), &[])?;
        Ok(rows.iter().filter_map(|r| r.first().and_then(|v| v.as_text()).map(String::from)).collect())
    })?;
    let mut text = String::from_utf8(csv)?;
    for (i, e) in emails.iter().enumerate() {
        if i % 2 == 0 {
            text = text.replacen(&format!("CONTACT_EMAIL_{i},"), &format!("{e},"), 1);
        }
    }
    let started = Instant::now();
    let report = services.import_leads(&operator, text.as_bytes(), &ImportOptions::default())?;
    let import_took = started.elapsed();
    if report.created as usize != import_rows || !report.rejected.is_empty() {
        bail!("the import made {} of {import_rows} leads: {:?}", report.created, report.rejected.first());
    }
    let bare_import = bare_insert(store, import_rows, "bulk")?;
    row(
        &format!(
            "CSV import of {import_rows} leads ({} linked to customer contacts), each matched against {contacts} contacts, scored and routed, one transaction ({backend})",
            report.linked_to_contacts
        ),
        format!("{:.2} s ({:.0} rows/s)", import_took.as_secs_f64(), import_rows as f64 / import_took.as_secs_f64()),
        format!(
            "bare `INSERT` of the same rows {:.2} s ({:.0} rows/s)",
            bare_import.as_secs_f64(),
            import_rows as f64 / bare_import.as_secs_f64()
        ),
        format!("{:.1}x", import_took.as_secs_f64() / bare_import.as_secs_f64()),
    );
    if postgres.is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(())
}
