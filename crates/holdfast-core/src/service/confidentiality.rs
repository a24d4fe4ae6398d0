//! The confidentiality notice: acknowledged at hire, reaffirmed when leaving.
//!
//! The admin keeps one short confidentiality notice (a reminder of the clause everyone signed:
//! customer records, pipeline and price lists belong to the company). Each text it has had is kept
//! as a numbered version. The web app shows it before anything else at a co-worker's first sign-in
//! and again, once, when they are departing, and records each acknowledgement as a system event
//! holding the version and SHA-256 of the exact text they saw. It is a reminder stated as fact:
//! only a departing co-worker's bulk reading waits for it.

use serde_json::json;
use sha2::{Digest, Sha256};

use super::{Holdfast, append_events};
use crate::coworker::{Actor, Status};
use crate::error::CoreError;
use crate::event::{EventFilter, NewEvent, action};
use crate::storage::{Database, Tx};

/// The settings key of the notice.
pub const NOTICE_SETTING: &str = "confidentiality_notice";

/// The notice until an admin writes their own.
pub const DEFAULT_NOTICE: &str = "A reminder of the confidentiality clause in your employment agreement: customer \
records, contacts, pipeline, prices and every other piece of customer information in Holdfast belong to the \
company, during your employment and after it. Please do not copy them outside Holdfast, and do not take \
copies of them with you when you leave, in any form. Holdfast records what each co-worker opens, lists and \
exports, as every co-worker is told; every export can be traced back to whoever made it, and the company can \
see customer data emailed to addresses outside it, personal ones included. If you hold customer data outside \
Holdfast, please tell your manager so it can be returned.";

/// One acknowledgement of the notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acknowledgement {
    pub at: i64,
    pub version: Option<i64>,
    pub sha256: String,
    /// The co-worker's status when they acknowledged (active at hire, departing when leaving).
    pub status: String,
    pub client_addr: Option<String>,
}

/// The notice as shown, and the fingerprint an acknowledgement records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfidentialityNotice {
    pub text: String,
    /// SHA-256 of the text, hex.
    pub sha256: String,
}

impl ConfidentialityNotice {
    pub(crate) fn of(text: String) -> Self {
        let sha256 = hex::encode(Sha256::digest(text.as_bytes()));
        ConfidentialityNotice { text, sha256 }
    }
}

impl<D: Database> Holdfast<D> {
    /// The notice a signed-in co-worker still has to acknowledge: at their first sign-in (hire),
    /// if they never acknowledged any version; and while departing, the current text once more.
    /// `None` when nothing is asked of them.
    pub fn pending_confidentiality(&self, actor: &Actor) -> Result<Option<ConfidentialityNotice>, CoreError> {
        let Some(me) = actor.coworker.as_ref() else { return Ok(None) };
        match me.status {
            Status::Departing => self.db.read(|tx| self.pending_confidentiality_in(tx, actor)),
            Status::Active => {
                if self.acknowledged.read().is_ok_and(|known| known.contains(&me.id)) {
                    return Ok(None);
                }
                let filter = EventFilter {
                    coworker_id: Some(me.id),
                    action: Some(action::CONFIDENTIALITY_ACKNOWLEDGE.into()),
                    limit: 1,
                    ..Default::default()
                };
                if self.db.read(|tx| Ok(tx.list_events(&filter)?))?.is_empty() {
                    return Ok(Some(self.settings()?.confidentiality_notice.clone()));
                }
                if let Ok(mut known) = self.acknowledged.write() {
                    known.insert(me.id);
                }
                Ok(None)
            }
            Status::Departed | Status::Suspended => Ok(None),
        }
    }

    /// As [`Self::pending_confidentiality`] for a departing co-worker, inside the caller's
    /// transaction (anyone else: nothing pending here).
    pub(crate) fn pending_confidentiality_in(
        &self,
        tx: &mut dyn Tx,
        actor: &Actor,
    ) -> Result<Option<ConfidentialityNotice>, CoreError> {
        let Some(me) = actor.coworker.as_ref().filter(|c| c.status == Status::Departing) else { return Ok(None) };
        let notice = self.settings_in(tx)?.confidentiality_notice.clone();
        // Acknowledged at hire is not enough: a departing co-worker reaffirms it while departing.
        let done = acknowledged_in(tx, me.id, &notice.sha256, Some(Status::Departing))?;
        Ok(if done.is_some() { None } else { Some(notice) })
    }

    /// When `coworker` acknowledged the notice with this fingerprint (while in `status`, when
    /// given), if they did.
    fn confidentiality_acknowledged(
        &self,
        coworker: uuid::Uuid,
        sha256: &str,
        status: Option<Status>,
    ) -> Result<Option<i64>, CoreError> {
        self.db.read(|tx| acknowledged_in(tx, coworker, sha256, status))
    }

    /// Records that the co-worker read and accepted the notice whose fingerprint is `sha256`.
    pub fn acknowledge_confidentiality(&self, actor: &Actor, sha256: &str) -> Result<(), CoreError> {
        let me = actor.coworker.as_ref().ok_or_else(|| CoreError::forbidden("only a co-worker can acknowledge"))?;
        let notice = self.settings()?.confidentiality_notice.clone();
        if notice.sha256 != sha256 {
            return Err(CoreError::Conflict("the notice changed while you were reading it; read it again".into()));
        }
        self.db.write(|tx| {
            // The text as acknowledged is kept (once) as a numbered version of the notice.
            let version = tx.keep_notice_version(&notice.sha256, &notice.text, self.now(), None)?;
            append_events(
                tx,
                vec![
                    NewEvent::by(actor, self.now(), action::CONFIDENTIALITY_ACKNOWLEDGE)
                        .object("coworker", me.id)
                        .detail("sha256", json!(notice.sha256))
                        .detail("version", json!(version))
                        .detail("status", json!(me.status.as_str())),
                ],
            )?;
            Ok(())
        })
    }

    /// Every version of the notice: number, fingerprint, text, when it was first kept.
    pub fn notice_versions(&self) -> Result<Vec<crate::storage::NoticeVersion>, CoreError> {
        self.db.read(|tx| Ok(tx.notice_versions()?))
    }

    /// A co-worker's acknowledgements of the notice, newest first: when, which version, their
    /// status then, and from where (admins, their manager, themselves).
    pub fn confidentiality_acknowledgements(
        &self,
        actor: &Actor,
        who: &str,
    ) -> Result<Vec<Acknowledgement>, CoreError> {
        let target = self.coworker_for_review(actor, who)?;
        let filter = EventFilter {
            coworker_id: Some(target.id),
            action: Some(action::CONFIDENTIALITY_ACKNOWLEDGE.into()),
            limit: 100,
            ..Default::default()
        };
        self.db.read(|tx| {
            let versions = tx.notice_versions()?;
            Ok(tx
                .list_events(&filter)?
                .into_iter()
                .map(|e| {
                    let sha256 = e.event.details["sha256"].as_str().unwrap_or_default().to_string();
                    Acknowledgement {
                        at: e.event.at,
                        version: versions.iter().find(|v| v.sha256 == sha256).map(|v| v.version),
                        sha256,
                        status: e.event.details["status"].as_str().unwrap_or_default().to_string(),
                        client_addr: e.event.client_addr.clone(),
                    }
                })
                .collect())
        })
    }

    /// When a co-worker last acknowledged the current notice (admins, their manager, themselves).
    pub fn confidentiality_status(&self, actor: &Actor, who: &str) -> Result<Option<i64>, CoreError> {
        let target = self.coworker_for_review(actor, who)?;
        let notice = self.settings()?.confidentiality_notice.clone();
        self.confidentiality_acknowledged(target.id, &notice.sha256, None)
    }
}

/// When `coworker` acknowledged the notice with this fingerprint (while in `status`, when
/// given), if they did, read in `tx`.
fn acknowledged_in(
    tx: &mut dyn Tx,
    coworker: uuid::Uuid,
    sha256: &str,
    status: Option<Status>,
) -> Result<Option<i64>, CoreError> {
    let filter = EventFilter {
        coworker_id: Some(coworker),
        action: Some(action::CONFIDENTIALITY_ACKNOWLEDGE.into()),
        limit: 100,
        ..Default::default()
    };
    let events = tx.list_events(&filter)?;
    Ok(events
        .iter()
        .filter(|e| status.is_none_or(|s| e.event.details["status"] == s.as_str()))
        .find(|e| e.event.details["sha256"] == sha256)
        .map(|e| e.event.at))
}
