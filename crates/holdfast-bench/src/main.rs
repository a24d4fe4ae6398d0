//! `holdfast-bench`: Holdfast's end-to-end figures, each printed beside its physical limit (bare
//! SQLite or PostgreSQL on the same data) measured in the same run. A binary of its own, so the
//! raw SQL and the baselines' direct database access never ship in `holdfast`.
//!
//! `cargo run --release -p holdfast-bench -- core --contacts 1000000` (see docs/benchmarks.md).

mod audit;
mod bundle;
mod core_postgres;
mod core_sqlite;
mod departure;
mod exposure;
mod guard;
mod http;
mod leads;
mod leaks;
mod restart;
mod shared;
mod web;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "holdfast-bench", about = "Holdfast's performance beside the raw database on the same data.")]
struct Bench {
    #[command(subcommand)]
    command: BenchCmd,
}

#[derive(Subcommand)]
pub enum BenchCmd {
    /// Core figures on N contacts: audited read by id, search, CSV import, system events per second.
    Core {
        /// How many contacts to generate and import.
        #[arg(long, default_value_t = 1_000_000)]
        contacts: usize,
        /// Reads and searches to time.
        #[arg(long, default_value_t = 20_000)]
        reads: usize,
        /// Directory for the benchmark's databases (default: a new temporary directory).
        #[arg(long)]
        dir: Option<std::path::PathBuf>,
        /// Run on this PostgreSQL database instead (it must be empty), against bare SQL on the same server.
        #[arg(long, value_name = "URL")]
        postgres: Option<String>,
    },
    /// Web pages on the demo company: account page and contact list, rendered through the router.
    Web {
        /// Requests per page.
        #[arg(long, default_value_t = 500)]
        requests: usize,
    },
    /// The event log: appends with and without hashing, verification against raw SHA-256.
    Audit {
        /// How many events to write and verify.
        #[arg(long, default_value_t = 2_000_000)]
        events: usize,
    },
    /// The guard: export of N contacts to CSV (beside `sqlite3 -csv`) and XLSX with the memory it
    /// added, detector evaluation over a replay of M events, request-to-webhook latency.
    Guard {
        #[arg(long, default_value_t = 1_000_000)]
        contacts: usize,
        #[arg(long, default_value_t = 10_000_000)]
        events: usize,
    },
    /// A departure's mass transfer: N records handed to two colleagues by round-robin (and undone)
    /// beside a bare UPDATE of the same rows.
    Departure {
        #[arg(long, default_value_t = 100_000)]
        records: usize,
        /// Run on this PostgreSQL database instead (it must be empty).
        #[arg(long, value_name = "URL")]
        postgres: Option<String>,
    },
    /// Coverage and walk-out exposure: the company-wide reports on A accounts (five contacts
    /// each) and N activities, beside one hand-written SQL aggregate on the same data.
    Exposure {
        #[arg(long, default_value_t = 100_000)]
        accounts: usize,
        #[arg(long, default_value_t = 5_000_000)]
        activities: usize,
        /// Run on this PostgreSQL database instead (it must be empty).
        #[arg(long, value_name = "URL")]
        postgres: Option<String>,
    },
    /// Leads on N contacts: a routing decision (capture, match, score, route, notify), a public
    /// form post to the owner's notification, and a CSV import of leads matched against the
    /// contacts, each beside a bare `INSERT` of the same lead rows.
    Leads {
        #[arg(long, default_value_t = 1_000_000)]
        contacts: usize,
        /// Leads routed one at a time (and as many form posts).
        #[arg(long, default_value_t = 5_000)]
        decisions: usize,
        /// Leads in the imported CSV.
        #[arg(long, default_value_t = 20_000)]
        import: usize,
        /// Run on this PostgreSQL database instead (it must be empty).
        #[arg(long, value_name = "URL")]
        postgres: Option<String>,
    },
    /// Leak tracing on N contacts: the fingerprinted export beside the fingerprint's own work and
    /// `sqlite3 -csv`; a trace of an R-row found file against E stored exports beside a bare
    /// parse; a journaled message with an M-row CSV attachment beside a bare MIME parse.
    Leaks {
        #[arg(long, default_value_t = 1_000_000)]
        contacts: usize,
        #[arg(long, default_value_t = 10_000)]
        exports: usize,
        #[arg(long, default_value_t = 100_000)]
        trace_rows: usize,
        #[arg(long, default_value_t = 50_000)]
        mail_rows: usize,
    },
    /// An evidence bundle of one co-worker's events, checked by its verify.sh (needs the holdfast
    /// binary built beside this one).
    Bundle {
        /// How many events the co-worker has.
        #[arg(long, default_value_t = 100_000)]
        events: usize,
    },
    /// The API over real HTTP: audited reads by id, searches and list pages from keep-alive
    /// clients (one rep each), each beside `GET /healthz` with the same clients in the same run.
    Http {
        #[arg(long, default_value_t = 1_000_000)]
        contacts: usize,
        /// Concurrent clients for reads by id (searches and list pages use at most 8).
        #[arg(long, default_value_t = 32)]
        clients: usize,
        /// Seconds each phase runs.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Run on this PostgreSQL database (an empty one) instead of a SQLite file.
        #[arg(long)]
        postgres: Option<String>,
    },
    /// The first reads after a restart (each co-worker's reading baseline worked out from 90
    /// days of the log) beside the same server warm.
    Restart {
        /// Read events in the 90 days before today.
        #[arg(long, default_value_t = 2_000_000)]
        events: usize,
        #[arg(long, default_value_t = 500)]
        coworkers: usize,
        /// Concurrent clients, each a different co-worker.
        #[arg(long, default_value_t = 64)]
        clients: usize,
        /// Audited reads per client in each phase.
        #[arg(long, default_value_t = 20)]
        reads: usize,
    },
}

fn main() {
    let bench = Bench::parse();
    if let Err(e) = core_sqlite::run(&bench.command) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        super::Bench::command().debug_assert();
    }
}
