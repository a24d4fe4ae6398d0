//! `holdfast serve`: the HTTP server, one per data directory, with a checkpointer that signs the
//! event chain while it runs and at shutdown.

use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::Args;
use holdfast_core::Holdfast;
use holdfast_core::coworker::Actor;
use holdfast_store::{Location, Store};

use crate::{Cli, audit, data_dir, demo, open};

#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "HOLDFAST_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Load the demo company first if the database is empty.
    #[arg(long, env = "HOLDFAST_DEMO")]
    pub demo: bool,
    /// Also take journal copies of outgoing mail over SMTP on this address (the company's mail
    /// server's journaling rule sends them here); bind it where only the mail server reaches.
    #[arg(long, env = "HOLDFAST_MAIL_JOURNAL", value_name = "ADDR")]
    pub mail_journal: Option<String>,
    /// The mail servers allowed to hand in journal copies (comma-separated IP addresses; default:
    /// loopback only).
    #[arg(long, env = "HOLDFAST_MAIL_JOURNAL_FROM", value_name = "IPS", value_delimiter = ',')]
    pub mail_journal_from: Vec<std::net::IpAddr>,
    /// Also take mail for canary addresses over SMTP on this address (the canary domain's MX);
    /// every other recipient is refused.
    #[arg(long, env = "HOLDFAST_CANARY_SMTP", value_name = "ADDR")]
    pub canary_smtp: Option<String>,
}

/// Holds an exclusive lock on the data directory so two servers cannot share it.
fn lock_data_dir(location: &Location) -> Result<Option<std::fs::File>> {
    let Location::Sqlite(path) = location else { return Ok(None) };
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    holdfast_core::private_files::create_private_dir(dir).with_context(|| format!("creating {}", dir.display()))?;
    let lock_path = dir.join("holdfast.lock");
    let file = holdfast_core::private_files::private_open_options()
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

pub fn run(cli: &Cli, args: &ServeArgs) -> Result<()> {
    let location = Location::parse(&cli.database_url());
    let _lock = lock_data_dir(&location)?;
    let services = open(cli)?;
    if args.demo {
        if services.count_records(&holdfast_core::record::ACCOUNTS)? == 0 {
            demo::load_demo(&services, &Actor::operator())?;
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
    // Servers sharing a database sign checkpoints into it with one key: a server that came with
    // a key of its own would make every later `audit verify` fail on the others' checkpoints.
    if let Some(last) = services.checkpoints()?.last()
        && !last.signature_ok(&key.public_hex())
    {
        anyhow::bail!(
            "the newest checkpoint in the database (event {}) is not signed by this server's audit key {} ({}). \
             If this is another server on a shared database, stop it and copy audit-signing.key from the first \
             server's data directory (mode 0600); otherwise run `holdfast audit verify` to see what changed",
            last.seq,
            key.public_hex(),
            files.key.display()
        );
    }
    eprintln!(
        "system events are checkpointed to {} (ship that file elsewhere); audit key {}",
        files.checkpoints.display(),
        key.public_hex()
    );
    let checkpointer = Checkpointer::start(Arc::clone(&services), files);
    // Today's reading baselines (90 days of everyone's reads) before the first request needs
    // them, so that the first minute after a restart does not wait for them.
    let warm = Arc::clone(&services);
    std::thread::spawn(move || {
        if let Err(e) = warm.warm_up_read_meter() {
            tracing::warn!("working out today's reading baselines failed (the first reads will): {e}");
        }
    });
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")?;
    let result = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(&args.listen).await.with_context(|| {
            format!("cannot listen on {}: is another program using that port? Choose another with --listen or HOLDFAST_LISTEN", args.listen)
        })?;
        let app = holdfast_web::router(Arc::clone(&services));
        tokio::spawn(holdfast_web::deliver_alerts(Arc::clone(&services)));
        tokio::spawn(holdfast_web::end_due_departures(Arc::clone(&services)));
        tokio::spawn(holdfast_web::run_lead_clock(Arc::clone(&services)));
        tokio::spawn(holdfast_web::send_weekly_digests(Arc::clone(&services)));
        tokio::spawn(holdfast_web::sweep_detectors_daily(Arc::clone(&services)));
        for (addr, receiver) in [
            (&args.mail_journal, holdfast_web::MailReceiver::Journal { from: args.mail_journal_from.clone() }),
            (&args.canary_smtp, holdfast_web::MailReceiver::Canary),
        ] {
            let Some(addr) = addr else { continue };
            let smtp = tokio::net::TcpListener::bind(addr).await.with_context(|| {
                format!("cannot take mail on {addr}: is another program using that port?")
            })?;
            let what = match receiver {
                holdfast_web::MailReceiver::Journal { .. } => "journal copies of outgoing mail",
                holdfast_web::MailReceiver::Canary => "mail to canary addresses",
            };
            eprintln!("Holdfast takes {what} over SMTP on {addr}");
            tokio::spawn(holdfast_web::receive_mail(Arc::clone(&services), smtp, receiver));
        }
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
