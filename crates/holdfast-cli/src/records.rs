//! Customer records from the command line: `holdfast list`, `export`, `import` and `undo`, each
//! through the same services (and so the same system events) as the API.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{Context, Result, anyhow};
use clap::{Args, Subcommand};
use holdfast_core::coworker::Actor;
use holdfast_core::record::RecordKind;
use holdfast_core::service::{ExportScope, ImportOptions, ListRequest};
use holdfast_core::{CoreError, Holdfast};
use holdfast_store::Store;

#[derive(Subcommand)]
pub enum ImportCmd {
    /// Import contacts (and their accounts) from a CSV file: HubSpot, Salesforce or Holdfast columns.
    Contacts {
        file: PathBuf,
        /// Report what would happen without writing anything.
        #[arg(long)]
        dry_run: bool,
    },
}

/// Which records: a kind and the list's search, owner, field filters and sort (as the API takes).
#[derive(Args)]
pub struct Selection {
    /// accounts, contacts, leads, deals, contracts, activities or tasks
    pub kind: String,
    #[arg(long)]
    pub q: Option<String>,
    /// Co-worker email or id.
    #[arg(long)]
    pub owner: Option<String>,
    #[arg(long)]
    pub sort: Option<String>,
    /// Field filters, e.g. --where stage=proposal (repeat a field for either value).
    #[arg(long = "where", value_name = "FIELD=VALUE")]
    pub filters: Vec<String>,
}

impl Selection {
    fn request(&self) -> Result<(&'static RecordKind, ListRequest)> {
        let kind = kind_of(&self.kind)?;
        let mut filters = Vec::new();
        for f in &self.filters {
            let (k, v) = f.split_once('=').ok_or_else(|| anyhow!("--where takes FIELD=VALUE, not '{f}'"))?;
            filters.push((k.trim().to_string(), v.trim().to_string()));
        }
        let req = ListRequest {
            q: self.q.clone(),
            owner: self.owner.clone(),
            sort: self.sort.clone(),
            filters,
            ..Default::default()
        };
        Ok((kind, req))
    }
}

#[derive(Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub which: Selection,
    #[arg(long, default_value_t = 20)]
    pub limit: u32,
}

#[derive(Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub which: Selection,
}

/// The kind of record a command names by its plural.
fn kind_of(plural: &str) -> Result<&'static RecordKind> {
    RecordKind::by_plural(plural).ok_or_else(|| {
        anyhow!(
            "'{plural}' is not a kind of record; use accounts, contacts, leads, deals, contracts, activities or tasks"
        )
    })
}

pub fn import(services: &Holdfast<Store>, me: &Actor, cmd: &ImportCmd) -> Result<()> {
    let ImportCmd::Contacts { file, dry_run } = cmd;
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
    let report = services.import_contacts(me, &mut f, &options, &|done, total| {
        bar.set_length(total);
        bar.set_position(done);
    })?;
    bar.finish_and_clear();
    println!(
        "{}{} rows: {} created, {} merged into existing contacts, {} skipped, {} rejected; {} new accounts",
        if report.dry_run { "dry run (nothing written): " } else { "" },
        report.rows,
        report.created,
        report.merged,
        report.skipped.len(),
        report.rejected.len(),
        report.accounts_created
    );
    for r in &report.rejected {
        println!("  rejected line {}: {}", r.row, r.reason);
    }
    for r in &report.skipped {
        println!("  skipped line {}: {}", r.row, r.reason);
    }
    for w in &report.warnings {
        println!("  note line {}: {}", w.row, w.reason);
    }
    Ok(())
}

pub fn list(services: &Holdfast<Store>, me: &Actor, args: &ListArgs) -> Result<()> {
    let (kind, mut req) = args.which.request()?;
    req.limit = Some(args.limit);
    let page = services.list_records(me, kind, &req)?;
    for r in &page.items {
        println!("{}\t{}", r.id, r.label(kind));
    }
    Ok(())
}

pub fn export(services: &Holdfast<Store>, me: &Actor, args: &ExportArgs) -> Result<()> {
    let (kind, req) = args.which.request()?;
    let export = services.export_records(me, kind, &ExportScope::Matching(req))?;
    print!("{}", export.csv);
    eprintln!("exported {} {} (recorded as an export)", export.rows, kind.plural);
    Ok(())
}

/// Undoes a bulk change or handover where nobody has changed the records since.
pub fn undo(services: &Holdfast<Store>, me: &Actor, operation: &str) -> Result<()> {
    let id = uuid::Uuid::parse_str(operation)
        .map_err(|_| CoreError::invalid("operation", format!("'{operation}' is not an operation id")))?;
    let done = services.undo_bulk(me, id)?;
    eprintln!("put back {} records; {} left as they were (changed since)", done.changed, done.skipped);
    Ok(())
}
