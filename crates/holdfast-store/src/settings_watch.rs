//! PostgreSQL: every server sharing the database learns at once that the settings changed.
//!
//! A change of settings bumps `settings_version` and sends `NOTIFY holdfast_settings` in the same
//! transaction; a thread per server LISTENs on its own connection and keeps the latest version, so
//! a request can tell whether its copy of the settings is current without asking the database.
//! While the listener is not connected it says nothing, and the services ask the database instead.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use postgres::fallible_iterator::FallibleIterator;
use postgres::{Client, NoTls};

/// The channel settings changes are announced on.
pub const CHANNEL: &str = "holdfast_settings";

/// The latest settings version this server has heard of.
#[derive(Default)]
pub struct SettingsWatch {
    version: AtomicI64,
    live: AtomicBool,
    stop: AtomicBool,
}

impl SettingsWatch {
    /// Starts listening on its own connection (reconnecting after a failure).
    pub fn start(url: String) -> Arc<SettingsWatch> {
        let watch = Arc::new(SettingsWatch::default());
        let w = Arc::downgrade(&watch);
        let spawned = std::thread::Builder::new().name("settings-watch".into()).spawn(move || {
            while let Some(watch) = w.upgrade() {
                if watch.stop.load(Ordering::Relaxed) {
                    return;
                }
                if let Err(e) = watch.listen(&url) {
                    tracing::warn!(error = %e, "listening for settings changes failed; retrying");
                }
                watch.live.store(false, Ordering::SeqCst);
                drop(watch);
                std::thread::sleep(Duration::from_secs(1));
            }
        });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "could not start the settings listener; settings are checked per request");
        }
        watch
    }

    fn listen(&self, url: &str) -> Result<(), postgres::Error> {
        let mut client = Client::connect(url, NoTls)?;
        client.batch_execute(&format!("LISTEN {CHANNEL}"))?;
        // Read after LISTEN, so no change can fall between the two.
        let row = client.query_opt("SELECT value FROM settings WHERE key = 'settings_version'", &[])?;
        let current = row.and_then(|r| r.get::<_, String>(0).parse().ok()).unwrap_or(0);
        self.version.store(current, Ordering::SeqCst);
        self.live.store(true, Ordering::SeqCst);
        let mut notifications = client.notifications();
        let mut waiting = notifications.timeout_iter(Duration::from_secs(1));
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return Ok(());
            }
            if let Some(n) = waiting.next()?
                && let Ok(v) = n.payload().parse::<i64>()
            {
                self.version.fetch_max(v, Ordering::SeqCst);
            }
        }
    }

    /// The latest version heard of, while listening.
    pub fn version(&self) -> Option<i64> {
        self.live.load(Ordering::SeqCst).then(|| self.version.load(Ordering::SeqCst))
    }

    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
