//! The guard from the command line: `holdfast alerts`, `holdfast exports` (list, approve, deny,
//! download) and `holdfast policy` (show, set, remove).

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Subcommand};
use holdfast_core::coworker::Actor;
use holdfast_core::guard::{AlertState, OverLimit, PolicyPatch};
use holdfast_core::service::{ExportList, PolicyScope};
use holdfast_core::time::format_timestamp;
use holdfast_core::{CoreError, Holdfast};
use holdfast_store::Store;
use uuid::Uuid;

#[derive(Args)]
pub struct AlertsArgs {
    /// Only alerts in this state: open, acknowledged, resolved or dismissed.
    #[arg(long, env = "HOLDFAST_ALERT_STATE")]
    pub state: Option<String>,
    #[arg(long, default_value_t = 100)]
    pub limit: u32,
    #[command(subcommand)]
    pub change: Option<AlertCmd>,
}

#[derive(Subcommand)]
pub enum AlertCmd {
    /// Move an alert on: acknowledged, resolved, dismissed (with --reason) or open.
    Set {
        id: String,
        state: String,
        #[arg(long)]
        reason: Option<String>,
    },
}

fn id_of(what: &'static str, text: &str) -> Result<Uuid> {
    Ok(Uuid::parse_str(text.trim()).map_err(|_| CoreError::not_found(what, text))?)
}

/// `holdfast alerts [--state open]`: one alert a line, newest first.
pub fn alerts(services: &Holdfast<Store>, me: &Actor, args: &AlertsArgs) -> Result<()> {
    if let Some(AlertCmd::Set { id, state, reason }) = &args.change {
        let to = AlertState::parse(state).map_err(|r| CoreError::invalid("state", r))?;
        let a = services.set_alert_state(me, id_of("alert", id)?, to, reason.as_deref())?;
        println!("alert {} is now {}", a.id, a.state.as_str());
        return Ok(());
    }
    let state = args.state.as_deref().map(AlertState::parse).transpose().map_err(|r| CoreError::invalid("state", r))?;
    let list = services.alerts(me, state, args.limit)?;
    for (a, email) in &list {
        println!(
            "{}  {}  {:<6}  {:<12}  {:<20}  {}  {}",
            format_timestamp(a.created_at),
            a.id,
            a.severity.as_str(),
            a.state.as_str(),
            a.kind,
            email,
            a.summary
        );
    }
    if list.is_empty() {
        eprintln!("no alerts{}", args.state.as_deref().map(|s| format!(" in state {s}")).unwrap_or_default());
    }
    Ok(())
}

#[derive(Subcommand)]
pub enum ExportsCmd {
    /// Exports: yours, those waiting for your approval (--pending), or all you may see (--all).
    List {
        #[arg(long)]
        pending: bool,
        #[arg(long)]
        all: bool,
    },
    /// Approve a pending export: its requester may then download it once within 24 hours.
    Approve {
        id: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Deny a pending export, saying why (the requester sees it).
    Deny {
        id: String,
        #[arg(long)]
        reason: String,
    },
    /// Download your ready export (once).
    Download {
        id: String,
        #[arg(long, short = 'o')]
        output: PathBuf,
    },
}

pub fn exports(services: &Holdfast<Store>, me: &Actor, cmd: &ExportsCmd) -> Result<()> {
    let now = services.now();
    match cmd {
        ExportsCmd::List { pending, all } => {
            let which = match (pending, all) {
                (true, _) => ExportList::ToApprove,
                (_, true) => ExportList::Visible,
                _ => ExportList::Mine,
            };
            for e in services.exports(me, which, 200)? {
                println!(
                    "{}  {}  {:<10}  {} {} as {}  {}",
                    format_timestamp(e.created_at),
                    e.id,
                    e.status_at(now).as_str(),
                    e.matched,
                    e.kind,
                    e.format.as_str(),
                    e.reason.as_deref().unwrap_or("")
                );
            }
        }
        ExportsCmd::Approve { id, reason } => {
            let e = services.approve_export(me, id_of("export", id)?, reason.as_deref())?;
            println!(
                "export {} approved: it can be downloaded once until {}",
                e.id,
                e.expires_at.map(format_timestamp).unwrap_or_default()
            );
        }
        ExportsCmd::Deny { id, reason } => {
            let e = services.deny_export(me, id_of("export", id)?, reason)?;
            println!("export {} denied", e.id);
        }
        ExportsCmd::Download { id, output } => {
            let mut file = services.download_export(me, id_of("export", id)?)?;
            crate::records::write_whole(output, &mut file.file)?;
            println!("{} rows written to {} (SHA-256 {})", file.rows, output.display(), file.sha256);
        }
    }
    Ok(())
}

#[derive(Subcommand)]
pub enum PolicyCmd {
    /// The policies set, and the limits in force for a co-worker (--for EMAIL).
    Show {
        #[arg(long = "for")]
        coworker: Option<String>,
    },
    /// Set the policy of a role (rep, manager), a team (by name) or a co-worker (by email).
    Set {
        /// role, team or coworker.
        scope: String,
        name: String,
        /// Most rows one export may carry before the over-limit action applies.
        #[arg(long)]
        export_rows: Option<i64>,
        /// Rows listed, searched or exported per 24 hours.
        #[arg(long)]
        daily_rows: Option<i64>,
        /// Rows listed, searched or exported per 7 days.
        #[arg(long)]
        weekly_rows: Option<i64>,
        /// Columns that may not be exported, comma-separated (e.g. phone,email).
        #[arg(long, value_delimiter = ',')]
        denied_columns: Option<Vec<String>>,
        /// allow_and_alert, approval or refuse.
        #[arg(long)]
        over_limit: Option<String>,
    },
    /// Remove the policy of a role, team or co-worker (the level below applies again).
    Remove { scope: String, name: String },
}

pub fn policy(services: &Holdfast<Store>, me: &Actor, cmd: &PolicyCmd) -> Result<()> {
    match cmd {
        PolicyCmd::Show { coworker } => {
            let settings = services.settings()?;
            println!("{}", serde_json::to_string_pretty(&settings.policies)?);
            if let Some(who) = coworker {
                println!("in force for {who}: {}", serde_json::to_string_pretty(&services.limits_of(me, who)?)?);
            }
        }
        PolicyCmd::Set { scope, name, export_rows, daily_rows, weekly_rows, denied_columns, over_limit } => {
            let scope = PolicyScope::parse(scope).map_err(|r| CoreError::invalid("scope", r))?;
            let over_limit = over_limit
                .as_deref()
                .map(OverLimit::parse)
                .transpose()
                .map_err(|r| CoreError::invalid("over_limit", r))?;
            let patch = PolicyPatch {
                export_rows: *export_rows,
                daily_rows: *daily_rows,
                weekly_rows: *weekly_rows,
                denied_columns: denied_columns.clone(),
                over_limit,
            };
            services.set_policy(me, scope, name, Some(patch))?;
            println!("policy set for {name}");
        }
        PolicyCmd::Remove { scope, name } => {
            let scope = PolicyScope::parse(scope).map_err(|r| CoreError::invalid("scope", r))?;
            services.set_policy(me, scope, name, None)?;
            println!("policy removed for {name}");
        }
    }
    Ok(())
}
