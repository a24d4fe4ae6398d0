//! `holdfast`: the server and its command line. Every command opens the same database and calls
//! the same services as the HTTP API, so everything it reads or changes is a system event too.

mod audit;
mod bench;
mod bench_postgres;

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Parser, Subcommand};
use holdfast_core::coworker::{Actor, Role, Seniority, Status};
use holdfast_core::demo::{DEMO_PASSWORD, DemoSize};
use holdfast_core::event::EventFilter;
use holdfast_core::record::RecordKind;
use holdfast_core::service::{CoWorkerChanges, ImportOptions, ListRequest, NewCoWorker};
use holdfast_core::time::{format_timestamp, parse_timestamp};
use holdfast_core::{CoreError, Holdfast, secret};
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
    Serve(ServeArgs),
    /// Fill an empty database with a realistic demo company.
    Demo,
    /// Add, list and change co-workers.
    #[command(subcommand)]
    Coworker(CoworkerCmd),
    /// Create, list and revoke API tokens.
    #[command(subcommand)]
    Token(TokenCmd),
    /// Print system events (a co-worker's, or everyone's).
    Events(EventsArgs),
    /// Import records from CSV.
    #[command(subcommand)]
    Import(ImportCmd),
    /// List records of a kind (accounts, contacts, leads, deals, contracts, activities, tasks).
    List(ListArgs),
    /// Export records of a kind as CSV on stdout (the columns import reads), recorded as an export.
    Export(ExportArgs),
    /// Undo a bulk change or handover by its operation id, where nobody has changed the records since.
    Undo { operation: String },
    /// Show or change settings.
    #[command(subcommand)]
    Settings(SettingsCmd),
    /// The system event log: signing key, checkpoints, verification, reports, evidence, SIEM.
    #[command(subcommand)]
    Audit(audit::AuditCmd),
    /// Measure performance against the raw database on the same data.
    #[command(subcommand)]
    Bench(bench::BenchCmd),
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "HOLDFAST_LISTEN", default_value = "127.0.0.1:8080")]
    listen: String,
    /// Load the demo company first if the database is empty.
    #[arg(long, env = "HOLDFAST_DEMO")]
    demo: bool,
}

#[derive(Subcommand)]
enum CoworkerCmd {
    /// Add a co-worker. The password is read from stdin when it is not a terminal, else generated and printed once.
    Add {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        /// admin, manager or rep
        #[arg(long)]
        role: String,
        /// Team name (created if new).
        #[arg(long)]
        team: Option<String>,
        /// Email of their manager.
        #[arg(long)]
        manager: Option<String>,
        /// executive, manager or individual
        #[arg(long)]
        seniority: Option<String>,
        #[arg(long)]
        title: Option<String>,
    },
    /// One co-worker a line: email, role, status, name, team.
    List,
    /// Change a co-worker (suspending or marking departed revokes their sessions and tokens at once).
    Set {
        /// Email or id.
        coworker: String,
        #[arg(long)]
        role: Option<String>,
        /// active, departing, departed or suspended
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        team: Option<String>,
        #[arg(long)]
        manager: Option<String>,
        #[arg(long)]
        name: Option<String>,
        /// Read a new password from stdin.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Hand every account, contact, lead, deal, contract and task a co-worker owns to another, in
    /// one step (undo with `holdfast undo OPERATION`). Activities stay with whoever logged them.
    Handover {
        /// Email or id of the co-worker whose customers move.
        coworker: String,
        /// Email or id of the co-worker who takes them over.
        #[arg(long)]
        to: String,
        /// Only say what they own; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Subcommand)]
enum TokenCmd {
    /// Create an API token and print it (once: only its hash is stored).
    Create {
        #[arg(long)]
        coworker: String,
        #[arg(long, default_value = "")]
        name: String,
    },
    /// List a co-worker's tokens and sessions.
    List {
        #[arg(long)]
        coworker: String,
    },
    /// Revoke one token.
    Revoke {
        #[arg(long)]
        coworker: String,
        id: String,
    },
}

#[derive(Args)]
struct EventsArgs {
    /// Co-worker email or id (omit for everyone's: admins only).
    #[arg(long)]
    coworker: Option<String>,
    /// Only events at or after this time (2026-11-01 or RFC 3339).
    #[arg(long)]
    since: Option<String>,
    #[arg(long)]
    until: Option<String>,
    /// Only this action, e.g. record.read or export.create.
    #[arg(long)]
    action: Option<String>,
    #[arg(long, default_value_t = 100)]
    limit: usize,
    /// One JSON object a line instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum ImportCmd {
    /// Import contacts (and their accounts) from a CSV file: HubSpot, Salesforce or Holdfast columns.
    Contacts {
        file: PathBuf,
        /// Report what would happen without writing anything.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Args)]
struct ListArgs {
    kind: String,
    #[arg(long)]
    q: Option<String>,
    #[arg(long)]
    owner: Option<String>,
    #[arg(long)]
    sort: Option<String>,
    #[arg(long, default_value_t = 20)]
    limit: u32,
}

#[derive(Args)]
struct ExportArgs {
    /// accounts, contacts, leads, deals, contracts, activities or tasks
    kind: String,
    #[arg(long)]
    q: Option<String>,
    /// Co-worker email or id.
    #[arg(long)]
    owner: Option<String>,
    #[arg(long)]
    sort: Option<String>,
    /// Field filters, e.g. --where stage=proposal (repeat a field for either value).
    #[arg(long = "where", value_name = "FIELD=VALUE")]
    filters: Vec<String>,
}

#[derive(Subcommand)]
enum SettingsCmd {
    /// Show all settings.
    Show,
    /// Who may open which customer records: all, team or own.
    ReadPolicy { policy: String },
}

fn main() {
    let cli = Cli::parse();
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("HOLDFAST_LOG").unwrap_or_else(|_| "info,tower_http=info".into());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    if let Err(e) = run(cli) {
        eprintln!("error: {e:#}");
        std::process::exit(match e.downcast_ref::<CoreError>() {
            Some(CoreError::Invalid(_)) | Some(CoreError::BadFile(_)) => 2,
            Some(CoreError::Forbidden(_)) | Some(CoreError::Unauthenticated(_)) => 3,
            Some(CoreError::NotFound { .. }) => 4,
            Some(CoreError::Conflict(_)) => 5,
            _ => 1,
        });
    }
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

fn read_stdin_secret() -> Result<String> {
    let mut s = String::new();
    std::io::stdin().read_to_string(&mut s).context("reading the password from stdin")?;
    let s = s.trim_end_matches(['\n', '\r']).to_string();
    if s.is_empty() {
        bail!("stdin was empty; pipe the password in, e.g. `printf '%s' \"$PASSWORD\" | holdfast coworker add …`");
    }
    Ok(s)
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

fn run(cli: Cli) -> Result<()> {
    match &cli.command {
        Command::Serve(args) => serve(&cli, args),
        Command::Bench(cmd) => bench::run(&cli.database_url(), cmd),
        _ => {
            let services = open(&cli)?;
            let files = audit::AuditFiles::in_dir(&data_dir(&cli));
            let before = services.chain_head()?;
            let result = command(&cli, &services, &files);
            services.shutdown();
            // Every command that wrote events ends with a checkpoint, so a deleted tail is
            // always detectable against the external file.
            if services.chain_head()? != before
                && let Err(e) = files.checkpoint(&services, "cli")
            {
                eprintln!("warning: could not write the closing checkpoint: {e:#}");
            }
            result
        }
    }
}

fn command(cli: &Cli, services: &Holdfast<Store>, files: &audit::AuditFiles) -> Result<()> {
    let me = actor(cli, services)?;
    match &cli.command {
        Command::Audit(cmd) => audit::run(services, &me, files, cmd),
        Command::Serve(_) | Command::Bench(_) => unreachable!("handled in run"),
        Command::Demo => load_demo(services, &me),
        Command::Coworker(CoworkerCmd::Add { email, name, role, team, manager, seniority, title }) => {
            let (password, generated) = if std::io::stdin().is_terminal() {
                (secret::new_password(), true)
            } else {
                (read_stdin_secret()?, false)
            };
            let c = services.add_coworker(
                &me,
                NewCoWorker {
                    email: email.clone(),
                    name: name.clone(),
                    role: Role::parse(role).map_err(|r| CoreError::invalid("role", r))?,
                    seniority: seniority
                        .as_deref()
                        .map(Seniority::parse)
                        .transpose()
                        .map_err(|r| CoreError::invalid("seniority", r))?,
                    team: team.clone(),
                    manager: manager.clone(),
                    title: title.clone(),
                    password: Some(password.clone()),
                },
            )?;
            println!("added {} <{}> as {} (id {})", c.name, c.email, c.role.as_str(), c.id);
            if generated {
                println!("password (shown once): {password}");
            }
            Ok(())
        }
        Command::Coworker(CoworkerCmd::List) => {
            let teams = services.list_teams()?;
            for c in services.list_coworkers(&me)? {
                let team =
                    c.team_id.and_then(|t| teams.iter().find(|x| x.id == t)).map(|t| t.name.as_str()).unwrap_or("-");
                println!("{}\t{}\t{}\t{}\t{}", c.email, c.role.as_str(), c.status.as_str(), c.name, team);
            }
            Ok(())
        }
        Command::Coworker(CoworkerCmd::Set { coworker, role, status, team, manager, name, password_stdin }) => {
            let changes = CoWorkerChanges {
                name: name.clone(),
                role: role.as_deref().map(Role::parse).transpose().map_err(|r| CoreError::invalid("role", r))?,
                status: status
                    .as_deref()
                    .map(Status::parse)
                    .transpose()
                    .map_err(|r| CoreError::invalid("status", r))?,
                team: team.clone().map(|t| Some(t).filter(|t| !t.is_empty())),
                manager: manager.clone().map(|m| Some(m).filter(|m| !m.is_empty())),
                password: if *password_stdin { Some(read_stdin_secret()?) } else { None },
                ..Default::default()
            };
            let c = services.update_coworker(&me, coworker, changes)?;
            println!("{}\t{}\t{}\t{}", c.email, c.role.as_str(), c.status.as_str(), c.name);
            Ok(())
        }
        Command::Coworker(CoworkerCmd::Handover { coworker, to, dry_run }) => {
            if *dry_run {
                for (kind, n) in services.ownership(&me, coworker)? {
                    println!("{}\t{n}", kind.plural);
                }
                return Ok(());
            }
            let h = services.handover(&me, coworker, to)?;
            for k in &h.per_kind {
                println!("{}\t{}", k.plural, k.count);
            }
            eprintln!(
                "handed {} records from {} to {}; undo with: holdfast undo {}",
                h.changed, h.from, h.to, h.operation
            );
            Ok(())
        }
        Command::Undo { operation } => {
            let id = uuid::Uuid::parse_str(operation)
                .map_err(|_| CoreError::invalid("operation", format!("'{operation}' is not an operation id")))?;
            let done = services.undo_bulk(&me, id)?;
            eprintln!("put back {} records; {} left as they were (changed since)", done.changed, done.skipped);
            Ok(())
        }
        Command::Token(TokenCmd::Create { coworker, name }) => {
            let t = services.create_token(&me, coworker, name)?;
            println!("{}", t.secret);
            eprintln!("token {} for {coworker}; shown once, only its hash is stored", t.credential.id);
            Ok(())
        }
        Command::Token(TokenCmd::List { coworker }) => {
            for c in services.list_credentials(&me, coworker)? {
                let state = if c.revoked_at.is_some() { "revoked" } else { "live" };
                println!("{}\t{}\t{}\t{}\tcreated {}", c.id, c.kind, state, c.name, format_timestamp(c.created_at));
            }
            Ok(())
        }
        Command::Token(TokenCmd::Revoke { coworker, id }) => {
            let id = uuid::Uuid::parse_str(id).map_err(|_| {
                CoreError::invalid("id", format!("'{id}' is not a token id; see `holdfast token list`"))
            })?;
            services.revoke_token(&me, coworker, id)?;
            println!("revoked {id}");
            Ok(())
        }
        Command::Events(args) => {
            let mut filter = EventFilter { limit: args.limit, action: args.action.clone(), ..Default::default() };
            if let Some(s) = &args.since {
                filter.since = Some(parse_timestamp(s).map_err(|r| CoreError::invalid("since", r))?);
            }
            if let Some(u) = &args.until {
                filter.until = Some(parse_timestamp(u).map_err(|r| CoreError::invalid("until", r))?);
            }
            let events = match &args.coworker {
                Some(who) => services.coworker_events(&me, who, filter)?,
                None => services.events(&me, &filter)?,
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
        Command::Import(ImportCmd::Contacts { file, dry_run }) => {
            let mut f = std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
            let bar = indicatif::ProgressBar::new(0);
            bar.set_style(
                indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} rows {elapsed}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            if !std::io::stderr().is_terminal() {
                bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
            }
            let options = ImportOptions { dry_run: *dry_run, source: Some(file.display().to_string()) };
            let report = services.import_contacts(&me, &mut f, &options, &|done, total| {
                bar.set_length(total);
                bar.set_position(done);
            })?;
            bar.finish_and_clear();
            println!(
                "{}{} rows: {} created, {} merged into existing contacts, {} rejected; {} new accounts",
                if report.dry_run { "dry run (nothing written): " } else { "" },
                report.rows,
                report.created,
                report.merged,
                report.rejected.len(),
                report.accounts_created
            );
            for r in &report.rejected {
                println!("  rejected line {}: {}", r.row, r.reason);
            }
            for w in &report.warnings {
                println!("  note line {}: {}", w.row, w.reason);
            }
            Ok(())
        }
        Command::List(args) => {
            let kind = RecordKind::by_plural(&args.kind).ok_or_else(|| {
                anyhow!("'{}' is not a kind of record; use accounts, contacts, leads, deals, contracts, activities or tasks", args.kind)
            })?;
            let req = ListRequest {
                q: args.q.clone(),
                owner: args.owner.clone(),
                sort: args.sort.clone(),
                limit: Some(args.limit),
                ..Default::default()
            };
            let page = services.list_records(&me, kind, &req)?;
            for r in &page.items {
                println!("{}\t{}", r.id, r.label(kind));
            }
            Ok(())
        }
        Command::Export(args) => {
            let kind = RecordKind::by_plural(&args.kind).ok_or_else(|| {
                anyhow!("'{}' is not a kind of record; use accounts, contacts, leads, deals, contracts, activities or tasks", args.kind)
            })?;
            let mut filters = Vec::new();
            for f in &args.filters {
                let (k, v) = f.split_once('=').ok_or_else(|| anyhow!("--where takes FIELD=VALUE, not '{f}'"))?;
                filters.push((k.trim().to_string(), v.trim().to_string()));
            }
            let req = ListRequest {
                q: args.q.clone(),
                owner: args.owner.clone(),
                sort: args.sort.clone(),
                filters,
                ..Default::default()
            };
            let export = services.export_records(&me, kind, &holdfast_core::service::ExportScope::Matching(req))?;
            print!("{}", export.csv);
            eprintln!("exported {} {} (recorded as an export)", export.rows, kind.plural);
            Ok(())
        }
        Command::Settings(SettingsCmd::Show) => {
            let s = services.settings()?;
            println!("read_policy\t{}", s.read_policy.as_str());
            println!("export_policy\t{}", s.export_policy.as_str());
            println!("bulk_read_limit\t{}", s.bulk_read_limit);
            Ok(())
        }
        Command::Settings(SettingsCmd::ReadPolicy { policy }) => {
            let change =
                holdfast_core::service::SettingsChange { read_policy: Some(policy.clone()), ..Default::default() };
            let s = services.change_settings(&me, &change)?;
            println!("read_policy\t{}", s.read_policy.as_str());
            Ok(())
        }
    }
}

fn load_demo(services: &Holdfast<Store>, me: &Actor) -> Result<()> {
    let started = std::time::Instant::now();
    let s = services.load_demo(me, DemoSize::default(), &|step| eprintln!("demo: {step}…"))?;
    println!(
        "Loaded the demo company in {:.1}s: {} co-workers, {} accounts, {} contacts, {} leads, {} deals, {} contracts, {} activities, {} tasks.",
        started.elapsed().as_secs_f64(),
        s.coworkers,
        s.accounts,
        s.contacts,
        s.leads,
        s.deals,
        s.contracts,
        s.activities,
        s.tasks
    );
    println!("Sign in as any demo co-worker with the password '{DEMO_PASSWORD}':");
    println!("  admin:    {}", s.admin_email);
    println!("  director: {}", s.director_email);
    println!("  manager:  {}", s.manager_email);
    println!("  rep:      {}", s.rep_email);
    Ok(())
}

/// Holds an exclusive lock on the data directory so two servers cannot share it.
fn lock_data_dir(location: &Location) -> Result<Option<std::fs::File>> {
    let Location::Sqlite(path) = location else { return Ok(None) };
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let lock_path = dir.join("holdfast.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("opening {}", lock_path.display()))?;
    match file.try_lock() {
        Ok(()) => {
            use std::io::Write;
            let mut f = &file;
            let _ = f.set_len(0);
            let _ = writeln!(f, "{}", std::process::id());
            Ok(Some(file))
        }
        Err(_) => {
            let pid = std::fs::read_to_string(&lock_path).unwrap_or_default();
            bail!(
                "another Holdfast server (pid {}) is already serving {}; stop it first, or give this one its own --database",
                pid.trim(),
                dir.display()
            )
        }
    }
}

fn serve(cli: &Cli, args: &ServeArgs) -> Result<()> {
    let location = Location::parse(&cli.database_url());
    let _lock = lock_data_dir(&location)?;
    let services = open(cli)?;
    if args.demo {
        if services.count_records(&holdfast_core::record::ACCOUNTS)? == 0 {
            load_demo(&services, &Actor::operator())?;
        } else {
            eprintln!("--demo: the database already has accounts; serving them as they are");
        }
    }
    if !services.has_coworkers()? {
        eprintln!("No co-workers yet. Open http://{}/ in a browser to create the first admin, or run:", args.listen);
        eprintln!(
            "  holdfast --database {} coworker add --email you@example.com --name \"Your Name\" --role admin",
            cli.database_url()
        );
        eprintln!("and an API token with: holdfast token create --coworker you@example.com");
    }
    let files = audit::AuditFiles::in_dir(&data_dir(cli));
    let key = holdfast_core::audit::AuditKey::load_or_create(&files.key)?;
    eprintln!(
        "system events are checkpointed to {} (ship that file elsewhere); audit key {}",
        files.checkpoints.display(),
        key.public_hex()
    );
    let checkpointer = Checkpointer::start(Arc::clone(&services), files);
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")?;
    let result = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(&args.listen).await.with_context(|| {
            format!("cannot listen on {}: is another program using that port? Choose another with --listen or HOLDFAST_LISTEN", args.listen)
        })?;
        let app = holdfast_web::router(Arc::clone(&services));
        eprintln!("Holdfast is serving the {} on http://{}", location.describe(), args.listen);
        axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>())
            .with_graceful_shutdown(shutdown_signal())
            .await
            .context("serving HTTP")
    });
    services.shutdown();
    checkpointer.stop("shutdown");
    result
}

/// Writes a checkpoint every [`CHECKPOINT_EVERY_EVENTS`] events or [`CHECKPOINT_EVERY`] while
/// events are being written, and a last one at shutdown.
struct Checkpointer {
    stop: std::sync::mpsc::Sender<()>,
    thread: std::thread::JoinHandle<()>,
    services: Arc<Holdfast<Store>>,
    files: Arc<audit::AuditFiles>,
}

const CHECKPOINT_EVERY_EVENTS: i64 = 10_000;
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_secs(300);

impl Checkpointer {
    fn start(services: Arc<Holdfast<Store>>, files: audit::AuditFiles) -> Checkpointer {
        let files = Arc::new(files);
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let (s, f) = (Arc::clone(&services), Arc::clone(&files));
        let thread = std::thread::spawn(move || {
            let mut last = (s.chain_head().map(|h| h.0).unwrap_or(0), std::time::Instant::now());
            loop {
                match stopped.recv_timeout(std::time::Duration::from_secs(5)) {
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                    _ => return,
                }
                let Ok((seq, _)) = s.chain_head() else { continue };
                let due =
                    seq - last.0 >= CHECKPOINT_EVERY_EVENTS || (seq > last.0 && last.1.elapsed() >= CHECKPOINT_EVERY);
                if due {
                    match f.checkpoint(&s, "interval") {
                        Ok(c) => last = (c.seq, std::time::Instant::now()),
                        Err(e) => tracing::error!(error = %e, "writing a checkpoint failed"),
                    }
                }
            }
        });
        Checkpointer { stop, thread, services, files }
    }

    fn stop(self, reason: &str) {
        let _ = self.stop.send(());
        let _ = self.thread.join();
        match self.files.checkpoint(&self.services, reason) {
            Ok(c) => eprintln!("checkpoint at event {} written to {}", c.seq, self.files.checkpoints.display()),
            Err(e) => eprintln!("warning: the shutdown checkpoint failed: {e:#}"),
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM, so `kill` and service managers stop the server cleanly.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    eprintln!("shutting down…");
}
