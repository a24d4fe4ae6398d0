//! CSV import of contacts (with their accounts), from our own, HubSpot's or Salesforce's exports.
//!
//! The file is read up to three times and never held whole in memory: the first reading checks
//! every row (a malformed file is refused with the row and column at fault) and gathers the
//! company domains to look up at once; inside the import's one transaction (rehearsed and rolled
//! back for a dry run) the second looks the emails up a few thousand at a time, and the third
//! writes the valid rows, de-duplicated against the database and within the file by normalized
//! email, then phone digits; accounts by company domain, then name.

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};

use serde_json::json;
use uuid::Uuid;

use super::bulk::OperationLog;
use super::{Holdfast, append_events};
use crate::coworker::Actor;
use crate::error::CoreError;
use crate::event::{NewEvent, action};
use crate::operation::{OperationRecord, Step};
use crate::record::{self, Changes, Kind, Record, Value, parse_value, phone_digits};
use crate::storage::{Database, Tx};

#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    pub dry_run: bool,
    /// A name for the source shown in the system event (file name).
    pub source: Option<String>,
}

/// A row that was not imported, and why.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RejectedRow {
    /// 1-based line number in the file, counting the header as line 1.
    pub row: u64,
    pub reason: String,
}

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct ImportReport {
    pub dry_run: bool,
    pub rows: u64,
    pub created: u64,
    pub merged: u64,
    pub accounts_created: u64,
    pub rejected: Vec<RejectedRow>,
    /// Rows that match a contact the importer may not change, left as it was.
    pub skipped: Vec<RejectedRow>,
    /// Notes that did not stop a row, e.g. an owner that matched no co-worker.
    pub warnings: Vec<RejectedRow>,
    /// The columns recognized, as `file column → field`.
    pub columns: Vec<(String, String)>,
}

/// The `bulk.import` event: what the import (or its rehearsal) did. An import is an operation:
/// every contact and account it created is a row of the operation's table (kept by record, so a
/// record's history shows where it came from), and the event holds their count per kind and
/// SHA-256, which `audit verify` checks, not a list of ids (a million of them was most of a large
/// import's memory). The contacts its rows matched are rows of a step of their own (`merge`),
/// with their own digest (`merged_digest`, over `merged` rows); each one whose blanks were filled
/// also has its own `record.update`. A rehearsal created nothing and is the event alone.
fn import_event(
    actor: &Actor,
    now: i64,
    options: &ImportOptions,
    report: &ImportReport,
    kept: Option<&OperationRows>,
) -> NewEvent {
    let event = NewEvent::by(actor, now, action::IMPORT);
    let event = match kept {
        Some(kept) => kept
            .log
            .event(event)
            .detail("operation", json!(kept.log.operation()))
            .detail("merged_digest", json!(kept.merged_log.digest())),
        None => event.object_type("contact").rows((report.created + report.merged) as usize),
    };
    event
        .detail("source", json!(options.source))
        .detail("dry_run", json!(options.dry_run))
        .detail("created", json!(report.created))
        .detail("merged", json!(report.merged))
        .detail("skipped", json!(report.skipped.len()))
        .detail("accounts_created", json!(report.accounts_created))
        .detail("rejected", json!(report.rejected.len()))
}

/// Our field for a column header, whichever CRM wrote it.
fn column_field(header: &str) -> Option<&'static str> {
    let h: String = header.chars().filter(|c| c.is_alphanumeric()).collect::<String>().to_lowercase();
    Some(match h.as_str() {
        "firstname" | "givenname" => "first_name",
        "lastname" | "surname" | "familyname" => "last_name",
        "name" | "fullname" | "contactname" => "full_name",
        "email" | "emailaddress" | "workemail" => "email",
        "phone" | "phonenumber" | "workphone" | "businessphone" | "mobilephonenumber" | "mobilephone" | "mobile" => {
            "phone"
        }
        "title" | "jobtitle" => "title",
        "buyingrole" | "role" => "buying_role",
        "company" | "companyname" | "accountname" | "account" | "organization" | "organisation" => "company",
        "domain" | "companydomain" | "companydomainname" | "website" | "websiteurl" | "accountwebsite"
        | "accountdomain" => "domain",
        "owner" | "owneremail" | "contactowner" | "owneremailaddress" | "contactowneremail" => "owner",
        "notes" | "description" => "notes",
        _ => return None,
    })
}

use crate::lead::FREE_MAIL;

/// What an import reads: a file it may read more than once (to check it, to look its emails and
/// domains up in bulk, to import it), row by row, never whole in memory.
pub trait ImportInput: Read + Seek {}

impl<T: Read + Seek> ImportInput for T {}

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// A file's layout, read from its first line: where the rows start, their separator, the header.
struct CsvLayout {
    start: u64,
    delimiter: u8,
    headers: Vec<String>,
}

fn io_error(e: std::io::Error) -> CoreError {
    CoreError::BadFile(e.to_string())
}

fn reader(
    input: &mut dyn ImportInput,
    start: u64,
    delimiter: u8,
) -> Result<csv::Reader<&mut dyn ImportInput>, CoreError> {
    input.seek(SeekFrom::Start(start)).map_err(io_error)?;
    Ok(csv::ReaderBuilder::new().delimiter(delimiter).flexible(false).from_reader(input))
}

fn layout(input: &mut dyn ImportInput) -> Result<CsvLayout, CoreError> {
    input.seek(SeekFrom::Start(0)).map_err(io_error)?;
    let mut head = Vec::with_capacity(1 << 16);
    (&mut *input).take(1 << 16).read_to_end(&mut head).map_err(io_error)?;
    let start = if head.starts_with(BOM) { BOM.len() } else { 0 };
    let first_line = head[start..].split(|b| *b == b'\n').next().unwrap_or_default();
    let count = |c: u8| first_line.iter().filter(|b| **b == c).count();
    let delimiter = [b',', b';', b'\t'].into_iter().max_by_key(|c| count(*c)).unwrap_or(b',');
    let start = start as u64;
    let headers: Vec<String> = reader(input, start, delimiter)?
        .headers()
        .map_err(|e| CoreError::BadFile(format!("line 1 (the header): {e}")))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    if headers.iter().all(|h| h.is_empty()) {
        return Err(CoreError::BadFile("the file is empty or has no header line".into()));
    }
    Ok(CsvLayout { start, delimiter, headers })
}

/// What [`each_row`] calls with a row's line and its trimmed cells.
type RowVisitor<'a> = dyn FnMut(u64, &[&str]) -> Result<(), CoreError> + 'a;

/// Calls `f` with each row that has something in it (its line, its trimmed cells), in order; a
/// malformed row stops the reading with its line and column.
fn each_row(input: &mut dyn ImportInput, layout: &CsvLayout, f: &mut RowVisitor<'_>) -> Result<(), CoreError> {
    let mut reader = reader(input, layout.start, layout.delimiter)?;
    reader.headers().map_err(|e| CoreError::BadFile(format!("line 1 (the header): {e}")))?;
    let mut rec = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut rec) {
            Ok(false) => return Ok(()),
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                return Err(match e.kind() {
                    csv::ErrorKind::UnequalLengths { len, expected_len, .. } => CoreError::BadFile(format!(
                        "line {line} has {len} columns but the header has {expected_len}; column {} is where it goes wrong (check for a missing or extra separator or an unclosed quote)",
                        len.min(expected_len) + 1
                    )),
                    csv::ErrorKind::Utf8 { err, .. } => CoreError::BadFile(format!(
                        "line {line}, column {} is not UTF-8 text; save the file as CSV UTF-8 and import it again",
                        err.field() + 1
                    )),
                    _ => CoreError::BadFile(format!("line {line}: {e}")),
                });
            }
        }
        let line = rec.position().map(|p| p.line()).unwrap_or(0);
        let cells: Vec<&str> = rec.iter().map(str::trim).collect();
        if cells.iter().all(|c| c.is_empty()) {
            continue;
        }
        f(line, &cells)?;
    }
}

/// The whole file parsed at once (the tests' view of the two functions above).
#[cfg(test)]
#[allow(clippy::type_complexity)]
fn parse_csv(bytes: &[u8]) -> Result<(Vec<String>, Vec<(u64, Vec<String>)>), CoreError> {
    let mut input = std::io::Cursor::new(bytes);
    let layout = layout(&mut input)?;
    let mut rows = Vec::new();
    each_row(&mut input, &layout, &mut |line, cells| {
        rows.push((line, cells.iter().map(|c| c.to_string()).collect()));
        Ok(())
    })?;
    Ok((layout.headers, rows))
}

impl<D: Database> Holdfast<D> {
    /// Imports contacts from CSV. `progress` is called with the number of rows done.
    pub fn import_contacts(
        &self,
        actor: &Actor,
        input: &mut dyn ImportInput,
        options: &ImportOptions,
        progress: &dyn Fn(u64, u64),
    ) -> Result<ImportReport, CoreError> {
        let file = layout(input)?;
        let mut report = ImportReport { dry_run: options.dry_run, ..Default::default() };
        let mut map: Vec<Option<&'static str>> = Vec::new();
        for h in &file.headers {
            let f = column_field(h);
            if let Some(name) = f {
                if map.contains(&Some(name)) {
                    map.push(None);
                    continue;
                }
                report.columns.push((h.clone(), name.to_string()));
            }
            map.push(f);
        }
        if !map.iter().any(|f| matches!(f, Some("email" | "first_name" | "last_name" | "full_name"))) {
            return Err(CoreError::BadFile(format!(
                "no column holds a contact's name or email; the columns are: {}. Use First Name, Last Name, Email (HubSpot), FirstName, LastName, Email (Salesforce) or first_name, last_name, email",
                file.headers.join(", ")
            )));
        }
        // The first reading checks the whole file and gathers every company domain, to look them
        // up at once rather than row by row (a round trip each on PostgreSQL). Domains repeat (a
        // company's contacts share one): gathered as a set, not a row each.
        let email_col = map.iter().position(|f| *f == Some("email"));
        let phone_col = map.iter().position(|f| *f == Some("phone"));
        let domain_col = map.iter().position(|f| *f == Some("domain"));
        let mut domains = std::collections::HashSet::new();
        each_row(input, &file, &mut |_, cells| {
            report.rows += 1;
            let email = email_col.and_then(|c| cells.get(c)).and_then(|e| record::normalize_email(e).ok());
            let domain = match domain_col.and_then(|c| cells.get(c)).filter(|d| !d.is_empty()) {
                Some(d) => record::normalize_domain(d).ok(),
                None => email
                    .as_ref()
                    .and_then(|e| e.split_once('@').map(|(_, d)| d.to_string()))
                    .filter(|d| !FREE_MAIL.contains(&d.as_str())),
            };
            domains.extend(domain);
            Ok(())
        })?;
        let mut domains: Vec<String> = domains.into_iter().collect();
        domains.sort_unstable();
        let total = report.rows;
        let run = move |tx: &mut dyn Tx| -> Result<ImportReport, CoreError> {
            if total > 1_000 {
                tx.expect_many_changes()?;
            }
            let mut report = report.clone();
            let mut state = ImportState::new(crate::id::new_id());
            if email_col.is_some() || phone_col.is_some() {
                // Reading the file again, the emails are looked up a few thousand at a time (a
                // million of them held at once took more memory than the rest of the import),
                // and the emails and phones that occur more than once in the file are found:
                // only those need remembering as the rows are written.
                let (mut emails, mut email_keys, mut phone_keys) = (Vec::with_capacity(EMAIL_LOOKUP), vec![], vec![]);
                each_row(&mut *input, &file, &mut |_, cells| {
                    if let Some(e) = file_cell(cells, email_col).and_then(|e| record::normalize_email(e).ok()) {
                        email_keys.push(key(&e));
                        emails.push(e);
                        if emails.len() >= EMAIL_LOOKUP {
                            look_up_emails(&mut *tx, &mut emails, &mut state.contacts_by_email)?;
                        }
                    }
                    if let Some(d) = file_cell(cells, phone_col).and_then(dedup_digits) {
                        phone_keys.push(key(&d));
                    }
                    Ok(())
                })?;
                look_up_emails(&mut *tx, &mut emails, &mut state.contacts_by_email)?;
                state.emails_known = email_col.is_some();
                state.repeated_emails = repeated(email_keys);
                state.repeated_phones = repeated(phone_keys);
            }
            for (domain, id) in tx.find_ids_by_values(&record::ACCOUNTS, "domain", &domains)? {
                state.accounts_by_domain.insert(domain, id);
            }
            drop(domains);
            state.domains_known = true;
            // The second reading imports row by row.
            let mut done = 0u64;
            each_row(&mut *input, &file, &mut |line, cells| {
                let mut cell: HashMap<&str, &str> = HashMap::new();
                for (j, value) in cells.iter().enumerate() {
                    if let Some(Some(f)) = map.get(j)
                        && !value.is_empty()
                    {
                        // An export's neutralized formula cell reads back as what it was.
                        cell.insert(f, super::bulk::unneutralized(value));
                    }
                }
                match self.import_row(tx, actor, &cell, &mut state, &mut report, line) {
                    Ok(()) => {}
                    Err(CoreError::Invalid(errors)) => report.rejected.push(RejectedRow {
                        row: line,
                        reason: errors
                            .iter()
                            .map(|e| format!("{} {}", e.field, e.reason))
                            .collect::<Vec<_>>()
                            .join("; "),
                    }),
                    Err(other) => return Err(other),
                }
                // The merged contacts' changes go to the log as they come, not held to the end.
                if state.events.len() >= 1_000 {
                    append_events(tx, std::mem::take(&mut state.events))?;
                }
                done += 1;
                if done % 500 == 1 || done == total {
                    progress(done, total);
                }
                Ok(())
            })?;
            state.rows.flush(tx)?;
            let mut events = std::mem::take(&mut state.events);
            events.push(import_event(actor, self.now(), options, &report, Some(&state.rows)));
            append_events(tx, events)?;
            Ok(report)
        };
        if !options.dry_run {
            return self.db.write(run);
        }
        // A rehearsal changes nothing, but it is recorded: it tells the importer which emails
        // are already in the CRM.
        let report = self.db.rehearse(run)?;
        let event = import_event(actor, self.now(), options, &report, None);
        self.db.write(|tx| Ok(append_events(tx, vec![event])?))?;
        Ok(report)
    }

    fn import_row(
        &self,
        tx: &mut dyn Tx,
        actor: &Actor,
        cell: &HashMap<&str, &str>,
        state: &mut ImportState,
        report: &mut ImportReport,
        line: u64,
    ) -> Result<(), CoreError> {
        let mut input = serde_json::Map::new();
        let (mut first, mut last) = (cell.get("first_name").copied(), cell.get("last_name").copied());
        if first.is_none()
            && last.is_none()
            && let Some(full) = cell.get("full_name")
        {
            match full.rsplit_once(' ') {
                Some((f, l)) => (first, last) = (Some(f), Some(l)),
                None => first = Some(full),
            }
        }
        let email = cell.get("email").copied();
        let first = first.or_else(|| email.and_then(|e| e.split('@').next()));
        for (k, v) in [("first_name", first), ("last_name", last), ("email", email)] {
            if let Some(v) = v {
                input.insert(k.into(), json!(v));
            }
        }
        for k in ["phone", "title", "buying_role", "notes"] {
            if let Some(v) = cell.get(k) {
                input.insert(k.into(), json!(v));
            }
        }
        if let Some(owner) = cell.get("owner") {
            match self.find_owner(tx, state, owner)? {
                Some(id) => {
                    input.insert("owner_id".into(), json!(id.to_string()));
                }
                None => report.warnings.push(RejectedRow {
                    row: line,
                    reason: format!(
                        "owner '{owner}' matched no co-worker; the contact is owned by {}",
                        actor.describe()
                    ),
                }),
            }
        }
        let mut changes = record::parse_changes(&record::CONTACTS, &serde_json::Value::Object(input), true)?;
        // The account: by domain (explicit, or the email's unless it is free mail), then by name.
        let domain = match cell.get("domain") {
            Some(d) => Some(record::normalize_domain(d).map_err(|r| CoreError::invalid("domain", r))?),
            None => changes
                .fields
                .get("email")
                .and_then(|e| e.as_text())
                .and_then(|e| e.split_once('@').map(|(_, d)| d.to_string()))
                .filter(|d| !FREE_MAIL.contains(&d.as_str())),
        };
        let company = cell.get("company").map(|c| c.trim().to_string());
        if let Some(account) =
            self.find_or_create_account(tx, actor, state, report, company.as_deref(), domain.as_deref())?
        {
            changes.fields.insert("account_id", Value::Text(account.to_string()));
        }
        // De-duplicate the contact.
        let email = changes.fields.get("email").and_then(|v| v.as_text()).map(String::from);
        let digits = changes.fields.get("phone").and_then(|v| v.as_text()).map(phone_digits).filter(|d| d.len() >= 7);
        // The maps hold a 64-bit key of each email and phone (not the text: a million of them
        // would take hundreds of megabytes), of the database's contacts the file's emails found
        // and of the contacts made here whose email or phone comes again later in the file; a
        // match is confirmed on the contact itself.
        let mut existing = None;
        if let Some(e) = &email {
            existing = match state.contacts_by_email.get(&key(e)) {
                Some(id) => tx
                    .get_record(&record::CONTACTS, *id)?
                    .filter(|r| r.get("email").as_text().is_some_and(|known| known.eq_ignore_ascii_case(e))),
                None if state.emails_known => None,
                None => tx.find_records(&record::CONTACTS, "email", &Value::Text(e.clone()), 1)?.into_iter().next(),
            };
        }
        if existing.is_none()
            && let Some(d) = &digits
            && let Some(id) = state.contacts_by_phone.get(&key(d))
        {
            existing = tx
                .get_record(&record::CONTACTS, *id)?
                .filter(|r| r.get("phone").as_text().is_some_and(|p| phone_digits(p) == *d));
        }
        match existing {
            Some(rec) => {
                let id = rec.id;
                // Only the blanks of the existing contact are filled, as an ordinary change by the
                // importer: the same rules as a PATCH, and a `record.update` with before and after.
                let mut fill = record::Changes::default();
                for (name, value) in changes.fields {
                    if (rec.get(name).is_null() || rec.get(name) == &Value::Text(String::new())) && !value.is_null() {
                        fill.fields.insert(name, value);
                    }
                }
                match self.apply_changes(tx, actor, &record::CONTACTS, id, &fill) {
                    Ok(applied) => {
                        state.events.extend(applied.event);
                        let owner_now = match fill.fields.get(record::CONTACTS.owner_field) {
                            Some(Value::Text(o)) => Uuid::parse_str(o).ok(),
                            _ => rec.owner(&record::CONTACTS),
                        };
                        state.rows.merged(tx, &rec, owner_now)?;
                        report.merged += 1;
                    }
                    Err(CoreError::Forbidden(_)) => {
                        let policy = self.read_policy(tx)?;
                        let reason = if self.may_open(tx, actor, policy, &record::CONTACTS, &rec)? {
                            format!(
                                "matches {}, which you may not change: left as it was (ask its owner)",
                                rec.label(&record::CONTACTS)
                            )
                        } else {
                            "matches a contact you may not open: left as it was".to_string()
                        };
                        report.skipped.push(RejectedRow { row: line, reason });
                    }
                    Err(other) => return Err(other),
                }
            }
            None => {
                // The account was found or made above and the owner is a known co-worker.
                let rec = self.insert_checked(tx, actor, &record::CONTACTS, changes, false)?;
                if let Some(k) = email.map(|e| key(&e)).filter(|k| state.repeated_emails.contains(k)) {
                    state.contacts_by_email.insert(k, rec.id);
                }
                if let Some(k) = digits.map(|d| key(&d)).filter(|k| state.repeated_phones.contains(k)) {
                    state.contacts_by_phone.insert(k, rec.id);
                }
                state.rows.created(tx, &record::CONTACTS, &rec)?;
                report.created += 1;
            }
        }
        Ok(())
    }

    fn find_owner(&self, tx: &mut dyn Tx, state: &mut ImportState, owner: &str) -> Result<Option<Uuid>, CoreError> {
        if state.coworkers.is_none() {
            state.coworkers = Some(
                tx.list_coworkers()?.into_iter().map(|c| (c.email.clone(), c.name.to_lowercase(), c.id)).collect(),
            );
        }
        let needle = owner.trim().to_lowercase();
        Ok(state
            .coworkers
            .iter()
            .flatten()
            .find(|(email, name, _)| *email == needle || *name == needle)
            .map(|(_, _, id)| *id))
    }

    fn find_or_create_account(
        &self,
        tx: &mut dyn Tx,
        actor: &Actor,
        state: &mut ImportState,
        report: &mut ImportReport,
        company: Option<&str>,
        domain: Option<&str>,
    ) -> Result<Option<Uuid>, CoreError> {
        let company = company.filter(|c| !c.is_empty());
        if let Some(d) = domain {
            if let Some(id) = state.accounts_by_domain.get(d) {
                return Ok(Some(*id));
            }
            // When the domains were looked up before the rows, a miss means no account has it yet.
            if !state.domains_known
                && let Some(acc) = tx.find_records(&record::ACCOUNTS, "domain", &Value::Text(d.to_string()), 1)?.first()
            {
                state.accounts_by_domain.insert(d.to_string(), acc.id);
                return Ok(Some(acc.id));
            }
        }
        if let Some(name) = company {
            let key = name.to_lowercase();
            if let Some(id) = state.accounts_by_name.get(&key) {
                return Ok(Some(*id));
            }
            if let Some(acc) = tx.find_accounts_by_name(name)?.first() {
                state.accounts_by_name.insert(key, acc.id);
                return Ok(Some(acc.id));
            }
        }
        let name = match (company, domain) {
            (Some(c), _) => c.to_string(),
            (None, Some(d)) => d.to_string(),
            (None, None) => return Ok(None),
        };
        let mut changes = Changes::default();
        let name_field = record::ACCOUNTS.field("name").ok_or_else(|| CoreError::invalid("company", "unknown"))?;
        let name_value = parse_value(name_field, &json!(name)).map_err(|r| CoreError::invalid("company", r))?;
        changes.fields.insert("name", name_value);
        changes.fields.insert("lifecycle", Value::Text("prospect".into()));
        if let Some(d) = domain {
            changes.fields.insert("domain", Value::Text(d.to_string()));
        }
        // Name, lifecycle and domain only: nothing to check references against but the owner,
        // who is the actor.
        let acc: Record = self.insert_checked(tx, actor, &record::ACCOUNTS, changes, false)?;
        report.accounts_created += 1;
        state.rows.created(tx, &record::ACCOUNTS, &acc)?;
        if let Some(d) = domain {
            state.accounts_by_domain.insert(d.to_string(), acc.id);
        }
        state.accounts_by_name.insert(name.to_lowercase(), acc.id);
        debug_assert_eq!(record::ACCOUNTS.kind, Kind::Account);
        Ok(Some(acc.id))
    }
}

/// A row's cell in column `col`, as the import reads it (an export's neutralized formula cell as
/// it was).
fn file_cell<'a>(cells: &[&'a str], col: Option<usize>) -> Option<&'a str> {
    col.and_then(|c| cells.get(c).copied()).map(super::bulk::unneutralized)
}

/// A phone cell's digits as the import compares them: those of a valid phone number, 7 or more.
fn dedup_digits(cell: &str) -> Option<String> {
    record::normalize_phone(cell).ok().map(|p| phone_digits(&p)).filter(|d| d.len() >= 7)
}

/// The keys that occur more than once.
fn repeated(mut keys: Vec<u64>) -> std::collections::HashSet<u64> {
    keys.sort_unstable();
    keys.windows(2).filter(|w| w[0] == w[1]).map(|w| w[0]).collect()
}

/// How many emails the import looks up at once.
const EMAIL_LOOKUP: usize = 5_000;

/// Looks these emails up (and empties the list): the contact that has each, by [`key`].
fn look_up_emails(tx: &mut dyn Tx, emails: &mut Vec<String>, known: &mut HashMap<u64, Uuid>) -> Result<(), CoreError> {
    emails.sort_unstable();
    emails.dedup();
    for (email, id) in tx.find_ids_by_values(&record::CONTACTS, "email", emails)? {
        known.insert(key(&email), id);
    }
    emails.clear();
    Ok(())
}

/// A 64-bit key of a text, for the de-duplication maps (fixed keys: the same text, the same key).
fn key(text: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut h);
    h.finish()
}

/// An import's operation rows as they are written, 50,000 at a time per kind and step (about
/// 5 MB each). Not fewer: each write is a statement with a statement journal, which makes SQLite's
/// full-text index write its pending terms out as a segment of their own.
struct OperationRows {
    /// The contacts and accounts the import created (step `do`).
    log: OperationLog,
    contacts: Pending,
    accounts: Pending,
    /// The existing contacts the file's rows matched (step `merge`).
    merged_log: OperationLog,
    merged: Pending,
}

/// Rows of one kind waiting to be written to a step's log.
struct Pending {
    kind: &'static record::RecordKind,
    rows: Vec<OperationRecord>,
}

impl Pending {
    const BATCH: usize = 50_000;

    fn new(kind: &'static record::RecordKind) -> Self {
        Pending { kind, rows: Vec::new() }
    }

    fn push(&mut self, log: &mut OperationLog, tx: &mut dyn Tx, row: OperationRecord) -> Result<(), CoreError> {
        self.rows.push(row);
        if self.rows.len() >= Self::BATCH {
            self.flush(log, tx)?;
        }
        Ok(())
    }

    fn flush(&mut self, log: &mut OperationLog, tx: &mut dyn Tx) -> Result<(), CoreError> {
        log.write(tx, self.kind, std::mem::take(&mut self.rows))
    }
}

impl OperationRows {
    fn new(operation: Uuid) -> Self {
        OperationRows {
            log: OperationLog::new(operation, Step::Done),
            contacts: Pending::new(&record::CONTACTS),
            accounts: Pending::new(&record::ACCOUNTS),
            merged_log: OperationLog::new(operation, Step::Merged),
            merged: Pending::new(&record::CONTACTS),
        }
    }

    /// Keeps a contact or account the import created, with its owner.
    fn created(&mut self, tx: &mut dyn Tx, kind: &'static record::RecordKind, rec: &Record) -> Result<(), CoreError> {
        let row = OperationRecord {
            kind: kind.name.to_string(),
            record_id: rec.id,
            owner_before: None,
            owner_after: rec.owner(kind),
        };
        let pending = if kind.kind == Kind::Account { &mut self.accounts } else { &mut self.contacts };
        pending.push(&mut self.log, tx, row)
    }

    /// Keeps an existing contact a row matched, with its owner before and after (a blank owner is
    /// filled like any blank).
    fn merged(&mut self, tx: &mut dyn Tx, rec: &Record, owner_after: Option<Uuid>) -> Result<(), CoreError> {
        let row = OperationRecord {
            kind: record::CONTACTS.name.to_string(),
            record_id: rec.id,
            owner_before: rec.owner(&record::CONTACTS),
            owner_after,
        };
        self.merged.push(&mut self.merged_log, tx, row)
    }

    /// Writes what is still pending (the rows' order is the order written; the digest follows it).
    fn flush(&mut self, tx: &mut dyn Tx) -> Result<(), CoreError> {
        self.accounts.flush(&mut self.log, tx)?;
        self.contacts.flush(&mut self.log, tx)?;
        self.merged.flush(&mut self.merged_log, tx)
    }
}

struct ImportState {
    /// By [`key`] of the normalized email.
    contacts_by_email: HashMap<u64, Uuid>,
    /// Every email of the file was looked up before the rows: one missing from
    /// `contacts_by_email` belongs to no contact yet.
    emails_known: bool,
    /// The same for accounts by domain.
    domains_known: bool,
    /// By [`key`] of the phone's digits.
    contacts_by_phone: HashMap<u64, Uuid>,
    /// The keys of the emails and phones that occur more than once in the file: a contact the
    /// import makes is remembered in the maps above only when one of its keys is here. Without
    /// an email or phone column, nothing is remembered and nothing within the file repeats.
    repeated_emails: std::collections::HashSet<u64>,
    repeated_phones: std::collections::HashSet<u64>,
    accounts_by_domain: HashMap<String, Uuid>,
    accounts_by_name: HashMap<String, Uuid>,
    coworkers: Option<Vec<(String, String, Uuid)>>,
    rows: OperationRows,
    /// The merged contacts' `record.update` events, appended with the import's own.
    events: Vec<NewEvent>,
}

impl ImportState {
    fn new(operation: Uuid) -> Self {
        ImportState {
            contacts_by_email: HashMap::new(),
            emails_known: false,
            domains_known: false,
            contacts_by_phone: HashMap::new(),
            repeated_emails: Default::default(),
            repeated_phones: Default::default(),
            accounts_by_domain: HashMap::new(),
            accounts_by_name: HashMap::new(),
            coworkers: None,
            rows: OperationRows::new(operation),
            events: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognizes_hubspot_and_salesforce_headers() {
        assert_eq!(column_field("First Name"), Some("first_name"));
        assert_eq!(column_field("Phone Number"), Some("phone"));
        assert_eq!(column_field("Company Name"), Some("company"));
        assert_eq!(column_field("Contact owner"), Some("owner"));
        assert_eq!(column_field("Account.Name"), Some("company"));
        assert_eq!(column_field("Owner.Email"), Some("owner"));
        assert_eq!(column_field("FirstName"), Some("first_name"));
    }

    #[test]
    fn malformed_rows_name_line_and_column() {
        let err = parse_csv(b"First Name,Email\nAda,ada@x.com\nBob,bob@x.com,extra\n").err().map(|e| e.to_string());
        let msg = err.unwrap_or_default();
        assert!(msg.contains("line 3"), "{msg}");
        assert!(msg.contains("column 3"), "{msg}");
    }

    #[test]
    fn semicolons_bom_and_quoted_newlines() {
        let f = parse_csv("\u{feff}First Name;Notes\n\"Ada\";\"line one\nline two\"\n".as_bytes()).ok();
        let (headers, rows) = f.expect("parses");
        assert_eq!(headers, vec!["First Name", "Notes"]);
        assert_eq!(rows[0].1[1], "line one\nline two");
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any bytes at all: the parser answers with rows or a clear error, never a panic.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = parse_csv(&bytes);
        }

        /// Whatever cells a CSV writer produces (quotes, separators, newlines, unicode), the
        /// parser reads back the same cells, trimmed.
        #[test]
        fn written_cells_read_back(rows in proptest::collection::vec(proptest::collection::vec("[ -~\\n\"é;,]{0,12}", 3), 1..8)) {
            let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
            w.write_record(["First Name", "Email", "Notes"]).expect("header");
            for r in &rows { w.write_record(r).expect("row"); }
            let bytes = w.into_inner().expect("bytes");
            let parsed = parse_csv(&bytes).expect("parses");
            let expected: Vec<Vec<String>> = rows.iter()
                .map(|r| r.iter().map(|c| c.trim().to_string()).collect::<Vec<_>>())
                .filter(|r| !r.iter().all(|c| c.is_empty()))
                .collect();
            let got: Vec<Vec<String>> = parsed.1.into_iter().map(|(_, r)| r).collect();
            prop_assert_eq!(got, expected);
        }
    }
}
