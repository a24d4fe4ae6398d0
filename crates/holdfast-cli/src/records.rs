//! Customer records from the command line: `holdfast list`, `export`, `import` and `undo`, each
//! through the same services (and so the same system events) as the API.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{Context, Result, anyhow};
use clap::{Args, Subcommand};
use holdfast_core::coworker::Actor;
use holdfast_core::guard::ExportFormat;
use holdfast_core::record::RecordKind;
use holdfast_core::service::{ExportAsk, ImportOptions, ListRequest};
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
    /// Import leads from a CSV file (HubSpot, Salesforce or Holdfast columns): each row is matched
    /// against leads, contacts and accounts, scored, and routed when it names no owner.
    Leads {
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
    /// csv, xlsx or vcard (contacts).
    #[arg(long, default_value = "csv", env = "HOLDFAST_EXPORT_FORMAT")]
    pub format: String,
    /// Only these columns, comma-separated (default: every column you may export).
    #[arg(long, value_delimiter = ',', env = "HOLDFAST_EXPORT_COLUMNS")]
    pub columns: Option<Vec<String>>,
    /// At most this many rows.
    #[arg(long = "max-rows", env = "HOLDFAST_EXPORT_MAX_ROWS")]
    pub max_rows: Option<i64>,
    /// Why you need it (shown to whoever approves it).
    #[arg(long, env = "HOLDFAST_EXPORT_REASON")]
    pub reason: Option<String>,
    /// Write the file here instead of to standard output.
    #[arg(long, short = 'o', env = "HOLDFAST_EXPORT_OUTPUT")]
    pub output: Option<PathBuf>,
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
    let (file, dry_run) = match cmd {
        ImportCmd::Contacts { file, dry_run } => (file, dry_run),
        ImportCmd::Leads { file, dry_run } => return import_leads(services, me, file, *dry_run),
    };
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

fn import_leads(services: &Holdfast<Store>, me: &Actor, file: &std::path::Path, dry_run: bool) -> Result<()> {
    let f = std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
    let options = ImportOptions { dry_run, source: Some(file.display().to_string()) };
    let report = services.import_leads(me, std::io::BufReader::new(f), &options)?;
    println!(
        "{}{} rows: {} new leads ({} routed, {} linked to customer contacts, {} marked as probable duplicates), \
         {} updated leads that came in again, {} rejected",
        if report.dry_run { "dry run (nothing written): " } else { "" },
        report.rows,
        report.created,
        report.routed,
        report.linked_to_contacts,
        report.flagged_duplicates,
        report.updated,
        report.rejected.len(),
    );
    println!("  columns: {}", report.columns.iter().map(|(c, f)| format!("{c} → {f}")).collect::<Vec<_>>().join(", "));
    for r in &report.rejected {
        println!("  rejected line {}: {}", r.row, r.reason);
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
    let format = ExportFormat::parse(&args.format).map_err(|r| CoreError::invalid("format", r))?;
    let ask = ExportAsk {
        kind,
        list: req,
        ids: None,
        limit: args.max_rows,
        format,
        columns: args.columns.clone(),
        reason: args.reason.clone(),
    };
    match services.export_now(me, &ask)? {
        Ok(mut file) => {
            match &args.output {
                Some(path) => write_whole(path, &mut file.file)?,
                None => {
                    if format == ExportFormat::Xlsx && std::io::stdout().is_terminal() {
                        anyhow::bail!("an XLSX file is binary; write it to a file with -o FILE.xlsx");
                    }
                    std::io::copy(&mut file.file, &mut std::io::stdout().lock())?;
                }
            }
            eprintln!(
                "exported {} {} ({} bytes, SHA-256 {}), recorded as export {}",
                file.rows, kind.plural, file.bytes, file.sha256, file.export_id
            );
        }
        Err(waiting) => {
            eprintln!(
                "the export of {} {} waits for approval (export {}): a manager or an admin approves it with \
                 `holdfast exports approve {}`, then download it with `holdfast exports download {} -o FILE`",
                waiting.matched, kind.plural, waiting.id, waiting.id, waiting.id
            );
        }
    }
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

/// Writes an export to `path` whole or not at all: into `PATH.partial` (readable only by its
/// owner: it holds customer data), synced, then renamed, so a killed command never leaves a cut
/// file under the name asked for.
pub fn write_whole(path: &std::path::Path, content: &mut dyn std::io::Read) -> Result<()> {
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let mut out = holdfast_core::private_files::private_open_options()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&partial)
        .with_context(|| format!("creating {}", partial.display()))?;
    std::io::copy(content, &mut out).with_context(|| format!("writing {}", partial.display()))?;
    out.sync_all().with_context(|| format!("writing {}", partial.display()))?;
    std::fs::rename(&partial, path).with_context(|| format!("renaming {} to {}", partial.display(), path.display()))?;
    Ok(())
}
