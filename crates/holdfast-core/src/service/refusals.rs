//! Refused requests leave a trace: a co-worker told "not allowed" when reading, exporting or
//! changing customer data is what an investigation looks for. Each refusal is an `access.refused`
//! event naming what was asked and why it was refused, limited per co-worker so that a flood of
//! refusals cannot fill the log (the next event written says how many were left out).

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::json;
use uuid::Uuid;

use super::Holdfast;
use crate::coworker::Actor;
use crate::error::CoreError;
use crate::event::{NewEvent, action};
use crate::storage::Database;

/// Refusal events written per co-worker per minute; more are counted, not written.
pub const REFUSALS_PER_MINUTE: u32 = 30;

const MINUTE: i64 = 60_000_000;

/// Per co-worker: the minute counted, refusals written in it, and refusals left out since.
#[derive(Default)]
pub(crate) struct RefusalLimits(Mutex<HashMap<Uuid, (i64, u32, u64)>>);

impl<D: Database> Holdfast<D> {
    /// Runs a service call for `actor`; a refusal (`Forbidden`, or a contact's protocol) is recorded
    /// before it is returned.
    pub(crate) fn noting_refusals<T>(
        &self,
        actor: &Actor,
        asked: impl FnOnce() -> String,
        call: impl FnOnce() -> Result<T, CoreError>,
    ) -> Result<T, CoreError> {
        let result = call();
        match &result {
            Err(CoreError::Forbidden(why)) => self.record_refusal(actor, &asked(), why)?,
            Err(CoreError::Protocol(refusal)) => self.record_refusal(actor, &asked(), &refusal.describe())?,
            _ => {}
        }
        result
    }

    /// Writes an `access.refused` event, within the per-co-worker limit.
    fn record_refusal(&self, actor: &Actor, asked: &str, why: &str) -> Result<(), CoreError> {
        let Some(me) = actor.id() else { return Ok(()) };
        let now = self.now();
        let left_out = {
            let Ok(mut map) = self.refusal_limits.0.lock() else { return Ok(()) };
            let entry = map.entry(me).or_insert((now / MINUTE, 0, 0));
            if entry.0 != now / MINUTE {
                *entry = (now / MINUTE, 0, entry.2);
            }
            if entry.1 >= REFUSALS_PER_MINUTE {
                entry.2 += 1;
                return Ok(());
            }
            entry.1 += 1;
            std::mem::take(&mut entry.2)
        };
        let mut event =
            NewEvent::by(actor, now, action::ACCESS_REFUSED).detail("asked", json!(asked)).detail("reason", json!(why));
        if left_out > 0 {
            event = event.detail("refusals_left_out", json!(left_out));
        }
        self.record_read(vec![event])
    }
}
