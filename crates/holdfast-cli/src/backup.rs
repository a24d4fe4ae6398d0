//! `holdfast backup DEST`: a consistent copy of an embedded installation (the database, the
//! audit signing key and the external checkpoints) that `holdfast --database DEST audit verify`
//! checks, taken while the server goes on serving.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use holdfast_core::audit::{append_checkpoint_file, read_checkpoint_file};
use holdfast_core::coworker::Actor;
use holdfast_core::private_files::{create_private_dir, private_open_options};
use holdfast_core::{Holdfast, service};
use holdfast_store::Store;

use crate::audit::AuditFiles;

#[derive(clap::Args)]
pub struct BackupArgs {
    /// A new (or empty) directory for the copy; it becomes a data directory of its own.
    dest: PathBuf,
}

pub fn run(services: &Holdfast<Store>, me: &Actor, files: &AuditFiles, args: &BackupArgs) -> Result<()> {
    let dest = &args.dest;
    if dest.exists() && std::fs::read_dir(dest).with_context(|| format!("reading {}", dest.display()))?.next().is_some()
    {
        bail!("{} is not empty: name a new directory for the backup", dest.display());
    }
    create_private_dir(dest).with_context(|| format!("creating {}", dest.display()))?;
    let database = dest.join("holdfast.db");
    let backup = services.back_up(me, &database)?;
    let copied = AuditFiles::in_dir(dest);
    let key = copy_private(&files.key, &copied.key)?;
    // The copy's log ends where its snapshot was taken: the checkpoints signed up to there go
    // with it (a later one would make the copy look like a log whose tail was cut off).
    let (events, head) = (backup.events, backup.head.clone());
    let mut checkpoints = 0;
    if files.checkpoints.exists() {
        for c in read_checkpoint_file(&files.checkpoints)?.into_iter().filter(|c| c.seq <= events) {
            append_checkpoint_file(&copied.checkpoints, &c)?;
            checkpoints += 1;
        }
    }
    print(dest, &backup, events, &head, key, checkpoints);
    Ok(())
}

fn print(dest: &Path, backup: &service::Backup, events: i64, head: &str, key: bool, checkpoints: usize) {
    println!("backed up to {}:", dest.display());
    println!("  holdfast.db        {} bytes, sha256 {}", backup.bytes, backup.sha256);
    println!("                     {events} system events, head {head}");
    if key {
        println!("  audit-signing.key  copied (private: keep the backup where only admins reach it)");
    } else {
        println!("  audit-signing.key  none yet (no checkpoint was ever signed)");
    }
    println!("  checkpoints.jsonl  {checkpoints} signed checkpoint{}", if checkpoints == 1 { "" } else { "s" });
    println!("check it: holdfast --database {} audit verify", dest.display());
}

/// Copies `from` to the new private file `to`, when `from` exists.
fn copy_private(from: &Path, to: &Path) -> Result<bool> {
    if !from.exists() {
        return Ok(false);
    }
    let mut input = std::fs::File::open(from).with_context(|| format!("reading {}", from.display()))?;
    let mut output = private_open_options()
        .write(true)
        .create_new(true)
        .open(to)
        .with_context(|| format!("creating {}", to.display()))?;
    std::io::copy(&mut input, &mut output).with_context(|| format!("copying to {}", to.display()))?;
    output.sync_all().with_context(|| format!("writing {}", to.display()))?;
    Ok(true)
}
