//! `holdfast trace FILE`: which export a file found in the wild came from, and who made it.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;
use holdfast_core::Holdfast;
use holdfast_core::coworker::Actor;
use holdfast_core::time::format_timestamp;
use holdfast_store::Store;

#[derive(Args)]
pub struct TraceArgs {
    /// The file: CSV (any separator, with or without a byte-order mark, UTF-8, UTF-16 or
    /// Windows-1252), XLSX or vCard; reordered, cut or edited is fine.
    pub file: PathBuf,
    /// Print the whole report as JSON.
    #[arg(long, env = "HOLDFAST_TRACE_JSON")]
    pub json: bool,
}

/// Prints the best match's export id and maker first, then the evidence; fails (exit 1) when no
/// export matches.
pub fn trace(services: &Holdfast<Store>, me: &Actor, args: &TraceArgs) -> Result<()> {
    // An unreadable file is a bad file (exit 2), not "no match" (exit 1).
    let bytes = std::fs::read(&args.file)
        .map_err(|e| holdfast_core::CoreError::BadFile(format!("cannot read {}: {e}", args.file.display())))?;
    let name = args.file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let report = services.trace_file(me, &name, &bytes)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    let Some(best) = report.matches.first() else {
        bail!(
            "no Holdfast export matches {} ({} rows, {} with an id, email, phone or name; {} exports compared)",
            args.file.display(),
            report.rows,
            report.rows_with_identity,
            report.exports_compared
        );
    };
    if args.json {
        return Ok(());
    }
    let who = |m: &holdfast_core::service::TraceMatch| {
        m.made_by.clone().unwrap_or_else(|| "(the operator, at the command line)".into())
    };
    println!("{}\t{}", best.export_id, who(best));
    println!(
        "file: {} — {} rows ({} with an id, email, phone or name), {}{}; exports compared: {}",
        report.file_name,
        report.rows,
        report.rows_with_identity,
        report.format,
        report.separator.map(|s| format!(", separated by '{}'", s.escape_default())).unwrap_or_default(),
        report.exports_compared
    );
    if report.by_name {
        println!("the file has no id, email or phone: its rows were matched by name alone (weaker evidence)");
    }
    for (i, m) in report.matches.iter().enumerate() {
        println!();
        println!("{} export {} by {}", if i == 0 { "most likely:" } else { "also:" }, m.export_id, who(m));
        if let Some(name) = &m.made_by_name {
            println!("  maker:       {name}");
        }
        println!(
            "  made:        {} through {} ({} {}, {} rows)",
            format_timestamp(m.made_at),
            holdfast_core::service::door_in_words(&m.door),
            m.kind,
            m.format,
            m.export_rows
        );
        println!(
            "  rows:        {} of the file's rows are the export's ({:.0}% of the file, {:.0}% of the export)",
            m.rows_matched,
            m.share_of_file * 100.0,
            m.share_of_export * 100.0
        );
        if m.canaries_found.is_empty() {
            println!("  canaries:    none of its {} found", m.canaries_placed);
        } else {
            println!(
                "  canaries:    {} of {} found: {}",
                m.canaries_found.len(),
                m.canaries_placed,
                m.canaries_found.join(", ")
            );
        }
        if !m.columns_kept.is_empty() {
            println!("  columns:     kept {}", m.columns_kept.join(", "));
        }
        if !m.columns_dropped.is_empty() {
            println!("               dropped {}", m.columns_dropped.join(", "));
        }
        if let Some(r) = &m.reason {
            println!("  reason given: {r}");
        }
    }
    Ok(())
}
