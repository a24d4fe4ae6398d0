//! `holdfast departure`: record a departure, list the cases, show one, end access, call it off.

use anyhow::Result;
use clap::Subcommand;
use holdfast_core::coworker::Actor;
use holdfast_core::departure::{Reason, STEPS, Source};
use holdfast_core::service::{DepartureView, NewDeparture};
use holdfast_core::time::format_timestamp;
use holdfast_core::{CoreError, Holdfast};
use holdfast_store::Store;
use uuid::Uuid;

#[derive(Subcommand)]
pub enum DepartureCmd {
    /// Record that a co-worker leaves: they become departing (the guard's watchlist applies), a
    /// case opens, and access ends when the last day is over (at once for a termination).
    Start {
        /// Email or id of the co-worker who leaves.
        coworker: String,
        /// Their last working day, YYYY-MM-DD.
        #[arg(long)]
        last_day: String,
        /// resignation, termination, retirement or other.
        #[arg(long, default_value = "resignation")]
        reason: String,
        /// When they gave (or were given) notice, YYYY-MM-DD; today when not given.
        #[arg(long)]
        notice_date: Option<String>,
        /// Where they go, if known.
        #[arg(long)]
        destination: Option<String>,
        /// They do not leave on good terms (no introductions are asked of them).
        #[arg(long)]
        not_on_good_terms: bool,
    },
    /// Open cases, one a line (all of them with --all).
    List {
        #[arg(long)]
        all: bool,
    },
    /// One case, step by step.
    Show {
        /// The case id, or the co-worker's email (their open case).
        case: String,
    },
    /// End the co-worker's access now.
    EndAccess { case: String },
    /// Call the case off: the co-worker stays.
    Cancel {
        case: String,
        #[arg(long, default_value = "")]
        reason: String,
    },
}

pub fn run(services: &Holdfast<Store>, me: &Actor, cmd: &DepartureCmd) -> Result<()> {
    match cmd {
        DepartureCmd::Start { coworker, last_day, reason, notice_date, destination, not_on_good_terms } => {
            let new = NewDeparture {
                notice_date: notice_date.clone(),
                last_day: last_day.clone(),
                reason: Reason::parse(reason).map_err(|r| CoreError::invalid("reason", r))?,
                destination: destination.clone(),
                good_terms: !not_on_good_terms,
                source: Source::Manual,
            };
            let case = services.start_departure(me, coworker, new)?;
            let view = services.departure(me, case.id)?;
            println!("{}", case.id);
            eprintln!(
                "{} is {} (last day {}, access ends {} UTC); they own {} records to hand over",
                view.coworker.name,
                view.coworker.status.as_str(),
                case.last_day,
                format_timestamp(case.access_ends_at),
                view.owned_total()
            );
        }
        DepartureCmd::List { all } => {
            for v in services.list_departures(me, *all)? {
                println!(
                    "{}\t{}\t{}\t{}\tlast day {}\t{}/{} steps\t{} records still owned\t{} open alerts",
                    v.case.id,
                    v.coworker.email,
                    v.case.status.as_str(),
                    v.case.reason.as_str(),
                    v.case.last_day,
                    v.progress(),
                    STEPS.len(),
                    v.owned_total(),
                    v.open_alerts
                );
            }
        }
        DepartureCmd::Show { case } => {
            let v = services.departure(me, case_id(services, me, case)?)?;
            show(&v);
        }
        DepartureCmd::EndAccess { case } => {
            let id = case_id(services, me, case)?;
            services.end_departure_access(me, id)?;
            show(&services.departure(me, id)?);
        }
        DepartureCmd::Cancel { case, reason } => {
            let c = services.cancel_departure(me, case_id(services, me, case)?, reason)?;
            eprintln!("case {} is {}", c.id, c.status.as_str());
        }
    }
    Ok(())
}

/// A case id, or the open case of the co-worker with this email.
fn case_id(services: &Holdfast<Store>, me: &Actor, text: &str) -> Result<Uuid> {
    if let Ok(id) = Uuid::parse_str(text.trim()) {
        return Ok(id);
    }
    let found =
        services.list_departures(me, false)?.into_iter().find(|v| v.coworker.email.eq_ignore_ascii_case(text.trim()));
    Ok(found.map(|v| v.case.id).ok_or_else(|| CoreError::not_found("open departure case of", text))?)
}

fn show(v: &DepartureView) {
    println!("{} ({}) - {} - {}", v.coworker.name, v.coworker.email, v.case.reason.as_str(), v.case.status.as_str());
    println!(
        "notice {}  last day {}  access ends {} UTC",
        v.case.notice_date,
        v.case.last_day,
        format_timestamp(v.case.access_ends_at)
    );
    for (name, label) in STEPS {
        let done = match name {
            "notice" => {
                v.notice.as_ref().map(|n| format!("{} (version {})", format_timestamp(n.at), n.version.unwrap_or(0)))
            }
            other => v.case.step(other).map(|s| {
                let by = s.by.and_then(|b| v.names.get(&b).cloned()).unwrap_or_else(|| "the operator".into());
                format!("{} by {by}", format_timestamp(s.at))
            }),
        };
        println!(
            "[{}] {label}{}",
            if done.is_some() { "x" } else { " " },
            done.map(|d| format!(": {d}")).unwrap_or_default()
        );
    }
    let owned: Vec<String> = v.owned.iter().map(|(k, n)| format!("{n} {}", k.plural)).collect();
    println!("still owned: {}", if owned.is_empty() { "nothing".into() } else { owned.join(", ") });
}
