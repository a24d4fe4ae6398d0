//! Leaks you can prove. Every export of people (contacts, leads) carries a few canaries — made-up
//! people on the company's canary domain and phone range, unique to that export — and every
//! export leaves a fingerprint: the keyed marks of its rows, no copy of the data. A file found in
//! the wild is traced back to its export ([`Holdfast::trace_file`]); mail to a canary address is
//! evidence the export left the company ([`Holdfast::canary_hit`]); and the journal of outgoing
//! mail shows customer data sent outside the company ([`Holdfast::journal_mail`]), keeping only
//! counts, hashes and addresses.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::alerts::NewAlert;
use super::{Holdfast, append_events_with_ids};
use crate::coworker::Actor;
use crate::error::CoreError;
use crate::event::NewEvent;
use crate::guard::{ExportRequest, Severity};
use crate::leak::{self, CanaryPerson, FoundTable, Identity, MarkKey, header_key};
use crate::record::{self, RecordKind, Value};
use crate::storage::{Canary, Database, Fingerprint, Tx};

pub const EXPORT_TRACE: &str = "export.trace";
pub const CANARY_HIT: &str = "canary.hit";
pub const MAIL_OUTBOUND: &str = "mail.outbound";
/// The most rows a traced file or a mailed table may have.
pub const TRACE_MAX_ROWS: usize = 2_000_000;
/// Exports named in a trace report, best first.
const TRACE_SHOWN: usize = 5;

/// Marks are keyed hashes already: a map keyed by them needs only their 40 bits spread over the
/// 64 the map looks at (its top bits pick among a group's slots).
#[derive(Default)]
struct MarkHasher(u64);

impl Hasher for MarkHasher {
    fn finish(&self) -> u64 {
        self.0.wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type MarkMap<V> = HashMap<u64, V, BuildHasherDefault<MarkHasher>>;

/// The canaries and marks of one export while its file is written.
pub(crate) struct ExportTrail {
    key: MarkKey,
    marker: leak::RowMarker,
    /// The canary domain and phone range, when canaries are on for this export.
    canary_domain: Option<String>,
    phone_prefix: Option<String>,
    positions: Vec<i64>,
    placed: Vec<CanaryPerson>,
    rows: i64,
    now: i64,
    /// Where the export's columns are (a canary copies its neighbour's surname and dates).
    first: Option<usize>,
    last: Option<usize>,
    created: Option<usize>,
    updated: Option<usize>,
}

impl ExportTrail {
    /// Canaries written so far.
    pub(crate) fn placed(&self) -> i64 {
        i64::try_from(self.placed.len()).unwrap_or(0)
    }

    /// Marks a real row (its cells in the export's column order) and returns the canaries that
    /// go right after it, each dressed as this row.
    pub(crate) fn row<S: AsRef<str>>(&mut self, cells: &[S]) -> &[CanaryPerson] {
        self.marker.row(cells);
        self.rows += 1;
        let start = self.placed.len();
        let Some(domain) = self.canary_domain.as_deref() else { return &[] };
        let mut due = 0;
        while start + due < self.positions.len() && self.positions[start + due] <= self.rows {
            due += 1;
        }
        if due == 0 {
            return &[];
        }
        let text = |i: Option<usize>| i.and_then(|i| cells.get(i)).map(|c| c.as_ref());
        let time = |i: Option<usize>| text(i).and_then(|t| crate::time::parse_timestamp(t).ok());
        let neighbour = leak::Neighbour {
            first_name: text(self.first),
            last_name: text(self.last),
            created_at: time(self.created),
            updated_at: time(self.updated),
        };
        for _ in 0..due {
            let c = CanaryPerson::beside(domain, self.phone_prefix.as_deref(), &neighbour, self.now);
            self.placed.push(c);
        }
        &self.placed[start..]
    }
}

/// One export a found file matches, with the evidence.
#[derive(Debug, Clone, Serialize)]
pub struct TraceMatch {
    pub export_id: Uuid,
    pub coworker_id: Option<Uuid>,
    /// The maker's email (none: the operator at the command line).
    pub made_by: Option<String>,
    pub made_by_name: Option<String>,
    pub made_at: i64,
    /// `session` (the web app), `api_token`, `cli`.
    pub door: String,
    pub kind: String,
    pub format: String,
    pub export_rows: i64,
    pub export_columns: Vec<String>,
    /// The export's columns the file still has (by header name), and those it dropped.
    pub columns_kept: Vec<String>,
    pub columns_dropped: Vec<String>,
    /// The file's rows whose id, email, phone or name is one of the export's.
    pub rows_matched: usize,
    pub share_of_file: f64,
    pub share_of_export: f64,
    /// Canary addresses of this export found in the file.
    pub canaries_found: Vec<String>,
    pub canaries_placed: i64,
    /// Whether the export was approved, and by whom (the request's decision).
    pub approved_by: Option<Uuid>,
    pub reason: Option<String>,
}

/// What a trace found.
#[derive(Debug, Clone, Serialize)]
pub struct TraceReport {
    pub file_name: String,
    pub sha256: String,
    pub format: String,
    pub separator: Option<char>,
    pub headers: Vec<String>,
    pub rows: usize,
    /// Rows with at least one id, email, phone or name to match on.
    pub rows_with_identity: usize,
    pub exports_compared: i64,
    /// The file has no id, email or phone: rows were matched by name alone (weaker evidence).
    pub by_name: bool,
    /// Best first; empty when nothing matched.
    pub matches: Vec<TraceMatch>,
}

/// A call or message to a canary, as a mail gateway or a person reports it.
#[derive(Debug, Clone, Default)]
pub struct CanaryReport {
    /// The canary's email address or phone number.
    pub address: String,
    /// Who wrote or called.
    pub from: Option<String>,
    pub subject: Option<String>,
    /// Where it was seen (`mail gateway`, `smtp`, `phone`).
    pub via: String,
}

/// The export a canary hit points to.
#[derive(Debug, Clone, Serialize)]
pub struct CanaryHit {
    pub canary: String,
    pub export_id: Uuid,
    pub kind: String,
    pub made_by: Option<String>,
    pub made_at: i64,
    pub alert_id: Option<Uuid>,
}

/// One attachment of a journaled message, as scanned.
#[derive(Debug, Clone, Serialize)]
pub struct AttachmentFinding {
    pub sha256: String,
    pub format: String,
    pub bytes: usize,
    pub rows: usize,
    pub customers: usize,
}

/// What one journaled message carried out of the company.
#[derive(Debug, Clone, Serialize)]
pub struct MailFinding {
    pub message_sha256: String,
    pub sender: Option<String>,
    pub coworker_id: Option<Uuid>,
    /// Recipients outside the company's domains.
    pub external_recipients: Vec<String>,
    /// Whether one of them is a free-mail (personal) address.
    pub to_free_mail: bool,
    /// Distinct customer records (contacts, leads, accounts) whose email or phone it carried.
    pub customers: usize,
    pub customer_emails: usize,
    pub customer_phones: usize,
    pub attachments: Vec<AttachmentFinding>,
    /// Exports whose canaries it carried, and exports its attachments trace to.
    pub canary_exports: Vec<Uuid>,
    pub traced_exports: Vec<Uuid>,
    pub event_id: Option<Uuid>,
    pub alert_id: Option<Uuid>,
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn door_of(actor: &Actor) -> String {
    actor.channel.as_str().to_string()
}

/// The way an export left, in words (`session` → "the web app or an API session").
pub fn door_in_words(door: &str) -> &str {
    match door {
        "session" => "the web app (or an API session)",
        "api_token" => "an API token",
        "cli" => "the command line",
        "scim" => "the identity provider",
        other => other,
    }
}

fn domain_of(email: &str) -> &str {
    email.rsplit_once('@').map(|(_, d)| d).unwrap_or("")
}

/// Whether a kind's exports carry canaries: kinds of people with an email.
pub(crate) fn carries_canaries(kind: &RecordKind) -> bool {
    kind.field("email").is_some() && kind.field("first_name").is_some()
}

impl<D: Database> Holdfast<D> {
    fn mark_key_in(&self, tx: &mut dyn Tx) -> Result<MarkKey, CoreError> {
        let s = self.settings_in(tx)?;
        if s.leak_tracing.fingerprint_key.is_empty() {
            return Err(CoreError::Storage(crate::error::StorageError::Other(
                "the installation has no fingerprint key; run the migrations (holdfast serve does)".into(),
            )));
        }
        Ok(MarkKey::from_secret(&s.leak_tracing.fingerprint_key))
    }

    /// Refuses a canary's address as a real customer's (an import of a leaked file, a form). The
    /// reason does not say why, so that trying addresses one by one does not tell canaries apart.
    pub(crate) fn refuse_canary(&self, tx: &mut dyn Tx, email: Option<&Value>) -> Result<(), CoreError> {
        let Some(email) = email.and_then(Value::as_text).and_then(leak::norm_email) else { return Ok(()) };
        if tx.find_canary(Some(&email), None)?.is_some() {
            return Err(CoreError::invalid("email", format!("{email} is reserved and cannot be a customer's address")));
        }
        Ok(())
    }

    /// Before an export's file is written: how many canaries it carries and where (they are made
    /// as their rows are written, dressed as their neighbours), and the key its rows are marked
    /// with. Picked records and exports under ten rows carry none: their maker knows every row.
    pub(crate) fn start_trail(&self, kind: &RecordKind, e: &ExportRequest) -> Result<ExportTrail, CoreError> {
        self.db.read(|tx| {
            let key = self.mark_key_in(tx)?;
            let settings = self.settings_in(tx)?;
            let lt = &settings.leak_tracing;
            let picked = e.query.get("ids").is_some();
            let canary_domain = lt.canary_email_domain.clone().filter(|_| carries_canaries(kind) && !picked);
            let count = if canary_domain.is_some() { leak::canaries_for(e.matched) } else { 0 };
            let at = |name: &str| e.columns.iter().position(|c| c == name);
            Ok(ExportTrail {
                marker: leak::RowMarker::start(key.clone(), Identity::of_headers(&e.columns), e.columns.len()),
                key,
                canary_domain,
                phone_prefix: lt.canary_phone_prefix.clone(),
                positions: leak::canary_positions(e.matched, count),
                placed: Vec::new(),
                rows: 0,
                now: self.now(),
                first: at("first_name"),
                last: at("last_name"),
                created: at("created_at"),
                updated: at("updated_at"),
            })
        })
    }

    /// A written export's fingerprint, its marks and its canaries, to keep in the transaction that
    /// records the export.
    pub(crate) fn fingerprint_of(
        &self,
        actor: &Actor,
        e: &ExportRequest,
        trail: ExportTrail,
        rows: i64,
    ) -> Result<(Fingerprint, leak::PackedMarks, Vec<Canary>), CoreError> {
        let mut marks = trail.marker.finish().map_err(|e| CoreError::Storage(crate::error::StorageError::Other(e)))?;
        for c in &trail.placed {
            marks.extend(c.marks(&trail.key));
        }
        let now = self.now();
        let canaries = trail
            .placed
            .iter()
            .map(|c| Canary {
                email: c.email.clone(),
                phone: c.phone.clone(),
                phone_digits: c.phone.as_deref().and_then(leak::norm_phone),
                first_name: c.first_name.clone(),
                last_name: c.last_name.clone(),
                record_id: c.record_id,
                export_id: e.id,
                kind: e.kind.clone(),
                created_at: now,
            })
            .collect();
        let fingerprint = Fingerprint {
            export_id: e.id,
            coworker_id: actor.id(),
            kind: e.kind.clone(),
            format: e.format.extension().to_string(),
            door: door_of(actor),
            columns: e.columns.clone(),
            rows,
            canaries: i64::try_from(trail.placed.len()).unwrap_or(0),
            created_at: now,
            marks: String::new(),
        };
        Ok((fingerprint, marks, canaries))
    }

    /// Traces a file found in the wild back to the export(s) it most likely came from (admins).
    /// The trace is recorded as `export.trace` with the file's SHA-256 and what it matched.
    pub fn trace_file(&self, actor: &Actor, file_name: &str, bytes: &[u8]) -> Result<TraceReport, CoreError> {
        self.noting_refusals(
            actor,
            || "trace a file to its export".into(),
            || {
                self.require_admin(actor, "trace a file to its export")?;
                let table = leak::read_found(bytes, TRACE_MAX_ROWS).map_err(CoreError::BadFile)?;
                let mut report = self.db.read(|tx| self.trace_table(tx, &table, None))?;
                report.file_name = file_name.to_string();
                report.sha256 = sha256_hex(bytes);
                let matched: Vec<_> = report
                    .matches
                    .iter()
                    .map(|m| json!({"export_id": m.export_id, "rows_matched": m.rows_matched, "canaries": m.canaries_found.len()}))
                    .collect();
                let event = NewEvent::by(actor, self.now(), EXPORT_TRACE)
                    .object_type("export")
                    .detail("file_name", json!(file_name))
                    .detail("sha256", json!(report.sha256))
                    .detail("rows", json!(report.rows))
                    .detail("matches", json!(matched));
                self.db.write(|tx| Ok(append_events_with_ids(tx, vec![event])?))?;
                Ok(report)
            },
        )
    }

    /// Matches a table against every export's canaries and fingerprint.
    /// `only`: just this co-worker's exports (a journaled attachment is traced among its
    /// sender's; canaries name anyone else's).
    fn trace_table(&self, tx: &mut dyn Tx, table: &FoundTable, only: Option<Uuid>) -> Result<TraceReport, CoreError> {
        let key = self.mark_key_in(tx)?;
        let ident = Identity::of_headers(&table.headers);
        // Each mark of the file and the first row it is on: ids, emails and phones (one person
        // each) apart from names (which many people share).
        let mut strong: MarkMap<u32> = MarkMap::default();
        let mut names: MarkMap<u32> = MarkMap::default();
        let mut rows_with_identity = 0usize;
        let (mut row_strong, mut row_names) = (Vec::new(), Vec::new());
        for (i, cells) in table.rows.iter().enumerate() {
            row_strong.clear();
            row_names.clear();
            leak::row_marks_split(&key, &ident, cells, true, &mut row_strong, &mut row_names);
            if !row_strong.is_empty() || !row_names.is_empty() {
                rows_with_identity += 1;
            }
            let at = u32::try_from(i).unwrap_or(u32::MAX);
            for m in &row_strong {
                strong.entry(*m).or_insert(at);
            }
            for m in &row_names {
                names.entry(*m).or_insert(at);
            }
        }
        // Without an id, email or phone anywhere, names are all there is to go by.
        let by_name = strong.is_empty();
        let file = if by_name { &names } else { &strong };
        // Canaries: every one's id, email and phone, looked up in the file.
        let mut canaries_in: HashMap<Uuid, BTreeSet<String>> = HashMap::new();
        for c in tx.all_canaries()? {
            let person = CanaryPerson {
                record_id: c.record_id,
                first_name: c.first_name.clone(),
                last_name: c.last_name.clone(),
                email: c.email.clone(),
                phone: c.phone.clone(),
                created_at: 0,
                updated_at: 0,
            };
            if person.strong_marks(&key).iter().any(|m| strong.contains_key(m)) {
                canaries_in.entry(c.export_id).or_default().insert(c.email);
            }
        }
        let words = table.rows.len().div_ceil(64);
        let mut seen = vec![0u64; words];
        let mut found: Vec<(Fingerprint, usize)> = Vec::new();
        let mut compared = 0i64;
        // Fingerprints in batches of at most about two million marks' worth of rows.
        let sizes = tx.fingerprint_sizes()?;
        let mut batch: Vec<Uuid> = Vec::new();
        let mut batch_rows = 0i64;
        let mut check = |tx: &mut dyn Tx, ids: &[Uuid]| -> Result<(), CoreError> {
            for fp in tx.fingerprints(ids)? {
                compared += 1;
                let marks = leak::unpack_marks(&fp.marks)
                    .map_err(|e| CoreError::Storage(crate::error::StorageError::Other(e)))?;
                seen.iter_mut().for_each(|w| *w = 0);
                let mut set = |r: u32| {
                    if let Some(w) = seen.get_mut(r as usize / 64) {
                        *w |= 1 << (r % 64);
                    }
                };
                for m in &marks {
                    if let Some(r) = file.get(m) {
                        set(*r);
                    }
                }
                let matched = seen.iter().map(|w| w.count_ones() as usize).sum::<usize>();
                if matched > 0 || canaries_in.contains_key(&fp.export_id) {
                    found.push((fp, matched));
                }
            }
            Ok(())
        };
        for (id, rows, maker) in sizes {
            if only.is_some() && maker != only {
                continue;
            }
            if !batch.is_empty() && batch_rows + rows > 500_000 {
                check(tx, &batch)?;
                batch.clear();
                batch_rows = 0;
            }
            batch.push(id);
            batch_rows += rows;
        }
        if !batch.is_empty() {
            check(tx, &batch)?;
        }
        let file_rows = table.rows.len().max(1);
        // A few rows of a small file, a tenth of a big one, or hundreds of rows mixed into others.
        let enough = |matched: usize| {
            matched >= 3.min(file_rows) && (matched * 10 >= rows_with_identity.max(1) || matched >= 500)
        };
        let header_keys: HashSet<String> = table.headers.iter().map(|h| header_key(h)).collect();
        let mut matches = Vec::new();
        for (fp, matched) in found {
            let canaries: Vec<String> =
                canaries_in.get(&fp.export_id).map(|s| s.iter().cloned().collect()).unwrap_or_default();
            if canaries.is_empty() && !enough(matched) {
                continue;
            }
            let maker = match fp.coworker_id {
                Some(id) => tx.get_coworker(id)?,
                None => None,
            };
            let request = tx.get_export(fp.export_id)?;
            let (kept, dropped): (Vec<String>, Vec<String>) = if table.headers.is_empty() {
                (Vec::new(), fp.columns.clone())
            } else {
                fp.columns.iter().cloned().partition(|c| header_keys.contains(&header_key(c)))
            };
            let total = (fp.rows + fp.canaries).max(1);
            matches.push(TraceMatch {
                export_id: fp.export_id,
                coworker_id: fp.coworker_id,
                made_by: maker.as_ref().map(|c| c.email.clone()),
                made_by_name: maker.as_ref().map(|c| c.name.clone()),
                made_at: fp.created_at,
                door: fp.door.clone(),
                kind: fp.kind.clone(),
                format: fp.format.clone(),
                export_rows: fp.rows,
                export_columns: fp.columns.clone(),
                columns_kept: kept,
                columns_dropped: dropped,
                rows_matched: matched,
                share_of_file: matched as f64 / file_rows as f64,
                share_of_export: (matched as f64 / total as f64).min(1.0),
                canaries_found: canaries,
                canaries_placed: fp.canaries,
                approved_by: request.as_ref().and_then(|r| r.decided_by),
                reason: request.and_then(|r| r.reason),
            });
        }
        // Canaries first (they name one export); then most of the file; then the export the file
        // is most of (a small export over a big one holding the same rows); then the newest.
        matches.sort_by(|a, b| {
            b.canaries_found
                .len()
                .cmp(&a.canaries_found.len())
                .then(b.rows_matched.cmp(&a.rows_matched))
                .then(b.share_of_export.total_cmp(&a.share_of_export))
                .then(b.made_at.cmp(&a.made_at))
        });
        matches.truncate(TRACE_SHOWN);
        Ok(TraceReport {
            file_name: String::new(),
            sha256: String::new(),
            format: table.format.to_string(),
            separator: table.separator,
            headers: table.headers.clone(),
            rows: table.rows.len(),
            rows_with_identity,
            exports_compared: compared,
            by_name,
            matches,
        })
    }

    /// A message or call to a canary address or number (admins: a mail gateway's or catch-all
    /// mailbox's script, or `holdfast serve --canary-smtp`): evidence that the export left the
    /// company. Raises a critical alert naming the export and its maker; `None` when the address
    /// is no canary.
    pub fn canary_hit(&self, actor: &Actor, report: &CanaryReport) -> Result<Option<CanaryHit>, CoreError> {
        self.noting_refusals(
            actor,
            || "report a canary hit".into(),
            || {
                self.require_admin(actor, "report a canary hit")?;
                let address = report.address.trim();
                if address.is_empty() || address.chars().count() > 320 {
                    return Err(CoreError::invalid("address", "give the canary's email address or phone number"));
                }
                let email = address.contains('@').then(|| leak::norm_email(address)).flatten();
                let digits = if email.is_none() { leak::norm_phone(address) } else { None };
                if email.is_none() && digits.is_none() {
                    return Err(CoreError::invalid("address", format!("'{address}' is neither an email address nor a phone number")));
                }
                let now = self.now();
                self.db.write(|tx| {
                    let Some(c) = tx.find_canary(email.as_deref(), digits.as_deref())? else { return Ok(None) };
                    let fp = tx.get_fingerprint(c.export_id)?;
                    let maker_id = fp.as_ref().and_then(|f| f.coworker_id);
                    let maker = match maker_id {
                        Some(id) => tx.get_coworker(id)?,
                        None => None,
                    };
                    let made_at = fp.as_ref().map(|f| f.created_at).unwrap_or(c.created_at);
                    let clip = |s: &Option<String>| s.as_deref().map(|t| t.chars().take(200).collect::<String>());
                    let event = NewEvent::by(actor, now, CANARY_HIT)
                        .object("export", c.export_id)
                        .detail("canary", json!(c.email))
                        .detail("address", json!(address))
                        .detail("from", json!(clip(&report.from)))
                        .detail("subject_sha256", json!(report.subject.as_deref().map(|s| sha256_hex(s.as_bytes()))))
                        .detail("via", json!(report.via))
                        .detail("made_by", json!(maker_id));
                    let ids = append_events_with_ids(tx, vec![event])?;
                    let mut alert_id = None;
                    if let Some(m) = &maker {
                        let from = clip(&report.from).map(|f| format!(" from {f}")).unwrap_or_default();
                        let alert = self.raise_alert_in(
                            tx,
                            NewAlert {
                                coworker_id: m.id,
                                kind: "canary_hit",
                                severity: Severity::Critical,
                                summary: format!(
                                    "A canary from {}'s export of {} ({}) was contacted{from}: the file left the company",
                                    m.email,
                                    c.kind,
                                    crate::time::format_timestamp(made_at)
                                ),
                                details: json!({
                                    "export_id": c.export_id, "canary": c.email, "address": address,
                                    "from": clip(&report.from), "via": report.via, "made_by": m.email,
                                    "made_at": crate::time::format_timestamp(made_at),
                                }),
                                event_ids: ids,
                                // One alert per export a day, whoever writes (a sender can be anything).
                                dedupe_key: format!("canary_hit:{}:{}", c.export_id, now / crate::time::MICROS_PER_DAY),
                                recipient_ids: Vec::new(),
                            },
                            now,
                        )?;
                        alert_id = alert.map(|a| a.id);
                    }
                    Ok(Some(CanaryHit {
                        canary: c.email,
                        export_id: c.export_id,
                        kind: c.kind,
                        made_by: maker.map(|m| m.email),
                        made_at,
                        alert_id,
                    }))
                })
            },
        )
    }

    /// Whether the canary mail receiver takes mail for `address` (the canary domain, or an
    /// address some canary had on an earlier domain); everything else is refused at RCPT.
    pub fn takes_canary_mail(&self, address: &str) -> Result<bool, CoreError> {
        let Some(email) = leak::norm_email(address) else { return Ok(false) };
        self.db.read(|tx| {
            let domain = self.settings_in(tx)?.leak_tracing.canary_email_domain.clone();
            Ok(domain.is_some_and(|d| domain_of(&email) == d) || tx.find_canary(Some(&email), None)?.is_some())
        })
    }

    /// One message to canary addresses, as the canary mail receiver took it: a hit for each
    /// recipient that is a canary, with the sender and subject from the message.
    pub fn canary_mail(
        &self,
        actor: &Actor,
        envelope_from: Option<&str>,
        recipients: &[String],
        raw: &[u8],
    ) -> Result<Vec<CanaryHit>, CoreError> {
        let parsed = mail_parser::MessageParser::default().parse(raw);
        let header_from =
            parsed.as_ref().and_then(|m| m.from()).and_then(|a| a.first()).and_then(|a| a.address()).map(String::from);
        let subject = parsed.as_ref().and_then(|m| m.subject()).map(String::from);
        let from = header_from.or_else(|| envelope_from.map(String::from)).filter(|f| !f.is_empty());
        let mut hits = Vec::new();
        for r in recipients {
            let report =
                CanaryReport { address: r.clone(), from: from.clone(), subject: subject.clone(), via: "smtp".into() };
            if let Some(hit) = self.canary_hit(actor, &report)? {
                hits.push(hit);
            }
        }
        Ok(hits)
    }

    /// The company's own mail domains: the setting, or the domains of co-workers' addresses.
    fn company_domains(&self, tx: &mut dyn Tx) -> Result<HashSet<String>, CoreError> {
        let set = self.settings_in(tx)?.leak_tracing.company_email_domains.clone();
        if !set.is_empty() {
            return Ok(set.into_iter().collect());
        }
        Ok(tx
            .list_coworkers()?
            .iter()
            .map(|c| domain_of(&c.email.to_lowercase()).to_string())
            .filter(|d| !d.is_empty() && !crate::lead::FREE_MAIL.contains(&d.as_str()))
            .collect())
    }

    /// A journal copy of one outgoing message (admins, or the mail server through
    /// `holdfast serve --mail-journal`). When a co-worker sends customers' emails or phone numbers
    /// (in the body, or in CSV, XLSX or vCard attachments) outside the company's domains, it is
    /// recorded as `mail.outbound` with the counts, hashes and addresses — never the message —
    /// and past the threshold an alert names the sender; canaries in it name their export.
    pub fn journal_mail(&self, actor: &Actor, raw: &[u8]) -> Result<MailFinding, CoreError> {
        self.noting_refusals(
            actor,
            || "hand in a journaled message".into(),
            || {
                self.require_admin(actor, "hand in journaled mail")?;
                let parsed = mail_parser::MessageParser::default()
                    .parse(raw)
                    .ok_or_else(|| CoreError::BadFile("the body is not an email message (RFC 5322)".into()))?;
                // An Exchange journal report carries the original message as its attachment, and
                // every recipient (Bcc and expanded lists too) in its body's `Recipient:` lines.
                let report = parsed.header_raw("X-MS-Journal-Report").is_some();
                let inner = report.then(|| parsed.attachments().find_map(|p| p.message())).flatten();
                let mut envelope = Vec::new();
                if report {
                    for part in parsed.text_bodies() {
                        for line in part.text_contents().unwrap_or("").lines() {
                            let (name, value) = line.split_once(':').unwrap_or(("", ""));
                            if ["recipient", "to", "cc", "bcc"].contains(&name.trim().to_ascii_lowercase().as_str()) {
                                leak::emails_in(value, &mut envelope);
                            }
                        }
                    }
                }
                let message = inner.unwrap_or(&parsed);
                self.judge_message(actor, raw, message, envelope)
            },
        )
    }

    fn judge_message(
        &self,
        actor: &Actor,
        raw: &[u8],
        message: &mail_parser::Message<'_>,
        envelope: Vec<String>,
    ) -> Result<MailFinding, CoreError> {
        use mail_parser::MimeHeaders;
        let addresses = |a: Option<&mail_parser::Address<'_>>| -> Vec<String> {
            a.map(|a| a.iter().filter_map(|x| x.address()).filter_map(leak::norm_email).collect()).unwrap_or_default()
        };
        let sender = addresses(message.from()).into_iter().next();
        let mut recipients = addresses(message.to());
        recipients.extend(addresses(message.cc()));
        recipients.extend(addresses(message.bcc()));
        recipients.extend(envelope);
        recipients.sort();
        recipients.dedup();
        let mut finding = MailFinding {
            message_sha256: sha256_hex(raw),
            sender: sender.clone(),
            coworker_id: None,
            external_recipients: Vec::new(),
            to_free_mail: false,
            customers: 0,
            customer_emails: 0,
            customer_phones: 0,
            attachments: Vec::new(),
            canary_exports: Vec::new(),
            traced_exports: Vec::new(),
            event_id: None,
            alert_id: None,
        };
        let (company, coworkers, sender_coworker, threshold) = self.db.read(|tx| {
            let company = self.company_domains(tx)?;
            let who = match &sender {
                Some(s) => tx.get_coworker_by_email(s)?,
                None => None,
            };
            let coworkers: HashSet<String> = tx.list_coworkers()?.iter().map(|c| c.email.to_lowercase()).collect();
            Ok((company, coworkers, who, self.settings_in(tx)?.leak_tracing.mail_alert_threshold))
        })?;
        finding.coworker_id = sender_coworker.as_ref().map(|c| c.id);
        finding.external_recipients = recipients
            .into_iter()
            .filter(|r| !company.contains(domain_of(r)) || crate::lead::is_free_mail(r))
            .collect();
        finding.to_free_mail = finding.external_recipients.iter().any(|r| crate::lead::is_free_mail(r));
        if finding.external_recipients.is_empty() {
            return Ok(finding);
        }
        // What it carries: emails anywhere; phones as table cells.
        let mut emails: Vec<String> = Vec::new();
        let mut phones: Vec<String> = Vec::new();
        let mut tables: Vec<(usize, FoundTable)> = Vec::new();
        for part in message.text_bodies().chain(message.html_bodies()) {
            if let Some(t) = part.text_contents() {
                leak::emails_in(t, &mut emails);
            }
        }
        for part in message.attachments() {
            let bytes = part.contents();
            let name = part.attachment_name().unwrap_or("").to_lowercase();
            let ctype = part
                .content_type()
                .map(|c| format!("{}/{}", c.ctype(), c.subtype().unwrap_or("")).to_lowercase())
                .unwrap_or_default();
            let tabular = name.ends_with(".csv")
                || name.ends_with(".xlsx")
                || name.ends_with(".vcf")
                || name.ends_with(".txt")
                || name.ends_with(".tsv")
                || ctype.contains("csv")
                || ctype.contains("spreadsheetml")
                || ctype.contains("vcard")
                || ctype.starts_with("text/");
            if tabular && let Ok(table) = leak::read_found(bytes, TRACE_MAX_ROWS) {
                // Each row's emails; its phone only when it has no email to know it by.
                let ident = Identity::of_headers(&table.headers);
                for row in &table.rows {
                    let before = emails.len();
                    for cell in row.iter().filter(|c| c.contains('@')) {
                        leak::emails_in(cell, &mut emails);
                    }
                    if emails.len() > before {
                        continue;
                    }
                    for (c, cell) in row.iter().enumerate() {
                        if (Some(c) == ident.phone || ident.phone.is_none())
                            && cell.chars().filter(char::is_ascii_digit).count() >= 7
                            && leak::norm_phone(cell).is_some()
                        {
                            phones.push(cell.trim().to_string());
                        }
                    }
                }
                finding.attachments.push(AttachmentFinding {
                    sha256: sha256_hex(bytes),
                    format: table.format.to_string(),
                    bytes: bytes.len(),
                    rows: table.rows.len(),
                    customers: 0,
                });
                tables.push((finding.attachments.len() - 1, table));
            } else if let Some(t) = part.text_contents() {
                leak::emails_in(t, &mut emails);
            }
        }
        let mine: HashSet<&str> =
            finding.external_recipients.iter().map(String::as_str).chain(sender.as_deref()).collect();
        // Customers are anyone but the message's own people and the co-workers (a customer may
        // share the company's domain: a reseller's staff, a test company).
        emails.retain(|e| !mine.contains(e.as_str()) && !coworkers.contains(e));
        emails.sort();
        emails.dedup();
        phones.sort();
        phones.dedup();
        let (matched_emails, matched_phones, customers, canaries) = self.db.read(|tx| {
            let mut customers: HashSet<Uuid> = HashSet::new();
            let mut by_email: HashMap<String, Uuid> = HashMap::new();
            for kind in [&record::CONTACTS, &record::LEADS] {
                // One query per 500 values (the store reads in chunks).
                for (value, id) in tx.find_ids_by_values(kind, "email", &emails)? {
                    by_email.entry(value).or_insert(id);
                    customers.insert(id);
                }
            }
            let mut by_phone: HashMap<String, Uuid> = HashMap::new();
            for kind in [&record::CONTACTS, &record::LEADS, &record::ACCOUNTS] {
                // One query per 500 values (the store reads in chunks).
                for (value, id) in tx.find_ids_by_values(kind, "phone", &phones)? {
                    by_phone.entry(value).or_insert(id);
                    customers.insert(id);
                }
            }
            let canaries = tx.canaries_with_emails(&emails)?;
            Ok((by_email, by_phone, customers, canaries))
        })?;
        finding.customer_emails = matched_emails.len();
        finding.customer_phones = matched_phones.len();
        finding.customers = customers.len();
        let mut canary_exports: Vec<Uuid> = canaries.iter().map(|c| c.export_id).collect();
        canary_exports.sort();
        canary_exports.dedup();
        finding.canary_exports = canary_exports;
        // Each table's customers, and the export it traces to when it carries many.
        for (i, table) in &tables {
            let mut ids: HashSet<Uuid> = HashSet::new();
            for row in &table.rows {
                for cell in row {
                    let t = cell.trim();
                    let id = leak::norm_email(t).and_then(|e| matched_emails.get(&e)).or_else(|| matched_phones.get(t));
                    if let Some(id) = id {
                        ids.insert(*id);
                    }
                }
            }
            finding.attachments[*i].customers = ids.len();
            if i64::try_from(ids.len()).unwrap_or(i64::MAX) >= threshold {
                let sender = finding.coworker_id.unwrap_or_default();
                let traced = self.db.read(|tx| self.trace_table(tx, table, Some(sender)))?;
                if let Some(best) = traced.matches.first() {
                    finding.traced_exports.push(best.export_id);
                }
            }
        }
        if finding.customers == 0 && finding.canary_exports.is_empty() {
            return Ok(finding);
        }
        let now = self.now();
        let message_id = message.message_id().map(|m| sha256_hex(m.as_bytes()));
        let mut event = NewEvent::by(actor, now, MAIL_OUTBOUND)
            .rows(finding.customers)
            .detail("from", json!(finding.sender))
            .detail("to", json!(finding.external_recipients))
            .detail("to_free_mail", json!(finding.to_free_mail))
            .detail("customers", json!(finding.customers))
            .detail("customer_emails", json!(finding.customer_emails))
            .detail("customer_phones", json!(finding.customer_phones))
            .detail("attachments", json!(finding.attachments))
            .detail("message_sha256", json!(finding.message_sha256))
            .detail("message_id_sha256", json!(message_id))
            .detail("canary_exports", json!(finding.canary_exports))
            .detail("traced_exports", json!(finding.traced_exports));
        event = match finding.coworker_id {
            Some(id) => event.object("coworker", id),
            None => event.object_type("coworker"),
        };
        let over = i64::try_from(finding.customers).unwrap_or(i64::MAX) >= threshold;
        let (event_id, alert_id) = self.db.write(|tx| {
            let ids = append_events_with_ids(tx, vec![event])?;
            let mut alert_id = None;
            if let Some(who) = sender_coworker.as_ref().filter(|_| over || !finding.canary_exports.is_empty()) {
                let personal = if finding.to_free_mail { " (a personal address)" } else { "" };
                let exports = if finding.canary_exports.is_empty() && finding.traced_exports.is_empty() {
                    String::new()
                } else {
                    let named: BTreeSet<String> =
                        finding.canary_exports.iter().chain(&finding.traced_exports).map(|e| e.to_string()).collect();
                    format!("; it carries export {}", named.into_iter().collect::<Vec<_>>().join(", "))
                };
                let severity = if !finding.canary_exports.is_empty() {
                    Severity::Critical
                } else if finding.to_free_mail {
                    Severity::High
                } else {
                    Severity::Medium
                };
                let alert = self.raise_alert_in(
                    tx,
                    NewAlert {
                        coworker_id: who.id,
                        kind: "mail_customer_data",
                        severity,
                        summary: format!(
                            "{} mailed {} customers' details to {}{personal}{exports}",
                            who.email,
                            finding.customers,
                            finding.external_recipients.join(", ")
                        ),
                        details: json!({
                            "from": finding.sender, "to": finding.external_recipients,
                            "to_free_mail": finding.to_free_mail, "customers": finding.customers,
                            "customer_emails": finding.customer_emails, "customer_phones": finding.customer_phones,
                            "attachments": finding.attachments, "message_sha256": finding.message_sha256,
                            "canary_exports": finding.canary_exports, "traced_exports": finding.traced_exports,
                            "threshold": threshold,
                        }),
                        event_ids: ids.clone(),
                        dedupe_key: format!("mail:{}", message_id.as_deref().unwrap_or(&finding.message_sha256)),
                        recipient_ids: Vec::new(),
                    },
                    now,
                )?;
                alert_id = alert.map(|a| a.id);
            }
            Ok((ids.first().copied(), alert_id))
        })?;
        finding.event_id = event_id;
        finding.alert_id = alert_id;
        Ok(finding)
    }

    /// Exports' fingerprints kept (admins' leak-tracing page).
    pub fn fingerprint_count(&self, actor: &Actor) -> Result<i64, CoreError> {
        self.require_admin(actor, "see leak tracing")?;
        self.db.read(|tx| Ok(tx.count_fingerprints()?))
    }

    /// An export's canaries (admins: what to look for in a found file by hand).
    pub fn export_canaries(&self, actor: &Actor, export_id: Uuid) -> Result<Vec<Canary>, CoreError> {
        self.require_admin(actor, "see an export's canaries")?;
        self.db.read(|tx| Ok(tx.canaries_of_export(export_id)?))
    }
}
