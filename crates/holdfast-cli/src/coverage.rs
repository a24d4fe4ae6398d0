//! `holdfast coverage`: walk-out exposure (who would take customers with them if they left
//! today), one account's coverage, every account by coverage, and the renewal calendar.

use anyhow::Result;
use clap::Subcommand;
use holdfast_core::coworker::Actor;
use holdfast_core::record::ACCOUNTS;
use holdfast_core::service::ListRequest;
use holdfast_core::time::format_timestamp;
use holdfast_core::{CoreError, Holdfast};
use holdfast_store::Store;
use uuid::Uuid;

#[derive(Subcommand)]
pub enum CoverageCmd {
    /// One co-worker a line, riskiest first: email, accounts only they cover (activities in the
    /// last 180 days), annual value at stake; with --coworker, that co-worker's exposed accounts.
    Exposure {
        #[arg(long)]
        coworker: Option<String>,
    },
    /// One account's coverage: score, reason, who talks to it.
    Account {
        /// The account's id or exact name.
        account: String,
    },
    /// Every account by coverage, weakest first: id, score, name, annual value, reason.
    Accounts {
        /// Only accounts hanging on one co-worker (`single`) or overdue for senior contact (`senior`).
        #[arg(long, value_parser = ["single", "senior"])]
        only: Option<String>,
        /// At most this many lines.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Contracts renewing in the next DAYS days, soonest first, with their account's coverage.
    Renewals {
        #[arg(long, default_value_t = 90)]
        days: i64,
    },
}

fn money(cents: i64) -> String {
    format!("{}.{:02}", cents / 100, cents.rem_euclid(100))
}

pub fn run(services: &Holdfast<Store>, me: &Actor, cmd: &CoverageCmd) -> Result<()> {
    match cmd {
        CoverageCmd::Exposure { coworker: None } => {
            for e in services.exposure(me)? {
                println!("{}\t{}\t{}", e.email, e.accounts.len(), money(e.value_at_stake));
            }
        }
        CoverageCmd::Exposure { coworker: Some(who) } => {
            let list = services.exposure(me)?;
            let Some(e) = list
                .iter()
                .find(|e| e.email.eq_ignore_ascii_case(who.trim()) || e.coworker_id.to_string() == who.trim())
            else {
                eprintln!("{who} holds the only live relationship with no account");
                return Ok(());
            };
            for a in &e.accounts {
                println!(
                    "{}\t{}\t{}\topen pipeline {}\trenewals in 90 days {}\tlast touch {}",
                    a.id,
                    a.name,
                    money(a.annual_value),
                    money(a.open_pipeline),
                    a.renewals,
                    format_timestamp(a.last_touch)
                );
            }
            eprintln!(
                "{}: {} accounts only they cover, {} a year at stake",
                e.email,
                e.accounts.len(),
                money(e.value_at_stake)
            );
        }
        CoverageCmd::Account { account } => {
            let id = match Uuid::parse_str(account.trim()) {
                Ok(id) => id,
                Err(_) => {
                    let list = ListRequest { q: Some(account.clone()), limit: Some(20), ..Default::default() };
                    let page = services.list_records(me, &ACCOUNTS, &list)?;
                    page.items
                        .iter()
                        .find(|r| r.label(&ACCOUNTS).eq_ignore_ascii_case(account.trim()))
                        .map(|r| r.id)
                        .ok_or_else(|| CoreError::not_found("account", account))?
                }
            };
            let c = services.account_coverage(me, id)?;
            println!("score {} of 100: {}", c.score, c.reason);
            for (_, name, n) in &c.coworkers {
                println!("  {name}\t{n} {}", if *n == 1 { "activity" } else { "activities" });
            }
            println!(
                "contacts talked to: {}; last senior contact: {}",
                c.contacts,
                c.last_senior_contact.map(format_timestamp).unwrap_or_else(|| "never".into())
            );
        }
        CoverageCmd::Accounts { only, limit } => {
            let now = services.now();
            let rows = services.coverage_report(me)?;
            for r in rows
                .iter()
                .filter(|r| match only.as_deref() {
                    Some("single") => r.single_threaded(),
                    Some("senior") => r.senior_overdue(now),
                    _ => true,
                })
                .take(*limit)
            {
                println!(
                    "{}	{}	{}	{}	{}",
                    r.coverage.account,
                    r.coverage.score,
                    r.name,
                    money(r.annual_value),
                    r.coverage.reason
                );
            }
        }
        CoverageCmd::Renewals { days } => {
            let rows = services.renewals(me, *days)?;
            for r in &rows {
                println!(
                    "{}	{}	{}	{}	coverage {}	{}",
                    r.renewal.date,
                    r.renewal.account_name,
                    r.renewal.name,
                    money(r.renewal.value),
                    r.coverage.score,
                    r.coverage.reason
                );
            }
            eprintln!("{} contracts renew in the next {days} days", rows.len());
        }
    }
    Ok(())
}
