//! Reaffirming confidentiality when a co-worker leaves.
//!
//! The admin keeps one short confidentiality notice (a reminder of the clause everyone signed:
//! customer records, pipeline and price lists belong to the company). When a co-worker is marked
//! `departing`, the web app shows them the notice before anything else, once, and records their
//! acknowledgement as a system event holding the SHA-256 of the exact text they saw. It is a
//! reminder stated as fact, not a gate: nothing else is locked.

use serde_json::json;
use sha2::{Digest, Sha256};

use super::{Holdfast, append_events};
use crate::coworker::{Actor, Status};
use crate::error::CoreError;
use crate::event::{EventFilter, NewEvent, action};
use crate::storage::Database;

/// The settings key of the notice.
pub const NOTICE_SETTING: &str = "confidentiality_notice";

/// The notice until an admin writes their own.
pub const DEFAULT_NOTICE: &str = "Thank you for your work here. A reminder of the confidentiality clause in your \
employment agreement: customer records, contacts, pipeline, prices and every other piece of customer \
information in Holdfast belong to the company, during your employment and after it. Please do not take \
copies of them with you, in any form. Holdfast records what each co-worker opens, lists and exports, as \
every co-worker was told. If you hold customer data outside Holdfast, please tell your manager so it can \
be returned.";

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
    /// The notice a signed-in co-worker still has to acknowledge: for a departing co-worker who
    /// has not acknowledged the current text. `None` for everyone else.
    pub fn pending_confidentiality(&self, actor: &Actor) -> Result<Option<ConfidentialityNotice>, CoreError> {
        let Some(me) = actor.coworker.as_ref().filter(|c| c.status == Status::Departing) else { return Ok(None) };
        let notice = self.settings()?.confidentiality_notice.clone();
        let done = self.confidentiality_acknowledged(me.id, &notice.sha256)?;
        Ok(if done.is_some() { None } else { Some(notice) })
    }

    /// When `coworker` acknowledged the notice with this fingerprint, if they did.
    fn confidentiality_acknowledged(&self, coworker: uuid::Uuid, sha256: &str) -> Result<Option<i64>, CoreError> {
        let filter = EventFilter {
            coworker_id: Some(coworker),
            action: Some(action::CONFIDENTIALITY_ACKNOWLEDGE.into()),
            limit: 100,
            ..Default::default()
        };
        let events = self.db.read(|tx| Ok(tx.list_events(&filter)?))?;
        Ok(events.iter().find(|e| e.event.details["sha256"] == sha256).map(|e| e.event.at))
    }

    /// Records that the co-worker read and accepted the notice whose fingerprint is `sha256`.
    pub fn acknowledge_confidentiality(&self, actor: &Actor, sha256: &str) -> Result<(), CoreError> {
        let me = actor.coworker.as_ref().ok_or_else(|| CoreError::forbidden("only a co-worker can acknowledge"))?;
        let notice = self.settings()?.confidentiality_notice.clone();
        if notice.sha256 != sha256 {
            return Err(CoreError::Conflict("the notice changed while you were reading it; read it again".into()));
        }
        self.db.write(|tx| {
            append_events(
                tx,
                vec![
                    NewEvent::by(actor, self.now(), action::CONFIDENTIALITY_ACKNOWLEDGE)
                        .object("coworker", me.id)
                        .detail("sha256", json!(notice.sha256))
                        .detail("status", json!(me.status.as_str())),
                ],
            )?;
            Ok(())
        })
    }

    /// When a co-worker last acknowledged the current notice (admins, their manager, themselves).
    pub fn confidentiality_status(&self, actor: &Actor, who: &str) -> Result<Option<i64>, CoreError> {
        let target = self.coworker_for_review(actor, who)?;
        let notice = self.settings()?.confidentiality_notice.clone();
        self.confidentiality_acknowledged(target.id, &notice.sha256)
    }
}
