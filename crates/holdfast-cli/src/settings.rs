//! `holdfast settings`: show the settings, or change who may open which customer records.

use anyhow::Result;
use clap::Subcommand;
use holdfast_core::Holdfast;
use holdfast_core::coworker::Actor;
use holdfast_core::service::SettingsChange;
use holdfast_store::Store;

#[derive(Subcommand)]
pub enum SettingsCmd {
    /// Show all settings.
    Show,
    /// Who may open which customer records: all, team or own.
    ReadPolicy { policy: String },
}

pub fn run(services: &Holdfast<Store>, me: &Actor, cmd: &SettingsCmd) -> Result<()> {
    match cmd {
        SettingsCmd::Show => {
            let s = services.settings()?;
            println!("read_policy\t{}", s.read_policy.as_str());
            println!("export_policy\t{}", s.export_policy.as_str());
            println!("bulk_read_limit\t{}", s.bulk_read_limit);
            Ok(())
        }
        SettingsCmd::ReadPolicy { policy } => {
            let change = SettingsChange { read_policy: Some(policy.clone()), ..Default::default() };
            let s = services.change_settings(me, &change)?;
            println!("read_policy\t{}", s.read_policy.as_str());
            Ok(())
        }
    }
}
