//! `holdfast coverage`: walk-out exposure (who would take customers with them if they left
//! today) and one account's coverage.

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
    }
    Ok(())
}
