//! Tamper evidence for the system event log: signed checkpoints and streaming verification.
//!
//! A **checkpoint** states "the chain had `seq` events and its head hash was `hash` at `at`",
//! signed with the installation's Ed25519 key. The signed message is the ASCII text
//! `holdfast-checkpoint-v1\n{seq}\n{hash}\n{at}\n`, so `openssl pkeyutl -verify -rawin` can check
//! it. Checkpoints are kept in the database and appended to an external file the operator ships
//! elsewhere; a copy outside the database is what makes a truncated tail detectable.

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::error::CoreError;
use crate::event::{EventContent, GENESIS_HASH, chain_hash};

/// A signed statement of the chain head.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Number of events in the chain (the last event's seq).
    pub seq: i64,
    /// The last event's hash (or the genesis hash for an empty log).
    pub hash: String,
    /// When it was signed, UTC microseconds.
    pub at: i64,
    /// Why it was written: `interval`, `shutdown`, `cli`, `manual`.
    pub reason: String,
    /// Ed25519 public key, hex.
    pub public_key: String,
    /// Ed25519 signature over [`Checkpoint::message`], hex.
    pub signature: String,
}

impl Checkpoint {
    pub fn message(seq: i64, hash: &str, at: i64) -> String {
        format!("holdfast-checkpoint-v1\n{seq}\n{hash}\n{at}\n")
    }

    /// Whether the signature is valid for this checkpoint and was made by `trusted` (hex key).
    pub fn signature_ok(&self, trusted: &str) -> bool {
        if !self.public_key.eq_ignore_ascii_case(trusted) {
            return false;
        }
        let (Ok(key), Ok(sig)) = (hex::decode(&self.public_key), hex::decode(&self.signature)) else { return false };
        let (Ok(key), Ok(sig)) = (<[u8; 32]>::try_from(key.as_slice()), <[u8; 64]>::try_from(sig.as_slice())) else {
            return false;
        };
        let Ok(key) = VerifyingKey::from_bytes(&key) else { return false };
        key.verify(Self::message(self.seq, &self.hash, self.at).as_bytes(), &Signature::from_bytes(&sig)).is_ok()
    }
}

/// The installation's signing key, kept in a file outside the database.
pub struct AuditKey {
    key: SigningKey,
    pub path: PathBuf,
}

impl AuditKey {
    /// Loads the key at `path`, creating it (mode 0600) if it does not exist.
    pub fn load_or_create(path: &Path) -> Result<AuditKey, CoreError> {
        let io = |what: &str, e: std::io::Error| CoreError::BadFile(format!("{what} {}: {e}", path.display()));
        if path.exists() {
            crate::private_files::refuse_if_shared(path, "the audit signing key")?;
            let text = std::fs::read_to_string(path).map_err(|e| io("reading the audit signing key", e))?;
            let bytes = hex::decode(text.trim())
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
                .ok_or_else(|| {
                    CoreError::BadFile(format!(
                        "{} is not a Holdfast audit signing key (64 hex digits)",
                        path.display()
                    ))
                })?;
            return Ok(AuditKey { key: SigningKey::from_bytes(&bytes), path: path.to_path_buf() });
        }
        if let Some(dir) = path.parent() {
            crate::private_files::create_private_dir(dir).map_err(|e| io("creating the directory for", e))?;
        }
        let mut secret = [0u8; 32];
        rand::rng().fill_bytes(&mut secret);
        let mut f = crate::private_files::private_open_options()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| io("creating the audit signing key", e))?;
        writeln!(f, "{}", hex::encode(secret)).map_err(|e| io("writing the audit signing key", e))?;
        f.sync_all().map_err(|e| io("syncing", e))?;
        Ok(AuditKey { key: SigningKey::from_bytes(&secret), path: path.to_path_buf() })
    }

    pub fn public_hex(&self) -> String {
        hex::encode(self.key.verifying_key().to_bytes())
    }

    /// The public key as a PEM SubjectPublicKeyInfo, for `openssl pkeyutl -verify -pubin`.
    pub fn public_pem(&self) -> String {
        public_pem(&self.key.verifying_key().to_bytes())
    }

    /// Signs arbitrary bytes (an evidence bundle's SHA256SUMS); hex signature.
    pub fn sign_bytes(&self, message: &[u8]) -> String {
        hex::encode(self.key.sign(message).to_bytes())
    }

    pub fn sign(&self, seq: i64, hash: &str, at: i64, reason: &str) -> Checkpoint {
        let sig = self.key.sign(Checkpoint::message(seq, hash, at).as_bytes());
        Checkpoint {
            seq,
            hash: hash.to_string(),
            at,
            reason: reason.to_string(),
            public_key: self.public_hex(),
            signature: hex::encode(sig.to_bytes()),
        }
    }
}

/// PEM for a raw Ed25519 public key (RFC 8410 SubjectPublicKeyInfo).
pub fn public_pem(key: &[u8; 32]) -> String {
    let mut der = hex::decode("302a300506032b6570032100").unwrap_or_default();
    der.extend_from_slice(key);
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    format!("-----BEGIN PUBLIC KEY-----\n{b64}\n-----END PUBLIC KEY-----\n")
}

/// The raw key from a PEM written by [`public_pem`].
pub fn public_key_from_pem(pem: &str) -> Option<[u8; 32]> {
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = base64::engine::general_purpose::STANDARD.decode(b64.trim()).ok()?;
    let prefix = hex::decode("302a300506032b6570032100").ok()?;
    let key = der.strip_prefix(prefix.as_slice())?;
    <[u8; 32]>::try_from(key).ok()
}

/// Whether `signature` (64 raw bytes) is `key`'s Ed25519 signature of `message`.
pub fn signature_valid(key: &[u8; 32], message: &[u8], signature: &[u8]) -> bool {
    let (Ok(key), Ok(sig)) = (VerifyingKey::from_bytes(key), <[u8; 64]>::try_from(signature)) else { return false };
    key.verify(message, &Signature::from_bytes(&sig)).is_ok()
}

/// Appends a checkpoint as one JSON line to the external file.
pub fn append_checkpoint_file(path: &Path, c: &Checkpoint) -> Result<(), CoreError> {
    let io = |e: std::io::Error| CoreError::BadFile(format!("appending to {}: {e}", path.display()));
    if let Some(dir) = path.parent() {
        crate::private_files::create_private_dir(dir).map_err(io)?;
    }
    let mut f = crate::private_files::private_open_options().create(true).append(true).open(path).map_err(io)?;
    let line = serde_json::to_string(c).map_err(|e| CoreError::BadFile(e.to_string()))?;
    writeln!(f, "{line}").map_err(io)?;
    f.sync_data().map_err(io)
}

/// Reads a checkpoint file; a malformed line is reported with its number.
pub fn read_checkpoint_file(path: &Path) -> Result<Vec<Checkpoint>, CoreError> {
    let text =
        std::fs::read_to_string(path).map_err(|e| CoreError::BadFile(format!("reading {}: {e}", path.display())))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        out.push(
            serde_json::from_str(line).map_err(|e| {
                CoreError::BadFile(format!("{} line {} is not a checkpoint: {e}", path.display(), i + 1))
            })?,
        );
    }
    Ok(out)
}

/// A stored event exactly as its columns hold it (nothing parsed), for verification and export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub seq: i64,
    pub id: String,
    pub at: i64,
    pub coworker_id: Option<String>,
    pub action: String,
    pub object_type: Option<String>,
    pub object_id: Option<String>,
    pub row_count: i64,
    pub client_addr: Option<String>,
    pub user_agent: Option<String>,
    pub details: String,
    pub prev_hash: String,
    pub hash: String,
}

impl StoredEvent {
    pub fn content(&self) -> EventContent<'_> {
        self.row().content
    }

    /// The same columns, borrowed.
    pub fn row(&self) -> EventRow<'_> {
        EventRow {
            content: EventContent {
                seq: self.seq,
                id: &self.id,
                at: self.at,
                coworker_id: self.coworker_id.as_deref(),
                coworker: None,
                action: &self.action,
                object_type: self.object_type.as_deref(),
                object_id: self.object_id.as_deref(),
                row_count: self.row_count,
                client_addr: self.client_addr.as_deref(),
                user_agent: self.user_agent.as_deref(),
                details: &self.details,
            },
            prev_hash: &self.prev_hash,
            hash: &self.hash,
        }
    }
}

/// A stored event borrowed from the row being read (verification reads millions of them
/// without copying any): the hashed content, and the two hashes beside it.
#[derive(Debug, Clone, Copy)]
pub struct EventRow<'a> {
    pub content: EventContent<'a>,
    pub prev_hash: &'a str,
    pub hash: &'a str,
}

/// One thing verification found wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The first event (seq) the finding concerns.
    pub seq: i64,
    /// `edited`, `missing`, `out_of_order`, `broken_link`, `truncated`, `checkpoint_mismatch`,
    /// `bad_signature`, `operation_rows` (a bulk operation's rows differ from its event's digest).
    pub kind: &'static str,
    pub message: String,
}

/// What `audit verify` reports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Verification {
    pub events: i64,
    pub last_seq: i64,
    pub head_hash: String,
    pub checkpoints_checked: usize,
    pub findings: Vec<Finding>,
}

impl Verification {
    pub fn ok(&self) -> bool {
        self.findings.is_empty()
    }
}

/// Checks the chain event by event, fed in batches in `seq` order, then against checkpoints.
pub struct ChainVerifier {
    /// Signed retention checkpoints (seq → hash): the log may start right after one of them.
    retention: std::collections::HashMap<i64, String>,
    /// Events up to here were removed by retention (checkpoints before it are not checked).
    retained_through: i64,
    expected_seq: i64,
    prev_hash: String,
    report: Verification,
    /// hashes at the seqs checkpoints name, to compare at the end
    wanted: std::collections::HashMap<i64, Option<String>>,
    buf: Vec<u8>,
    /// A later part of the log checked beside the parts before it: its first event's place in
    /// the chain is checked when the parts are joined ([`ChainVerifier::join`]).
    later_part: bool,
    first: Option<FirstEvent>,
}

/// What a later part needs from its first event to check it against the part before.
struct FirstEvent {
    seq: i64,
    prev_hash: String,
    content_ok: bool,
}

const MAX_FINDINGS: usize = 50;

impl ChainVerifier {
    /// `checkpoint_seqs`: the seqs whose hashes checkpoints state.
    pub fn new(checkpoint_seqs: impl IntoIterator<Item = i64>) -> ChainVerifier {
        ChainVerifier {
            retention: Default::default(),
            retained_through: 0,
            expected_seq: 1,
            prev_hash: GENESIS_HASH.to_string(),
            report: Verification::default(),
            wanted: checkpoint_seqs.into_iter().map(|s| (s, None)).collect(),
            buf: Vec::with_capacity(512),
            later_part: false,
            first: None,
        }
    }

    /// A verifier for a later part of the log, checked beside the parts before it (on another
    /// thread) and joined to them in order with [`ChainVerifier::join`].
    pub fn later_part(checkpoint_seqs: impl IntoIterator<Item = i64>) -> ChainVerifier {
        ChainVerifier { later_part: true, ..ChainVerifier::new(checkpoint_seqs) }
    }

    /// Continues this verifier with a later part checked on its own: the part's first event is
    /// checked against this one's last, as if one verifier had read both.
    pub fn join(&mut self, part: ChainVerifier) {
        if let Some(first) = part.first {
            self.follow(first.seq, &first.prev_hash, first.content_ok);
            self.prev_hash = part.prev_hash;
            self.expected_seq = part.expected_seq;
            self.report.last_seq = part.report.last_seq;
        }
        self.report.events += part.report.events;
        for f in part.report.findings {
            if self.report.findings.len() < MAX_FINDINGS {
                self.report.findings.push(f);
            }
        }
        for (seq, hash) in part.wanted {
            if let Some(h) = hash {
                self.wanted.insert(seq, Some(h));
            }
        }
    }

    /// Signed retention checkpoints the log may start after (call before the first `push`).
    pub fn allow_retention(&mut self, checkpoints: impl IntoIterator<Item = Checkpoint>) {
        self.retention.extend(checkpoints.into_iter().map(|c| (c.seq, c.hash)));
    }

    fn find(&mut self, seq: i64, kind: &'static str, message: String) {
        if self.report.findings.len() < MAX_FINDINGS {
            self.report.findings.push(Finding { seq, kind, message });
        }
    }

    /// Checks the next event in `seq` order.
    pub fn push(&mut self, e: &StoredEvent) {
        self.push_row(e.row());
    }

    /// Checks the next event in `seq` order, from its borrowed columns.
    pub fn push_row(&mut self, row: EventRow<'_>) {
        let e = row.content;
        if self.report.events == 0
            && !self.later_part
            && e.seq > 1
            && let Some(hash) = self.retention.get(&(e.seq - 1))
        {
            self.expected_seq = e.seq;
            self.prev_hash.clone_from(hash);
            self.retained_through = e.seq - 1;
        }
        let digest = e.digest(&mut self.buf);
        let content_ok = chain_hash(row.prev_hash, &digest) == row.hash;
        if !content_ok {
            self.find(
                e.seq,
                "edited",
                format!(
                    "event {} ({} at {}) was altered: its content no longer matches its hash",
                    e.seq,
                    e.action,
                    crate::time::format_timestamp(e.at)
                ),
            );
        }
        if self.later_part && self.report.events == 0 {
            // Its place after the event before it is checked at the join.
            self.first = Some(FirstEvent { seq: e.seq, prev_hash: row.prev_hash.to_string(), content_ok });
            self.expected_seq = e.seq;
        } else {
            self.follow(e.seq, row.prev_hash, content_ok);
        }
        self.report.events += 1;
        if let Some(slot) = self.wanted.get_mut(&e.seq) {
            *slot = Some(row.hash.to_string());
        }
        self.prev_hash.clear();
        self.prev_hash.push_str(row.hash);
        self.expected_seq = e.seq.max(self.expected_seq - 1) + 1;
        self.report.last_seq = e.seq;
    }

    /// Checks that event `seq`, whose predecessor's hash it names as `prev_hash`, comes next.
    fn follow(&mut self, seq: i64, prev_hash: &str, content_ok: bool) {
        if seq != self.expected_seq {
            if seq > self.expected_seq {
                let msg = if seq - self.expected_seq == 1 {
                    format!(
                        "event {} is missing: the log goes from {} to {} (it was deleted)",
                        self.expected_seq,
                        self.expected_seq - 1,
                        seq
                    )
                } else {
                    format!(
                        "events {} to {} are missing: the log goes from {} to {} (they were deleted)",
                        self.expected_seq,
                        seq - 1,
                        self.expected_seq - 1,
                        seq
                    )
                };
                self.find(self.expected_seq, "missing", msg);
            } else {
                let msg = format!(
                    "event {} appears after event {}: the log was reordered or has a duplicate",
                    seq,
                    self.expected_seq - 1
                );
                self.find(seq, "out_of_order", msg);
            }
        }
        if content_ok && prev_hash != self.prev_hash && seq == self.expected_seq {
            self.find(
                seq,
                "broken_link",
                format!(
                    "event {} does not follow event {}: the event before it was altered, replaced or removed",
                    seq,
                    seq - 1
                ),
            );
        }
    }

    /// Compares the chain with checkpoints (database and external), given the trusted key.
    pub fn finish(mut self, checkpoints: &[(Checkpoint, &str)], trusted_key: &str) -> Verification {
        self.report.head_hash.clone_from(&self.prev_hash);
        let last = self.report.last_seq;
        for (c, source) in checkpoints {
            self.report.checkpoints_checked += 1;
            let when = crate::time::format_timestamp(c.at);
            if !c.signature_ok(trusted_key) {
                self.find(
                    c.seq,
                    "bad_signature",
                    format!("the checkpoint for event {} ({source}, {when}) is not signed by this installation's key: it was forged or altered", c.seq),
                );
                continue;
            }
            if c.seq < self.retained_through {
                continue;
            }
            if c.seq == self.retained_through {
                self.wanted.insert(c.seq, Some(self.retention.get(&c.seq).cloned().unwrap_or_default()));
            }
            if c.seq > last {
                self.find(
                    last + 1,
                    "truncated",
                    format!(
                        "the log ends at event {last}, but the signed checkpoint of {when} ({source}) covers {} events: the last {} events were deleted",
                        c.seq,
                        c.seq - last
                    ),
                );
                continue;
            }
            let actual =
                if c.seq == 0 { Some(GENESIS_HASH.to_string()) } else { self.wanted.get(&c.seq).cloned().flatten() };
            match actual {
                Some(h) if h == c.hash => {}
                Some(_) => self.find(
                    c.seq,
                    "checkpoint_mismatch",
                    format!("the log up to event {} does not match the signed checkpoint of {when} ({source}): events at or before {} were rewritten", c.seq, c.seq),
                ),
                None => self.find(c.seq, "missing", format!("event {} named by the checkpoint of {when} ({source}) is not in the log", c.seq)),
            }
        }
        self.report.findings.sort_by_key(|f| f.seq);
        self.report
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{NewEvent, SystemEvent};
    use proptest::prelude::*;
    use serde_json::json;

    fn stored(n: i64) -> Vec<StoredEvent> {
        let mut prev = GENESIS_HASH.to_string();
        let mut out = Vec::new();
        for seq in 1..=n {
            let e = NewEvent {
                at: 1_700_000_000_000_000 + seq,
                coworker_id: None,
                action: "record.read".into(),
                object_type: Some("contact".into()),
                object_id: Some(format!("c{seq}")),
                row_count: 1,
                client_addr: Some("127.0.0.1".into()),
                user_agent: None,
                details: json!({"via": "api_token", "n": seq}),
            };
            let s = SystemEvent::chain(e, seq - 1, &prev);
            prev.clone_from(&s.hash);
            out.push(StoredEvent {
                seq: s.seq,
                id: s.id.to_string(),
                at: s.event.at,
                coworker_id: None,
                action: s.event.action.clone(),
                object_type: s.event.object_type.clone(),
                object_id: s.event.object_id.clone(),
                row_count: s.event.row_count,
                client_addr: s.event.client_addr.clone(),
                user_agent: None,
                details: s.event.details.to_string(),
                prev_hash: s.prev_hash.clone(),
                hash: s.hash.clone(),
            });
        }
        out
    }

    fn run(events: &[StoredEvent], cps: &[Checkpoint], key: &str) -> Verification {
        let mut v = ChainVerifier::new(cps.iter().map(|c| c.seq));
        for e in events {
            v.push(e);
        }
        let with_source: Vec<(Checkpoint, &str)> = cps.iter().map(|c| (c.clone(), "test")).collect();
        v.finish(&with_source, key)
    }

    fn key() -> AuditKey {
        AuditKey { key: SigningKey::from_bytes(&[7u8; 32]), path: PathBuf::new() }
    }

    #[test]
    fn an_untouched_chain_verifies() {
        let events = stored(20);
        let k = key();
        let cp = k.sign(20, &events[19].hash, 5, "test");
        assert!(run(&events, &[cp], &k.public_hex()).ok());
    }

    #[test]
    fn tampering_is_named() {
        let k = key();
        let events = stored(20);
        let cp = k.sign(20, &events[19].hash, 5, "test");
        let mut edited = events.clone();
        edited[6].row_count = 5000;
        let r = run(&edited, std::slice::from_ref(&cp), &k.public_hex());
        assert_eq!((r.findings[0].seq, r.findings[0].kind), (7, "edited"), "{r:?}");
        let mut deleted = events.clone();
        deleted.remove(9);
        let r = run(&deleted, std::slice::from_ref(&cp), &k.public_hex());
        assert_eq!((r.findings[0].seq, r.findings[0].kind), (10, "missing"), "{r:?}");
        let truncated = &events[..10];
        let r = run(truncated, std::slice::from_ref(&cp), &k.public_hex());
        assert_eq!(r.findings[0].kind, "truncated", "{r:?}");
        let mut forged = cp.clone();
        forged.seq = 25;
        let r = run(&events, &[forged], &k.public_hex());
        assert_eq!(r.findings[0].kind, "bad_signature", "{r:?}");
        let other = AuditKey { key: SigningKey::from_bytes(&[9u8; 32]), path: PathBuf::new() };
        let r = run(&events, &[other.sign(20, &events[19].hash, 5, "x")], &k.public_hex());
        assert_eq!(r.findings[0].kind, "bad_signature");
    }

    /// The log read in parts split by seq (as `verify_log` splits it over cores: the first part
    /// holds the first event).
    fn run_in_parts(events: &[StoredEvent], cps: &[Checkpoint], key: &str, cuts: &[i64]) -> Verification {
        let seqs = || cps.iter().map(|c| c.seq);
        let mut parts: Vec<ChainVerifier> = Vec::new();
        let mut bounds = vec![i64::MIN];
        bounds.extend_from_slice(cuts);
        bounds.push(i64::MAX);
        for (k, w) in bounds.windows(2).enumerate() {
            let mut v = if k == 0 { ChainVerifier::new(seqs()) } else { ChainVerifier::later_part(seqs()) };
            for e in events.iter().filter(|e| e.seq > w[0] && e.seq <= w[1]) {
                v.push(e);
            }
            parts.push(v);
        }
        let mut parts = parts.into_iter();
        let mut v = parts.next().expect("a first part");
        for p in parts {
            v.join(p);
        }
        let with_source: Vec<(Checkpoint, &str)> = cps.iter().map(|c| (c.clone(), "test")).collect();
        v.finish(&with_source, key)
    }

    #[test]
    fn a_log_read_in_parts_finds_what_one_reading_finds() {
        let k = key();
        let events = stored(12);
        let cp = k.sign(12, &events[11].hash, 5, "test");
        let mut cases: Vec<Vec<StoredEvent>> = vec![events.clone()];
        for i in 0..12 {
            let mut edited = events.clone();
            edited[i].row_count += 1;
            cases.push(edited);
            let mut deleted = events.clone();
            deleted.remove(i);
            cases.push(deleted);
            let mut relinked = events.clone();
            relinked[i].prev_hash = "0".repeat(64);
            cases.push(relinked);
            if i < 11 {
                // (Events swapped in place cannot be read back out of order: they are read by
                // seq. Swapped contents are an edit, above.)
                cases.push(events[..=i].to_vec());
                let mut two_gone = events.clone();
                two_gone.drain(i..i + 2);
                cases.push(two_gone);
            }
        }
        let findings = |r: &Verification| r.findings.iter().map(|f| (f.seq, f.kind)).collect::<Vec<_>>();
        for case in &cases {
            let one = run(case, std::slice::from_ref(&cp), &k.public_hex());
            // As verify_log splits: the first part starts with the first event there is.
            let first = case.first().map_or(1, |e| e.seq);
            for a in first..=12 {
                let two = run_in_parts(case, std::slice::from_ref(&cp), &k.public_hex(), &[a]);
                assert_eq!(findings(&two), findings(&one), "cut after {a}");
                assert_eq!((two.events, two.last_seq, &two.head_hash), (one.events, one.last_seq, &one.head_hash));
                for b in a + 1..=12 {
                    let three = run_in_parts(case, std::slice::from_ref(&cp), &k.public_hex(), &[a, b]);
                    assert_eq!(findings(&three), findings(&one), "cuts after {a} and {b}");
                }
            }
        }
    }

    #[test]
    fn pem_has_the_rfc8410_prefix() {
        assert!(public_pem(&[0u8; 32]).contains("MCowBQYDK2VwAyEA"));
    }

    proptest! {
        /// Any single-byte change anywhere in any stored field of any event is detected.
        #[test]
        fn any_single_byte_change_is_detected(which in 0usize..12, field in 0usize..8, pos in 0usize..200, byte in 0u8..=255) {
            let k = key();
            let mut events = stored(12);
            let cp = k.sign(12, &events[11].hash, 5, "test");
            let e = &mut events[which];
            let target: &mut String = match field {
                0 => &mut e.id,
                1 => &mut e.action,
                2 => e.object_id.get_or_insert_with(String::new),
                3 => &mut e.details,
                4 => &mut e.prev_hash,
                5 => &mut e.hash,
                6 => e.client_addr.get_or_insert_with(String::new),
                _ => e.object_type.get_or_insert_with(String::new),
            };
            let mut bytes = target.clone().into_bytes();
            if bytes.is_empty() { bytes.push(byte); } else {
                let i = pos % bytes.len();
                if bytes[i] == byte { bytes[i] = byte.wrapping_add(1); } else { bytes[i] = byte; }
            }
            *target = String::from_utf8_lossy(&bytes).into_owned();
            let r = run(&events, &[cp], &k.public_hex());
            prop_assert!(!r.ok());
        }
    }
}
