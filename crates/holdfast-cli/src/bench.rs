//! `holdfast bench`: end-to-end figures, each beside its physical-limit baseline measured in the
//! same run on the same data.

use anyhow::Result;
use clap::Subcommand;

#[derive(Subcommand)]
pub enum BenchCmd {
    /// Core figures: audited read by id, search, CSV import, system events per second.
    Core {
        /// How many contacts to generate.
        #[arg(long, default_value_t = 1_000_000)]
        contacts: usize,
    },
}

pub fn run(_database: &str, _cmd: &BenchCmd) -> Result<()> {
    anyhow::bail!("not built yet")
}
