//! System events: the append-only record of who read, searched, exported or changed what.
//!
//! Events are chained: each event's `hash` is SHA-256 over the previous event's hash and the
//! event's own canonical content (see [`SystemEvent::compute_hash`]), so an edited, deleted or
//! reordered event breaks the chain from that point on.

use serde_json::{Value as Json, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::coworker::Actor;
use crate::time::format_timestamp;

/// The well-known actions. Free-form strings are allowed too, but these are what reports count.
pub mod action {
    pub const RECORD_READ: &str = "record.read";
    pub const RECORD_CREATE: &str = "record.create";
    pub const RECORD_UPDATE: &str = "record.update";
    pub const RECORD_DELETE: &str = "record.delete";
    pub const RECORD_RESTORE: &str = "record.restore";
    pub const LIST_READ: &str = "list.read";
    pub const SEARCH: &str = "search";
    pub const EXPORT_CREATE: &str = "export.create";
    pub const IMPORT: &str = "bulk.import";
    pub const LOGIN: &str = "auth.login";
    pub const LOGIN_FAILED: &str = "auth.login_failed";
    pub const LOGOUT: &str = "auth.logout";
    pub const TOKEN_USE: &str = "auth.token_use";
    pub const TOKEN_CREATE: &str = "token.create";
    pub const TOKEN_REVOKE: &str = "token.revoke";
    pub const COWORKER_CREATE: &str = "coworker.create";
    pub const COWORKER_UPDATE: &str = "coworker.update";
    pub const COWORKER_READ: &str = "coworker.read";
    pub const TEAM_CREATE: &str = "team.create";
    pub const SETTING_UPDATE: &str = "setting.update";
    pub const AUDIT_READ: &str = "audit.read";
    pub const DEMO_LOAD: &str = "demo.load";
}

/// The hash that precedes the first event.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// An event about to be appended (sequence and hashes are assigned by the log).
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub at: i64,
    pub coworker_id: Option<Uuid>,
    pub action: String,
    pub object_type: Option<String>,
    pub object_id: Option<String>,
    pub row_count: i64,
    pub client_addr: Option<String>,
    pub user_agent: Option<String>,
    pub details: Json,
}

impl NewEvent {
    /// An event by `actor`, carrying its channel and credential in the details.
    pub fn by(actor: &Actor, at: i64, action: &str) -> NewEvent {
        let mut details = serde_json::Map::new();
        details.insert("via".into(), Json::String(actor.channel.as_str().into()));
        if let Some(cred) = actor.credential_id {
            details.insert("credential_id".into(), Json::String(cred.to_string()));
        }
        NewEvent {
            at,
            coworker_id: actor.id(),
            action: action.to_string(),
            object_type: None,
            object_id: None,
            row_count: 0,
            client_addr: actor.client_addr.clone(),
            user_agent: actor.user_agent.clone(),
            details: Json::Object(details),
        }
    }
    pub fn object(mut self, object_type: &str, object_id: impl ToString) -> Self {
        self.object_type = Some(object_type.to_string());
        self.object_id = Some(object_id.to_string());
        self
    }
    pub fn object_type(mut self, object_type: &str) -> Self {
        self.object_type = Some(object_type.to_string());
        self
    }
    pub fn rows(mut self, n: usize) -> Self {
        self.row_count = i64::try_from(n).unwrap_or(i64::MAX);
        self
    }
    pub fn detail(mut self, key: &str, value: Json) -> Self {
        if let Json::Object(map) = &mut self.details {
            map.insert(key.to_string(), value);
        }
        self
    }
}

/// An event as stored: numbered and chained.
#[derive(Debug, Clone, PartialEq)]
pub struct SystemEvent {
    /// Position in the log, from 1 with no gaps.
    pub seq: i64,
    pub id: Uuid,
    pub event: NewEvent,
    pub prev_hash: String,
    pub hash: String,
}

impl SystemEvent {
    /// Chains `event` after `(prev_seq, prev_hash)`.
    pub fn chain(event: NewEvent, prev_seq: i64, prev_hash: &str) -> SystemEvent {
        let seq = prev_seq + 1;
        let id = Uuid::now_v7();
        let hash = Self::compute_hash(seq, &id, &event, prev_hash);
        SystemEvent { seq, id, event, prev_hash: prev_hash.to_string(), hash }
    }

    /// The bytes an event's hash covers: a JSON array of its fields in fixed order.
    pub fn canonical_bytes(seq: i64, id: &Uuid, e: &NewEvent) -> Vec<u8> {
        let content = json!([
            seq,
            id.to_string(),
            e.at,
            e.coworker_id.map(|c| c.to_string()),
            e.action,
            e.object_type,
            e.object_id,
            e.row_count,
            e.client_addr,
            e.user_agent,
            e.details,
        ]);
        serde_json::to_vec(&content).unwrap_or_default()
    }

    /// SHA-256 (hex) of the previous hash (hex text) followed by the canonical bytes.
    pub fn compute_hash(seq: i64, id: &Uuid, e: &NewEvent, prev_hash: &str) -> String {
        let mut hasher = Sha256::new();
        hasher.update(prev_hash.as_bytes());
        hasher.update(Self::canonical_bytes(seq, id, e));
        hex::encode(hasher.finalize())
    }

    /// Whether the stored hash matches the content and the given predecessor.
    pub fn verify(&self, prev_hash: &str) -> bool {
        self.prev_hash == prev_hash && Self::compute_hash(self.seq, &self.id, &self.event, prev_hash) == self.hash
    }

    pub fn to_json(&self) -> Json {
        let e = &self.event;
        json!({
            "seq": self.seq,
            "id": self.id,
            "at": format_timestamp(e.at),
            "coworker_id": e.coworker_id,
            "action": e.action,
            "object_type": e.object_type,
            "object_id": e.object_id,
            "row_count": e.row_count,
            "client_addr": e.client_addr,
            "user_agent": e.user_agent,
            "details": e.details,
            "hash": self.hash,
        })
    }
}

/// Which events to list.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub coworker_id: Option<Uuid>,
    pub action: Option<String>,
    pub object_type: Option<String>,
    pub object_id: Option<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    /// Only events with `seq` below this (newest-first paging).
    pub before_seq: Option<i64>,
    pub limit: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(action: &str) -> NewEvent {
        NewEvent {
            at: 1,
            coworker_id: None,
            action: action.into(),
            object_type: Some("contact".into()),
            object_id: Some("x".into()),
            row_count: 1,
            client_addr: None,
            user_agent: None,
            details: json!({"a": 1}),
        }
    }

    #[test]
    fn chain_detects_edits() {
        let first = SystemEvent::chain(sample("record.read"), 0, GENESIS_HASH);
        let second = SystemEvent::chain(sample("record.update"), first.seq, &first.hash);
        assert!(first.verify(GENESIS_HASH));
        assert!(second.verify(&first.hash));
        let mut edited = second.clone();
        edited.event.row_count = 2;
        assert!(!edited.verify(&first.hash));
    }
}
