//! Reviewing system events. Looking at someone's events is itself recorded.

use serde_json::json;

use super::Holdfast;
use crate::coworker::Actor;
use crate::error::CoreError;
use crate::event::{EventFilter, NewEvent, SystemEvent, action};
use crate::storage::Database;

impl<D: Database> Holdfast<D> {
    /// A co-worker's system events, newest first (admins, their managers, and themselves).
    pub fn coworker_events(
        &self,
        actor: &Actor,
        who: &str,
        mut filter: EventFilter,
    ) -> Result<Vec<SystemEvent>, CoreError> {
        let target = self.coworker_for_review(actor, who)?;
        filter.coworker_id = Some(target.id);
        filter.limit = filter.limit.clamp(1, 10_000);
        let events = self.db.read(|tx| Ok(tx.list_events(&filter)?))?;
        self.record_read(vec![
            NewEvent::by(actor, self.now(), action::AUDIT_READ)
                .object("coworker", target.id)
                .rows(events.len())
                .detail("action_filter", json!(filter.action)),
        ])?;
        Ok(events)
    }

    /// All events matching a filter (admins and the operator only).
    pub fn events(&self, actor: &Actor, filter: &EventFilter) -> Result<Vec<SystemEvent>, CoreError> {
        self.noting_refusals(
            actor,
            || "read the whole system event log".to_string(),
            || {
                if !actor.is_admin() {
                    return Err(CoreError::forbidden("only an admin may read the whole system event log"));
                }
                let events = self.db.read(|tx| Ok(tx.list_events(filter)?))?;
                self.record_read(vec![NewEvent::by(actor, self.now(), action::AUDIT_READ).rows(events.len())])?;
                Ok(events)
            },
        )
    }
}
