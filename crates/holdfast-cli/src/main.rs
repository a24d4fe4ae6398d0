//! `holdfast`: the server and its command line. Every command opens the same database and calls
//! the same services as the HTTP API, so everything it reads or changes is a system event too.
//! This file is the command table; each command group lives in a module of its own.

mod audit;
mod backup;
mod coverage;
mod coworkers;
mod demo;
mod departures;
mod events;
mod guard;
mod leak_tracing;
mod records;
mod serve;
mod settings;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use holdfast_core::coworker::Actor;
use holdfast_core::{CoreError, Holdfast};
use holdfast_store::{Location, Store};

#[derive(Parser)]
#[command(
    name = "holdfast",
    version,
    about = "Holdfast: the CRM where the customer belongs to the company, not to the sales rep."
)]
struct Cli {
    /// Where the data lives: a data directory (default: --data-dir, else ./holdfast-data), a
    /// SQLite file, or postgres://user@host/db.
    #[arg(long, global = true, env = "HOLDFAST_DATABASE_URL")]
    database: Option<String>,
    /// Directory for the audit signing key, the external checkpoint file and (unless --database
    /// says otherwise) the SQLite database (default: the SQLite database's directory, or
    /// ./holdfast-data).
    #[arg(long, global = true, env = "HOLDFAST_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Act as this co-worker (by email) instead of as the operator; their permissions apply.
    #[arg(long = "as", global = true, env = "HOLDFAST_AS", value_name = "EMAIL")]
    as_coworker: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(serve::ServeArgs),
    /// Fill an empty database with a realistic demo company.
    Demo,
    /// Add, list and change co-workers.
    #[command(subcommand)]
    Coworker(coworkers::CoworkerCmd),
    /// Create, list and revoke API tokens.
    #[command(subcommand)]
    Token(coworkers::TokenCmd),
    /// Print system events (a co-worker's, or everyone's).
    Events(events::EventsArgs),
    /// Import records from CSV.
    #[command(subcommand)]
    Import(records::ImportCmd),
    /// List records of a kind (accounts, contacts, leads, deals, contracts, activities, tasks).
    List(records::ListArgs),
    /// Export records of a kind (CSV, XLSX or vCard) within your limits, recorded with its row
    /// count and SHA-256; past them it waits for approval (see `holdfast exports`).
    Export(records::ExportArgs),
    /// Coverage: walk-out exposure per co-worker, and one account's coverage.
    #[command(subcommand)]
    Coverage(coverage::CoverageCmd),
    /// Departures: record one, list the cases, show one, end access, call one off.
    #[command(subcommand)]
    Departure(departures::DepartureCmd),
    /// Exports: list, approve, deny, download.
    #[command(subcommand)]
    Exports(guard::ExportsCmd),
    /// Which export a file found in the wild came from: its id and maker first, then the evidence
    /// (canaries found, rows and columns matched). Exits 0 on a match, 1 on none.
    Trace(leak_tracing::TraceArgs),
    /// Alerts the guard raised (one a line), and moving them on.
    Alerts(guard::AlertsArgs),
    /// Export and reading policies per role, team and co-worker.
    #[command(subcommand)]
    Policy(guard::PolicyCmd),
    /// Undo a bulk change or handover by its operation id, where nobody has changed the records since.
    Undo { operation: String },
    /// Show or change settings.
    #[command(subcommand)]
    Settings(settings::SettingsCmd),
    /// The system event log: signing key, checkpoints, verification, reports, evidence, SIEM.
    #[command(subcommand)]
    Audit(audit::AuditCmd),
    /// Copy an embedded installation (database, signing key, checkpoints) to a new directory,
    /// consistently, while the server runs; `holdfast --database DEST audit verify` checks it.
    Backup(backup::BackupArgs),
}

fn main() {
    let cli = Cli::parse();
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("HOLDFAST_LOG").unwrap_or_else(|_| "info,tower_http=info".into());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    if let Err(e) = run(&cli) {
        eprintln!("error: {e:#}");
        std::process::exit(match e.downcast_ref::<CoreError>() {
            Some(CoreError::Invalid(_)) | Some(CoreError::BadFile(_)) => 2,
            Some(CoreError::Forbidden(_)) | Some(CoreError::Unauthenticated(_)) => 3,
            Some(CoreError::NotFound { .. }) => 4,
            Some(CoreError::Conflict(_)) | Some(CoreError::Protocol(_)) => 5,
            _ => 1,
        });
    }
}

/// The command table.
fn run(cli: &Cli) -> Result<()> {
    match &cli.command {
        Command::Serve(args) => serve::run(cli, args),
        Command::Demo => as_operator(cli, |s, me, _| demo::load_demo(s, me)),
        Command::Coworker(cmd) => as_operator(cli, |s, me, _| coworkers::run(s, me, cmd)),
        Command::Token(cmd) => as_operator(cli, |s, me, _| coworkers::token(s, me, cmd)),
        Command::Events(args) => as_operator(cli, |s, me, _| events::run(s, me, args)),
        Command::Import(cmd) => as_operator(cli, |s, me, _| records::import(s, me, cmd)),
        Command::List(args) => as_operator(cli, |s, me, _| records::list(s, me, args)),
        Command::Export(args) => as_operator(cli, |s, me, _| records::export(s, me, args)),
        Command::Coverage(cmd) => as_operator(cli, |s, me, _| coverage::run(s, me, cmd)),
        Command::Departure(cmd) => as_operator(cli, |s, me, _| departures::run(s, me, cmd)),
        Command::Exports(cmd) => as_operator(cli, |s, me, _| guard::exports(s, me, cmd)),
        Command::Trace(args) => as_operator(cli, |s, me, _| leak_tracing::trace(s, me, args)),
        Command::Alerts(args) => as_operator(cli, |s, me, _| guard::alerts(s, me, args)),
        Command::Policy(cmd) => as_operator(cli, |s, me, _| guard::policy(s, me, cmd)),
        Command::Undo { operation } => as_operator(cli, |s, me, _| records::undo(s, me, operation)),
        Command::Settings(cmd) => as_operator(cli, |s, me, _| settings::run(s, me, cmd)),
        Command::Audit(cmd) => as_operator(cli, |s, me, files| audit::run(s, me, files, cmd)),
        Command::Backup(args) => as_operator(cli, |s, me, files| backup::run(s, me, files, args)),
    }
}

/// Runs a command as the operator (or `--as` a co-worker) on the services. Every command that
/// wrote events ends with a checkpoint, so a deleted tail is always detectable against the
/// external file.
fn as_operator(
    cli: &Cli,
    command: impl FnOnce(&Holdfast<Store>, &Actor, &audit::AuditFiles) -> Result<()>,
) -> Result<()> {
    let services = open(cli)?;
    let files = audit::AuditFiles::in_dir(&data_dir(cli));
    let before = services.chain_head()?;
    let result = actor(cli, &services).and_then(|me| command(&services, &me, &files));
    services.shutdown();
    if services.chain_head()? != before
        && let Err(e) = files.checkpoint(&services, "cli")
    {
        eprintln!("warning: could not write the closing checkpoint: {e:#}");
    }
    result
}

fn open(cli: &Cli) -> Result<Arc<Holdfast<Store>>> {
    let location = Location::parse(&cli.database_url());
    let store = Store::open(&location).with_context(|| format!("opening the {}", location.describe()))?;
    Ok(Arc::new(Holdfast::new(store)))
}

fn actor(cli: &Cli, services: &Holdfast<Store>) -> Result<Actor> {
    match &cli.as_coworker {
        Some(email) => Ok(services.actor_for(email)?),
        None => Ok(Actor::operator()),
    }
}

impl Cli {
    /// The database location: `--database`, else the data directory, else ./holdfast-data.
    fn database_url(&self) -> String {
        match (&self.database, &self.data_dir) {
            (Some(d), _) => d.clone(),
            (None, Some(dir)) => dir.to_string_lossy().into_owned(),
            (None, None) => "holdfast-data".into(),
        }
    }
}

/// The directory holding the audit key and checkpoints.jsonl.
fn data_dir(cli: &Cli) -> PathBuf {
    if let Some(d) = &cli.data_dir {
        return d.clone();
    }
    match Location::parse(&cli.database_url()) {
        Location::Sqlite(p) => {
            p.parent().filter(|d| !d.as_os_str().is_empty()).map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."))
        }
        Location::Postgres(_) => PathBuf::from("holdfast-data"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
