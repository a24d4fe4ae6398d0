//! `holdfast events`: a co-worker's system events (or everyone's), newest first.

use anyhow::Result;
use clap::Args;
use holdfast_core::coworker::Actor;
use holdfast_core::event::EventFilter;
use holdfast_core::time::{format_timestamp, parse_timestamp};
use holdfast_core::{CoreError, Holdfast};
use holdfast_store::Store;

#[derive(Args)]
pub struct EventsArgs {
    /// Co-worker email or id (omit for everyone's: admins only).
    #[arg(long)]
    pub coworker: Option<String>,
    /// Only events at or after this time (2026-11-01 or RFC 3339).
    #[arg(long)]
    pub since: Option<String>,
    #[arg(long)]
    pub until: Option<String>,
    /// Only this action, e.g. record.read or export.create.
    #[arg(long)]
    pub action: Option<String>,
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
    /// One JSON object a line instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(services: &Holdfast<Store>, me: &Actor, args: &EventsArgs) -> Result<()> {
    let mut filter = EventFilter { limit: args.limit, action: args.action.clone(), ..Default::default() };
    if let Some(s) = &args.since {
        filter.since = Some(parse_timestamp(s).map_err(|r| CoreError::invalid("since", r))?);
    }
    if let Some(u) = &args.until {
        filter.until = Some(parse_timestamp(u).map_err(|r| CoreError::invalid("until", r))?);
    }
    let events = match &args.coworker {
        Some(who) => services.coworker_events(me, who, filter)?,
        None => services.events(me, &filter)?,
    };
    for e in &events {
        if args.json {
            println!("{}", e.to_json());
        } else {
            let ev = &e.event;
            println!(
                "{}\t{}\t{}\t{}\t{}\trows={}\t{}",
                e.seq,
                format_timestamp(ev.at),
                ev.action,
                ev.object_type.as_deref().unwrap_or("-"),
                ev.object_id.as_deref().unwrap_or("-"),
                ev.row_count,
                ev.details
            );
        }
    }
    if events.is_empty() {
        eprintln!("no events match");
    }
    Ok(())
}
