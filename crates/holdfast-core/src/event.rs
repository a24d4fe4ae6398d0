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
    pub const REPORT_READ: &str = "report.read";
    pub const EXPORT_CREATE: &str = "export.create";
    pub const IMPORT: &str = "bulk.import";
    pub const BULK_UPDATE: &str = "bulk.update";
    pub const BULK_UNDO: &str = "bulk.undo";
    pub const HANDOVER: &str = "coworker.handover";
    pub const CONFIDENTIALITY_ACKNOWLEDGE: &str = "confidentiality.acknowledge";
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
    pub const TEAM_UPDATE: &str = "team.update";
    pub const TEAM_DELETE: &str = "team.delete";
    pub const SETTING_UPDATE: &str = "setting.update";
    pub const AUDIT_READ: &str = "audit.read";
    pub const AUDIT_VERIFY: &str = "audit.verify";
    pub const AUDIT_EXPORT: &str = "audit.export";
    pub const AUDIT_RETENTION: &str = "audit.retention";
    pub const BACKUP_CREATE: &str = "backup.create";
    pub const DEMO_LOAD: &str = "demo.load";
    pub const ACCESS_REFUSED: &str = "access.refused";

    /// The actions that read customer rows (their `row_count` is what bulk-read metering and
    /// the daily volume charts add up).
    pub const READS: [&str; 4] = [RECORD_READ, LIST_READ, SEARCH, EXPORT_CREATE];

    /// The actions a reviewer filters a co-worker's System events by, in the order offered.
    pub const REVIEWED: [&str; 16] = [
        RECORD_READ,
        LIST_READ,
        SEARCH,
        REPORT_READ,
        EXPORT_CREATE,
        RECORD_CREATE,
        RECORD_UPDATE,
        RECORD_DELETE,
        BULK_UPDATE,
        BULK_UNDO,
        IMPORT,
        LOGIN,
        LOGIN_FAILED,
        LOGOUT,
        TOKEN_CREATE,
        ACCESS_REFUSED,
    ];
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
    /// This event's hashed content as event number `seq` with id `id` and details text `details`.
    pub fn content<'a>(&'a self, seq: i64, id: &'a str, details: &'a str) -> EventContent<'a> {
        EventContent {
            seq,
            id,
            at: self.at,
            coworker_id: None,
            coworker: self.coworker_id,
            action: &self.action,
            object_type: self.object_type.as_deref(),
            object_id: self.object_id.as_deref(),
            row_count: self.row_count,
            client_addr: self.client_addr.as_deref(),
            user_agent: self.user_agent.as_deref(),
            details,
        }
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
        let id = crate::id::new_id();
        let hash = Self::compute_hash(seq, &id, &event, prev_hash);
        SystemEvent { seq, id, event, prev_hash: prev_hash.to_string(), hash }
    }

    /// The chain hash of `event` as number `seq` with id `id` after `prev_hash`.
    pub fn compute_hash(seq: i64, id: &Uuid, e: &NewEvent, prev_hash: &str) -> String {
        let details = e.details.to_string();
        let id = id.to_string();
        let content = e.content(seq, &id, &details);
        let mut buf = Vec::with_capacity(256);
        chain_hash(prev_hash, &content.digest(&mut buf))
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

/// An event's hashed content, borrowed (from a stored row when verifying, so nothing is parsed).
///
/// The canonical bytes are one line of JSON: `[seq,"id",at,"coworker_id"|null,"action",
/// "object_type"|null,"object_id"|null,row_count,"client_addr"|null,"user_agent"|null,details]`
/// where `details` is the stored JSON text of the details object (keys sorted).
#[derive(Debug, Clone, Copy)]
pub struct EventContent<'a> {
    pub seq: i64,
    pub id: &'a str,
    pub at: i64,
    /// The co-worker id as text (from a stored row)…
    pub coworker_id: Option<&'a str>,
    /// …or as a uuid (from memory); at most one is set.
    pub coworker: Option<Uuid>,
    pub action: &'a str,
    pub object_type: Option<&'a str>,
    pub object_id: Option<&'a str>,
    pub row_count: i64,
    pub client_addr: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub details: &'a str,
}

fn push_json_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => {
            let _ = serde_json::to_writer(&mut *out, s);
        }
        None => out.extend_from_slice(b"null"),
    }
}

impl EventContent<'_> {
    /// Writes the canonical bytes into `out` (cleared first).
    pub fn canonical_bytes(&self, out: &mut Vec<u8>) {
        out.clear();
        out.push(b'[');
        out.extend_from_slice(self.seq.to_string().as_bytes());
        out.push(b',');
        push_json_str(out, Some(self.id));
        out.push(b',');
        out.extend_from_slice(self.at.to_string().as_bytes());
        out.push(b',');
        match (self.coworker_id, self.coworker) {
            (Some(c), _) => push_json_str(out, Some(c)),
            (None, Some(u)) => {
                let mut buf = Uuid::encode_buffer();
                push_json_str(out, Some(u.hyphenated().encode_lower(&mut buf)));
            }
            (None, None) => push_json_str(out, None),
        }
        out.push(b',');
        push_json_str(out, Some(self.action));
        out.push(b',');
        push_json_str(out, self.object_type);
        out.push(b',');
        push_json_str(out, self.object_id);
        out.push(b',');
        out.extend_from_slice(self.row_count.to_string().as_bytes());
        out.push(b',');
        push_json_str(out, self.client_addr);
        out.push(b',');
        push_json_str(out, self.user_agent);
        out.push(b',');
        out.extend_from_slice(self.details.as_bytes());
        out.push(b']');
    }

    /// SHA-256 (hex) of the canonical bytes; `buf` is scratch space.
    pub fn digest(&self, buf: &mut Vec<u8>) -> String {
        self.canonical_bytes(buf);
        hex::encode(Sha256::digest(&buf[..]))
    }
}

/// `hash = SHA-256(prev_hash_hex ‖ content_digest_hex)`, hex: checkable with `sha256sum` alone.
pub fn chain_hash(prev_hash: &str, content_digest: &str) -> String {
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(content_digest.as_bytes());
    hex::encode(h.finalize())
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
