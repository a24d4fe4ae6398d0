//! Backups: a consistent copy of an embedded installation's database, itself a system event
//! (a backup carries every customer record out, as an export does).

use std::path::Path;

use serde::Serialize;
use serde_json::json;

use super::{Holdfast, append_events};
use crate::coworker::Actor;
use crate::error::CoreError;
use crate::event::{NewEvent, action};
use crate::storage::Database;

/// What a backup wrote.
#[derive(Debug, Clone, Serialize)]
pub struct Backup {
    pub bytes: u64,
    pub sha256: String,
    /// The last event in the copy's log and its hash.
    pub events: i64,
    pub head: String,
}

impl<D: Database> Holdfast<D> {
    /// Copies the database to the new file `dest` (admins and the operator), then records
    /// `backup.create` with the copy's size, fingerprint and last event in the live log.
    pub fn back_up(&self, actor: &Actor, dest: &Path) -> Result<Backup, CoreError> {
        self.require_admin(actor, "back up the database")?;
        if dest.exists() {
            return Err(CoreError::Conflict(format!("{} already exists; name a new file", dest.display())));
        }
        let (events, head) = self.db.copy_to(dest)?;
        let mut copy = std::fs::File::open(dest).map_err(|e| CoreError::BadFile(format!("{}: {e}", dest.display())))?;
        let (sha256, bytes) = super::exports::hash_file(&mut copy)?;
        let backup = Backup { bytes, sha256, events, head };
        self.db.write(|tx| {
            append_events(
                tx,
                vec![
                    NewEvent::by(actor, self.now(), action::BACKUP_CREATE)
                        .detail("file", json!(dest.display().to_string()))
                        .detail("bytes", json!(backup.bytes))
                        .detail("sha256", json!(backup.sha256))
                        .detail("events", json!(backup.events))
                        .detail("head", json!(backup.head)),
                ],
            )?;
            Ok(())
        })?;
        Ok(backup)
    }
}
