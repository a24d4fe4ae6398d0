//! The one export service: every export, from the web app, `holdfast export` or the API, is
//! asked for here, checked against the co-worker's limits (rows per export, reading budgets,
//! columns their role may export), and then either made ready, put in the approval queue, or
//! refused. A ready export's rows are read when it is downloaded, once: the file is written to a
//! private temporary file (constant memory), hashed, and recorded as `export.create` with its
//! row count, columns, query and SHA-256 before the first byte is handed out.

use std::borrow::Cow;
use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};

use serde_json::{Value as Json, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::alerts::NewAlert;
use super::bulk::{EXPORT_MAX, neutralized, starts_formula};
use super::cursors::sort_value;
use super::metering::Reach;
use super::{Holdfast, ListRequest, append_events};
use crate::coworker::{Actor, Role};
use crate::error::{CoreError, StorageError};
use crate::event::{NewEvent, action};
use crate::guard::{ExportFormat, ExportRequest, ExportStatus, OverLimit, Severity};
use crate::record::{self, FieldType, Record, RecordKind, Value};
use crate::storage::{Cell, Database, Tx};
use crate::time::{MICROS_PER_DAY, format_timestamp};

pub const EXPORT_REQUEST: &str = "export.request";
pub const EXPORT_APPROVE: &str = "export.approve";
pub const EXPORT_DENY: &str = "export.deny";
pub const EXPORT_REFUSED: &str = "export.refused";

/// How long an approved or allowed export can be downloaded.
pub const DOWNLOAD_WINDOW: i64 = MICROS_PER_DAY;
/// Rows read from the database at a time while writing a file.
const CHUNK: u32 = 1_000;

/// An export as asked for.
#[derive(Debug, Clone)]
pub struct ExportAsk {
    pub kind: &'static RecordKind,
    /// The list or search it covers (its `limit`, `cursor` and `offset` are ignored).
    pub list: ListRequest,
    /// Picked records instead of a list request.
    pub ids: Option<Vec<Uuid>>,
    /// Most rows; [`EXPORT_MAX`] when not given.
    pub limit: Option<i64>,
    pub format: ExportFormat,
    /// Columns to export; every column the co-worker may export when not given.
    pub columns: Option<Vec<String>>,
    pub reason: Option<String>,
}

/// A file ready to hand out: written, hashed and recorded.
#[derive(Debug)]
pub struct ExportFile {
    pub export_id: Uuid,
    pub file_name: String,
    pub content_type: &'static str,
    pub rows: i64,
    pub bytes: u64,
    pub sha256: String,
    /// The file, positioned at its start (an unlinked temporary file, readable only by us).
    pub file: File,
}

impl ExportFile {
    /// The whole file in memory (small exports and tests).
    pub fn into_bytes(mut self) -> Result<Vec<u8>, CoreError> {
        let mut out = Vec::with_capacity(usize::try_from(self.bytes).unwrap_or(0));
        self.file.read_to_end(&mut out).map_err(io)?;
        Ok(out)
    }
}

/// Which exports to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportList {
    /// The actor's own.
    Mine,
    /// Waiting for the actor's decision: everyone's for admins, their people's for managers.
    ToApprove,
    /// Everything the actor may see (admins: all; managers: theirs and their people's).
    Visible,
}

fn io(e: std::io::Error) -> CoreError {
    CoreError::Storage(StorageError::Other(format!("writing the export file: {e}")))
}

/// The columns a kind exports: its id, its fields, and when it was created and last changed.
pub fn export_columns(kind: &RecordKind) -> Vec<&'static str> {
    let mut c = vec!["id"];
    c.extend(kind.fields.iter().map(|f| f.name));
    c.extend(["created_at", "updated_at"]);
    c
}

impl<D: Database> Holdfast<D> {
    /// Asks for an export. Within the co-worker's limits it is ready to download (once, within
    /// 24 hours); past them it waits for approval, is allowed with an alert, or is refused, as
    /// their policy says. Refusals are `export.refused` events.
    pub fn request_export(&self, actor: &Actor, ask: &ExportAsk) -> Result<ExportRequest, CoreError> {
        let kind = ask.kind;
        let refused = |why: String| -> CoreError {
            if let Err(e) = self.record_export_refusal(actor, kind, &why) {
                return e;
            }
            CoreError::Forbidden(why)
        };
        let me = actor.coworker.clone();
        // The operator at the command line exports as an admin would; there is no row to keep.
        let limits = match &me {
            Some(c) => self.settings()?.policies.limits_for(c),
            None => crate::guard::role_default(Role::Admin),
        };
        if ask.format == ExportFormat::Vcard && kind.name != record::CONTACTS.name {
            return Err(CoreError::invalid("format", "vCard exports are for contacts; use csv or xlsx"));
        }
        let limit = ask.limit.unwrap_or(i64::from(EXPORT_MAX));
        if !(1..=i64::from(EXPORT_MAX)).contains(&limit) {
            return Err(CoreError::invalid("limit", format!("must be between 1 and {EXPORT_MAX} rows")));
        }
        let all = export_columns(kind);
        let columns: Vec<String> = match &ask.columns {
            Some(asked) => {
                let unknown: Vec<&String> = asked.iter().filter(|c| !all.contains(&c.as_str())).collect();
                if !unknown.is_empty() {
                    return Err(CoreError::invalid(
                        "columns",
                        format!(
                            "{} has no column {}; use some of {}",
                            kind.plural,
                            unknown.iter().map(|c| format!("'{c}'")).collect::<Vec<_>>().join(", "),
                            all.join(", ")
                        ),
                    ));
                }
                let denied: Vec<&String> = asked.iter().filter(|c| limits.denied_columns.contains(c)).collect();
                if !denied.is_empty() {
                    return Err(refused(format!(
                        "your role may not export {}; leave them out, or ask an admin",
                        denied.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", ")
                    )));
                }
                asked.clone()
            }
            None => {
                all.iter().filter(|c| !limits.denied_columns.iter().any(|d| d == *c)).map(|c| c.to_string()).collect()
            }
        };
        if columns.is_empty() {
            return Err(CoreError::invalid("columns", "name at least one column"));
        }
        let reason = ask.reason.as_deref().map(str::trim).filter(|r| !r.is_empty()).map(String::from);
        if let Err(CoreError::Forbidden(why)) =
            self.check_export_allowed(actor).and_then(|()| self.check_notice_acknowledged(actor))
        {
            return Err(refused(why));
        }
        let query = stored_query(&ask.list, ask.ids.as_deref());
        // How many rows it would carry (nothing is handed out here).
        let matched = self.db.read(|tx| {
            let n = self.matching(tx, actor, kind, &query, limit)?;
            Ok(i64::try_from(n).unwrap_or(i64::MAX))
        })?;
        // From here to the stored request the co-worker's reads take turns, and ready exports not
        // yet downloaded count as read: requests sent together cannot all pass a budget.
        let _turn = self.read_turn(actor, Reach::Many)?;
        let now = self.now();
        let read = match me.as_ref() {
            Some(c) if c.role != Role::Admin => {
                let mut read = self.db.read(|tx| self.rows_read_for_budget(tx, c.id))?;
                let waiting =
                    self.db.read(|tx| Ok(tx.list_exports(Some(&[c.id]), Some(ExportStatus::Ready), 1_000)?))?;
                let reserved: i64 =
                    waiting.iter().filter(|e| e.status_at(now) == ExportStatus::Ready).map(|e| e.matched).sum();
                read.day = read.day.saturating_add(reserved);
                read.week = read.week.saturating_add(reserved);
                read
            }
            _ => Default::default(),
        };
        let over = if matched > limits.export_rows {
            Some(format!("{matched} rows is more than the {} one export may carry", limits.export_rows))
        } else if read.day.saturating_add(matched) > limits.daily_rows {
            Some(format!(
                "with {matched} more rows you would have read {} in 24 hours; your budget is {}",
                read.day + matched,
                limits.daily_rows
            ))
        } else if read.week.saturating_add(matched) > limits.weekly_rows {
            Some(format!(
                "with {matched} more rows you would have read {} in 7 days; your budget is {}",
                read.week + matched,
                limits.weekly_rows
            ))
        } else {
            None
        };
        let mut export = ExportRequest {
            id: Uuid::now_v7(),
            coworker_id: me.as_ref().map(|c| c.id).unwrap_or_default(),
            kind: kind.plural.to_string(),
            query,
            row_limit: limit,
            matched,
            columns,
            format: ask.format,
            reason,
            over_limit: over.clone(),
            status: ExportStatus::Ready,
            created_at: now,
            decided_by: None,
            decided_at: None,
            decision_reason: None,
            expires_at: Some(now + DOWNLOAD_WINDOW),
            downloaded_at: None,
            rows: None,
            sha256: None,
        };
        let Some(me) = me else {
            // The operator: nothing to store against a co-worker; ready at once.
            return Ok(export);
        };
        let action_taken = over.as_ref().map(|_| limits.over_limit);
        if action_taken == Some(OverLimit::Refuse) {
            let why = format!(
                "{}. Narrow the export, or ask your manager or an admin to raise your limit",
                over.clone().unwrap_or_default()
            );
            self.raise_export_alert(&me, &export, "export_over_limit", &why, Severity::Medium)?;
            return Err(refused(why));
        }
        if action_taken == Some(OverLimit::Approval) {
            export.status = ExportStatus::Pending;
            export.expires_at = None;
        }
        self.db.write(|tx| {
            tx.insert_export(&export)?;
            append_events(
                tx,
                vec![
                    NewEvent::by(actor, now, EXPORT_REQUEST)
                        .object("export", export.id)
                        .detail("kind", json!(kind.plural))
                        .detail("query", export.query.clone())
                        .detail("matched", json!(matched))
                        .detail("columns", json!(export.columns))
                        .detail("format", json!(export.format))
                        .detail("status", json!(export.status))
                        .detail("over_limit", json!(over))
                        .detail("reason", json!(export.reason)),
                ],
            )?;
            Ok(())
        })?;
        if let Some(why) = over {
            let (kind_name, severity) = match export.status {
                ExportStatus::Pending => ("export_approval", Severity::Medium),
                _ => ("export_over_limit", Severity::Medium),
            };
            self.raise_export_alert(&me, &export, kind_name, &why, severity)?;
        }
        Ok(export)
    }

    fn raise_export_alert(
        &self,
        me: &crate::coworker::CoWorker,
        export: &ExportRequest,
        kind: &'static str,
        why: &str,
        severity: Severity,
    ) -> Result<(), CoreError> {
        let waiting = if export.status == ExportStatus::Pending { " (waiting for approval)" } else { "" };
        self.raise_alert(NewAlert {
            coworker_id: me.id,
            kind,
            severity,
            summary: format!("{} asked to export {} {}{waiting}: {why}", me.email, export.matched, export.kind),
            details: json!({
                "export_id": export.id, "matched": export.matched, "columns": export.columns,
                "query": export.query, "status": export.status, "reason": export.reason,
            }),
            event_ids: self.evidence(me.id, self.now() - 60_000_000, self.now() + 1, false)?,
            dedupe_key: format!("{kind}:{}", export.id),
            recipient_ids: Vec::new(),
        })?;
        Ok(())
    }

    fn record_export_refusal(&self, actor: &Actor, kind: &RecordKind, why: &str) -> Result<(), CoreError> {
        if actor.id().is_none() {
            return Ok(());
        }
        self.db.write(|tx| {
            append_events(
                tx,
                vec![
                    NewEvent::by(actor, self.now(), EXPORT_REFUSED)
                        .object_type(kind.name)
                        .detail("asked", json!(format!("export {}", kind.plural)))
                        .detail("reason", json!(why)),
                ],
            )?;
            Ok(())
        })
    }

    /// Rows of `kind` the stored query matches for `actor`, counting at most `limit`.
    fn matching(
        &self,
        tx: &mut dyn Tx,
        actor: &Actor,
        kind: &'static RecordKind,
        query: &Json,
        limit: i64,
    ) -> Result<usize, CoreError> {
        if query["ids"].is_array() {
            // Picked records (at most a bulk pick): each is checked against the read policy.
            let mut n = 0usize;
            self.each_record(tx, actor, kind, query, limit, &mut |_| {
                n += 1;
                Ok(())
            })?;
            return Ok(n);
        }
        let q = self.build_query(tx, actor, kind, &list_of(query))?;
        Ok(usize::try_from(tx.count_matching(kind, &q, limit)?).unwrap_or(0))
    }

    /// Calls `f` on each record the stored query matches for `actor` (the read policy applies),
    /// at most `limit`, reading [`CHUNK`] rows at a time.
    fn each_record(
        &self,
        tx: &mut dyn Tx,
        actor: &Actor,
        kind: &'static RecordKind,
        query: &Json,
        limit: i64,
        f: &mut dyn FnMut(&Record) -> Result<(), CoreError>,
    ) -> Result<(), CoreError> {
        let limit = usize::try_from(limit).unwrap_or(0);
        if let Some(ids) = query["ids"].as_array() {
            let policy = self.read_policy(tx)?;
            for id in ids.iter().filter_map(|i| i.as_str()).filter_map(|i| Uuid::parse_str(i).ok()).take(limit) {
                let rec = self.load_live(tx, kind, id)?;
                if !self.may_open(tx, actor, policy, kind, &rec)? {
                    return Err(CoreError::forbidden(format!(
                        "the read policy does not let {} open {} {id}",
                        actor.describe(),
                        kind.name
                    )));
                }
                f(&rec)?;
            }
            return Ok(());
        }
        let list = list_of(query);
        let mut q = self.build_query(tx, actor, kind, &list)?;
        q.offset = 0;
        let mut done = 0usize;
        loop {
            q.limit = CHUNK.min(u32::try_from(limit - done).unwrap_or(CHUNK));
            if q.limit == 0 {
                return Ok(());
            }
            let page = tx.list_records(kind, &q)?;
            let more = page.len() > q.limit as usize;
            for rec in page.iter().take(q.limit as usize) {
                f(rec)?;
                done += 1;
            }
            match page.get(q.limit as usize - 1) {
                Some(last) if more => q.after = Some((sort_value(kind, last, q.sort), last.id)),
                _ => return Ok(()),
            }
        }
    }

    /// A CSV export straight from the database: one query of only the exported columns, each
    /// row's cells borrowed from it and written as the record path writes them (the same text,
    /// formula cells neutralized), in constant memory.
    fn stream_csv(
        &self,
        tx: &mut dyn Tx,
        actor: &Actor,
        kind: &'static RecordKind,
        e: &ExportRequest,
        file: File,
        trail: &mut super::leak_tracing::ExportTrail,
    ) -> Result<Written, CoreError> {
        let mut q = self.build_query(tx, actor, kind, &list_of(&e.query))?;
        (q.offset, q.after) = (0, None);
        q.limit = u32::try_from(e.row_limit.max(0)).unwrap_or(u32::MAX);
        let names: Vec<&str> = e.columns.iter().map(String::as_str).collect();
        let fields: Vec<Option<&record::Field>> = names.iter().map(|c| kind.field(c)).collect();
        let mut w = csv::Writer::from_writer(BufWriter::with_capacity(1 << 16, Hashed::new(file)));
        w.write_record(&e.columns).map_err(csv_error)?;
        let mut rows = 0i64;
        let failed = |e: csv::Error| StorageError::Other(format!("writing the CSV file: {e}"));
        tx.each_row(kind, &q, &names, &mut |cells| {
            let mut texts: Vec<Cow<'_, str>> = Vec::with_capacity(cells.len());
            for (cell, field) in cells.iter().zip(&fields) {
                let text: Cow<'_, str> = match (*cell, field.map(|f| (f, f.ty))) {
                    (Cell::Null, _) => Cow::Borrowed(""),
                    (Cell::Text(s), _) if starts_formula(s) => Cow::Owned(neutralized(s)),
                    (Cell::Text(s), _) => Cow::Borrowed(s),
                    (Cell::Int(n), Some((f, FieldType::Money | FieldType::Timestamp))) => {
                        Cow::Owned(text_of(&record::value_to_json(f, &Value::Int(n))))
                    }
                    (Cell::Int(n), Some(_)) => Cow::Owned(n.to_string()),
                    // created_at, updated_at
                    (Cell::Int(n), None) => Cow::Owned(format_timestamp(n)),
                };
                w.write_field(text.as_bytes()).map_err(failed)?;
                texts.push(text);
            }
            w.write_record(None::<&[u8]>).map_err(failed)?;
            rows += 1;
            for canary in trail.row(&texts) {
                for (name, real) in names.iter().zip(&texts) {
                    // Written as a real cell is (a phone's leading + neutralized the same way).
                    let shown = canary.cell(name).map(|v| if starts_formula(&v) { neutralized(&v) } else { v });
                    w.write_field(shown.as_deref().unwrap_or(real).as_bytes()).map_err(failed)?;
                }
                w.write_record(None::<&[u8]>).map_err(failed)?;
            }
            Ok(())
        })?;
        let inner = w.into_inner().map_err(|e| io(e.into_error()))?;
        let (file, hashed) = inner.into_inner().map_err(|e| io(e.into_error()))?.finish();
        Ok((file, rows, hashed))
    }

    /// One export, for whoever may see it: the requester, an admin, or the requester's manager.
    pub fn export_request(&self, actor: &Actor, id: Uuid) -> Result<ExportRequest, CoreError> {
        let e = self.db.read(|tx| Ok(tx.get_export(id)?))?.ok_or_else(|| CoreError::not_found("export", id))?;
        if actor.id() == Some(e.coworker_id) || actor.is_admin() || actor.manages.contains(&e.coworker_id) {
            Ok(e)
        } else {
            Err(CoreError::not_found("export", id))
        }
    }

    /// Exports newest first, as `which` says.
    pub fn exports(&self, actor: &Actor, which: ExportList, limit: u32) -> Result<Vec<ExportRequest>, CoreError> {
        let limit = limit.clamp(1, 1_000);
        let me = actor.id();
        self.db.read(|tx| match which {
            ExportList::Mine => Ok(tx.list_exports(Some(&[me.unwrap_or_default()]), None, limit)?),
            ExportList::ToApprove => {
                let scope = if actor.is_admin() { None } else { Some(actor.manages.clone()) };
                let mut pending = tx.list_exports(scope.as_deref(), Some(ExportStatus::Pending), limit)?;
                pending.retain(|e| Some(e.coworker_id) != me);
                Ok(pending)
            }
            ExportList::Visible => {
                let scope = if actor.is_admin() {
                    None
                } else {
                    let mut s = actor.manages.clone();
                    s.extend(me);
                    Some(s)
                };
                Ok(tx.list_exports(scope.as_deref(), None, limit)?)
            }
        })
    }

    /// Approves a pending export (an admin, or a manager of the requester; never the requester):
    /// it can then be downloaded, once, within 24 hours.
    pub fn approve_export(&self, actor: &Actor, id: Uuid, reason: Option<&str>) -> Result<ExportRequest, CoreError> {
        self.decide_export(actor, id, true, reason)
    }

    /// Denies a pending export, saying why.
    pub fn deny_export(&self, actor: &Actor, id: Uuid, reason: &str) -> Result<ExportRequest, CoreError> {
        if reason.trim().is_empty() {
            return Err(CoreError::invalid("reason", "say why the export is denied; the requester is told"));
        }
        self.decide_export(actor, id, false, Some(reason))
    }

    fn decide_export(
        &self,
        actor: &Actor,
        id: Uuid,
        approve: bool,
        reason: Option<&str>,
    ) -> Result<ExportRequest, CoreError> {
        let verb = if approve { "approve" } else { "deny" };
        self.noting_refusals(
            actor,
            || format!("{verb} export {id}"),
            || {
                let reason = reason.map(str::trim).filter(|r| !r.is_empty()).map(String::from);
                if reason.as_ref().is_some_and(|r| r.chars().count() > 2_000) {
                    return Err(CoreError::invalid("reason", "keep it under 2,000 characters"));
                }
                let now = self.now();
                self.db.write(|tx| {
                    let mut e = tx.get_export(id)?.ok_or_else(|| CoreError::not_found("export", id))?;
                    if Some(e.coworker_id) == actor.id() {
                        return Err(CoreError::forbidden("an export cannot be approved or denied by who asked for it"));
                    }
                    if !(actor.is_admin() || actor.manages.contains(&e.coworker_id)) {
                        return Err(CoreError::forbidden(
                            "exports are approved by an admin or by the requester's manager",
                        ));
                    }
                    if e.status != ExportStatus::Pending {
                        return Err(CoreError::Conflict(format!(
                            "the export is {}; only a pending export can be approved or denied",
                            e.status_at(now).as_str()
                        )));
                    }
                    e.status = if approve { ExportStatus::Ready } else { ExportStatus::Denied };
                    e.decided_by = actor.id();
                    e.decided_at = Some(now);
                    e.decision_reason = reason.clone();
                    e.expires_at = approve.then_some(now + DOWNLOAD_WINDOW);
                    tx.update_export(&e)?;
                    append_events(
                        tx,
                        vec![
                            NewEvent::by(actor, now, if approve { EXPORT_APPROVE } else { EXPORT_DENY })
                                .object("export", e.id)
                                .detail("requested_by", json!(e.coworker_id))
                                .detail("matched", json!(e.matched))
                                .detail("reason", json!(reason)),
                        ],
                    )?;
                    Ok(e)
                })
            },
        )
    }

    /// Downloads a ready export, once: its rows are read now, written to a private temporary
    /// file, hashed, and recorded as `export.create` before the file is handed back.
    pub fn download_export(&self, actor: &Actor, id: Uuid) -> Result<ExportFile, CoreError> {
        let e = self.export_request(actor, id)?;
        let kind = RecordKind::by_plural(&e.kind).ok_or_else(|| CoreError::not_found("export", id))?;
        self.noting_refusals(
            actor,
            || format!("download export {id}"),
            || {
                if actor.id() != Some(e.coworker_id) {
                    return Err(CoreError::forbidden("only who asked for an export may download it"));
                }
                self.check_notice_acknowledged(actor)?;
                let now = self.now();
                let claimed = self.db.write(|tx| Ok(tx.claim_export_download(id, now)?))?;
                if !claimed {
                    return Err(CoreError::Conflict(format!(
                        "the export is {}; an export downloads once, within 24 hours of being ready",
                        e.status_at(now).as_str()
                    )));
                }
                match self.write_export(actor, kind, &e) {
                    Ok(file) => Ok(file),
                    Err(err) => {
                        // Nothing went out: give the download back.
                        let mut back = e.clone();
                        back.status = ExportStatus::Ready;
                        back.downloaded_at = None;
                        self.db.write(|tx| Ok(tx.update_export(&back)?))?;
                        Err(err)
                    }
                }
            },
        )
    }

    fn write_export(
        &self,
        actor: &Actor,
        kind: &'static RecordKind,
        e: &ExportRequest,
    ) -> Result<ExportFile, CoreError> {
        let _turn = self.read_turn(actor, Reach::Many)?;
        let file = tempfile::tempfile().map_err(io)?;
        // Its canaries are reserved, and its rows marked as they are written.
        let mut trail = self.start_trail(kind, e)?;
        let (mut file, rows, hashed) = self.db.read(|tx| {
            if e.format == ExportFormat::Csv && e.query.get("ids").is_none() && streams(kind, &e.columns) {
                return self.stream_csv(tx, actor, kind, e, file, &mut trail);
            }
            let mut out = FileWriter::new(e.format, kind, &e.columns, file)?;
            self.each_record(tx, actor, kind, &e.query, e.row_limit, &mut |r| {
                out.write(r)?;
                let texts: Vec<Cow<'_, str>> = e.columns.iter().map(|c| csv_cell(r, kind, c)).collect();
                for c in trail.row(&texts) {
                    out.write(&canary_record(r, kind, c))?;
                }
                Ok(())
            })?;
            // The writer counted the canaries too; the export's rows are the real ones.
            out.finish().map(|(file, n, hashed)| (file, n - trail.placed(), hashed))
        })?;
        let (fingerprint, marks, canaries) = self.fingerprint_of(actor, e, trail, rows)?;
        file.flush().map_err(io)?;
        let (sha256, bytes) = match hashed {
            Some(taken) => taken,
            None => hash_file(&mut file)?,
        };
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        let now = self.now();
        let mut done = e.clone();
        done.status = ExportStatus::Downloaded;
        done.downloaded_at = Some(now);
        done.rows = Some(rows);
        done.sha256 = Some(sha256.clone());
        let mut event = NewEvent::by(actor, now, action::EXPORT_CREATE)
            .object_type(kind.name)
            .rows(usize::try_from(rows).unwrap_or(usize::MAX))
            .detail("export_id", json!(e.id))
            .detail("format", json!(e.format))
            .detail("columns", json!(e.columns))
            .detail("query", e.query.clone())
            .detail("sha256", json!(sha256))
            .detail("bytes", json!(bytes));
        if let Some(by) = e.decided_by {
            event = event.detail("approved_by", json!(by));
        }
        let list = list_of(&e.query);
        if let Some(q) = &list.q {
            event = event.detail("q", json!(q));
        }
        if !list.filters.is_empty() || list.owner.is_some() {
            event = event.detail("filters", super::records::filters_detail(&list));
        }
        let event_id = self.db.write(|tx| {
            tx.update_export(&done)?;
            tx.insert_fingerprint(&fingerprint, &marks)?;
            for c in &canaries {
                tx.insert_canary(c)?;
            }
            Ok(super::append_events_with_ids(tx, vec![event])?.first().copied())
        })?;
        self.meter_read(actor, usize::try_from(rows).unwrap_or(usize::MAX));
        if let (Some(me), Some(event_id)) = (actor.coworker.as_ref(), event_id) {
            self.check_export_signals(actor, me, e.id, &e.columns, rows, event_id)?;
        }
        let file_name = format!("{}-{}.{}", kind.plural, &format_timestamp(now)[..10], e.format.extension());
        Ok(ExportFile { export_id: e.id, file_name, content_type: e.format.content_type(), rows, bytes, sha256, file })
    }

    /// Asks for an export and, when it is ready at once, downloads it (`holdfast export`, the
    /// list pages' Export button and `GET /api/v1/{kind}/export`). A pending export comes back
    /// as `Err(export)`, to be downloaded once approved.
    pub fn export_now(&self, actor: &Actor, ask: &ExportAsk) -> Result<Result<ExportFile, ExportRequest>, CoreError> {
        let e = self.request_export(actor, ask)?;
        if e.status != ExportStatus::Ready {
            return Ok(Err(e));
        }
        if actor.id().is_none() {
            // The operator: no stored request; write and record the file directly.
            return self.write_export(actor, ask.kind, &e).map(Ok);
        }
        self.download_export(actor, e.id).map(Ok)
    }
}

/// A list request as an export keeps it: the parts that pick rows, not the paging.
fn stored_query(list: &ListRequest, ids: Option<&[Uuid]>) -> Json {
    if let Some(ids) = ids {
        return json!({"ids": ids});
    }
    let mut q = serde_json::Map::new();
    if let Some(s) = list.q.as_deref().filter(|s| !s.trim().is_empty()) {
        q.insert("q".into(), json!(s));
    }
    if let Some(o) = &list.owner {
        q.insert("owner".into(), json!(o));
    }
    if !list.filters.is_empty() {
        q.insert("filters".into(), json!(list.filters));
    }
    if let Some(s) = &list.sort {
        q.insert("sort".into(), json!(s));
    }
    if list.deleted {
        q.insert("deleted".into(), json!(true));
    }
    Json::Object(q)
}

fn list_of(query: &Json) -> ListRequest {
    let text = |k: &str| query[k].as_str().map(String::from);
    ListRequest {
        q: text("q"),
        owner: text("owner"),
        filters: query["filters"]
            .as_array()
            .map(|fs| {
                fs.iter()
                    .filter_map(|f| Some((f.get(0)?.as_str()?.to_string(), f.get(1)?.as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default(),
        sort: text("sort"),
        deleted: query["deleted"].as_bool().unwrap_or(false),
        ..Default::default()
    }
}

/// A canary dressed as the real row it follows: its own id, name, email and phone; the rest of the
/// row (account, owner, title, dates) is its neighbour's, so it reads like one of them.
fn canary_record(real: &Record, kind: &RecordKind, canary: &crate::leak::CanaryPerson) -> Record {
    let mut rec = real.clone();
    rec.id = canary.record_id;
    rec.created_at = canary.created_at;
    rec.updated_at = canary.updated_at;
    for f in kind.fields {
        if let Some(v) = canary.cell(f.name) {
            rec.fields.insert(f.name, if v.is_empty() { Value::Null } else { Value::Text(v) });
        }
    }
    rec
}

/// A cell's text as the API shows the value.
fn cell(rec: &Record, kind: &RecordKind, column: &str) -> Json {
    match column {
        "id" => json!(rec.id),
        "created_at" => json!(format_timestamp(rec.created_at)),
        "updated_at" => json!(format_timestamp(rec.updated_at)),
        name => match kind.field(name) {
            Some(f) => rec.value_json(f),
            None => Json::Null,
        },
    }
}

/// A cell's CSV text, as the API shows the value (a formula-looking text neutralized), without
/// going through JSON: text is borrowed from the record.
fn csv_cell<'r>(rec: &'r Record, kind: &RecordKind, column: &str) -> Cow<'r, str> {
    let text = |s: &'r str| if starts_formula(s) { Cow::Owned(neutralized(s)) } else { Cow::Borrowed(s) };
    match column {
        "id" => Cow::Owned(rec.id.to_string()),
        "created_at" => Cow::Owned(format_timestamp(rec.created_at)),
        "updated_at" => Cow::Owned(format_timestamp(rec.updated_at)),
        name => match kind.field(name) {
            Some(f) => match (f.ty, rec.get(name)) {
                (FieldType::RefList(_), _) => Cow::Owned(text_of(&rec.value_json(f))),
                (FieldType::Money | FieldType::Timestamp, Value::Int(_)) => Cow::Owned(text_of(&rec.value_json(f))),
                (_, Value::Text(s)) => text(s),
                (_, Value::Int(i)) => Cow::Owned(i.to_string()),
                (_, Value::Null) => Cow::Borrowed(""),
            },
            None => Cow::Borrowed(""),
        },
    }
}

fn text_of(v: &Json) -> String {
    match v {
        Json::Null => String::new(),
        Json::String(s) => s.clone(),
        Json::Array(items) => items.iter().filter_map(Json::as_str).collect::<Vec<_>>().join(" "),
        other => other.to_string(),
    }
}

/// A file being written and hashed on the way (SHA-256 and length), so it need not be read back.
struct Hashed {
    file: File,
    hasher: Sha256,
    bytes: u64,
}

impl Hashed {
    fn new(file: File) -> Hashed {
        Hashed { file, hasher: Sha256::new(), bytes: 0 }
    }
    fn finish(self) -> (File, Option<(String, u64)>) {
        (self.file, Some((hex::encode(self.hasher.finalize()), self.bytes)))
    }
}

impl Write for Hashed {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// A written export file, its rows, and its SHA-256 and length when they were taken on the way.
type Written = (File, i64, Option<(String, u64)>);

/// Whether an export's columns can be read straight from the kind's table (every column but
/// lists of links, which live in their own table).
fn streams(kind: &RecordKind, columns: &[String]) -> bool {
    columns.iter().all(|c| kind.field(c).is_none_or(|f| !matches!(f.ty, FieldType::RefList(_))))
}

/// Writes rows in one format to a file.
enum FileWriter<'a> {
    Csv(Box<csv::Writer<BufWriter<Hashed>>>, &'a RecordKind, &'a [String], i64),
    Xlsx(Box<rust_xlsxwriter::Workbook>, File, &'a RecordKind, &'a [String], u32),
    Vcard(BufWriter<Hashed>, &'a RecordKind, &'a [String], i64),
}

fn xlsx_error(e: rust_xlsxwriter::XlsxError) -> CoreError {
    CoreError::Storage(StorageError::Other(format!("writing the XLSX file: {e}")))
}

fn csv_error(e: csv::Error) -> CoreError {
    CoreError::Storage(StorageError::Other(format!("writing the CSV file: {e}")))
}

impl<'a> FileWriter<'a> {
    fn new(format: ExportFormat, kind: &'a RecordKind, columns: &'a [String], file: File) -> Result<Self, CoreError> {
        Ok(match format {
            ExportFormat::Csv => {
                let mut w = csv::Writer::from_writer(BufWriter::new(Hashed::new(file)));
                w.write_record(columns).map_err(csv_error)?;
                FileWriter::Csv(Box::new(w), kind, columns, 0)
            }
            ExportFormat::Xlsx => {
                let mut wb = rust_xlsxwriter::Workbook::new();
                let sheet = wb.add_worksheet_with_constant_memory().map_err(xlsx_error)?;
                sheet.set_name(kind.plural).map_err(xlsx_error)?;
                let bold = rust_xlsxwriter::Format::new().set_bold();
                for (i, c) in columns.iter().enumerate() {
                    sheet.write_string_with_format(0, col(i), c, &bold).map_err(xlsx_error)?;
                }
                FileWriter::Xlsx(Box::new(wb), file, kind, columns, 0)
            }
            ExportFormat::Vcard => FileWriter::Vcard(BufWriter::new(Hashed::new(file)), kind, columns, 0),
        })
    }

    fn write(&mut self, rec: &Record) -> Result<(), CoreError> {
        match self {
            FileWriter::Csv(w, kind, columns, n) => {
                for c in columns.iter() {
                    w.write_field(csv_cell(rec, kind, c).as_bytes()).map_err(csv_error)?;
                }
                w.write_record(None::<&[u8]>).map_err(csv_error)?;
                *n += 1;
            }
            FileWriter::Xlsx(wb, _, kind, columns, n) => {
                *n += 1;
                let row = *n;
                let sheet = wb.worksheet_from_index(0).map_err(xlsx_error)?;
                // A cell that starts like a formula is written as text with Excel's quote
                // prefix: shown as typed, never run.
                let as_text = rust_xlsxwriter::Format::new().set_quote_prefix();
                for (i, c) in columns.iter().enumerate() {
                    match cell(rec, kind, c) {
                        Json::Null => {}
                        Json::Number(x) => {
                            sheet.write_number(row, col(i), x.as_f64().unwrap_or(0.0)).map_err(xlsx_error)?;
                        }
                        Json::String(s) if s.starts_with(super::bulk::FORMULA_STARTS) => {
                            sheet.write_string_with_format(row, col(i), &s, &as_text).map_err(xlsx_error)?;
                        }
                        other => {
                            sheet.write_string(row, col(i), text_of(&other)).map_err(xlsx_error)?;
                        }
                    }
                }
            }
            FileWriter::Vcard(w, kind, columns, n) => {
                w.write_all(vcard(rec, kind, columns).as_bytes()).map_err(io)?;
                *n += 1;
            }
        }
        Ok(())
    }

    fn finish(self) -> Result<Written, CoreError> {
        match self {
            FileWriter::Csv(w, _, _, n) => {
                let inner = w.into_inner().map_err(|e| io(e.into_error()))?;
                let (file, hashed) = inner.into_inner().map_err(|e| io(e.into_error()))?.finish();
                Ok((file, n, hashed))
            }
            // The workbook seeks back as it writes: hashed once written.
            FileWriter::Xlsx(mut wb, mut file, _, _, n) => {
                wb.save_to_writer(&mut file).map_err(xlsx_error)?;
                Ok((file, i64::from(n), None))
            }
            FileWriter::Vcard(w, _, _, n) => {
                let (file, hashed) = w.into_inner().map_err(|e| io(e.into_error()))?.finish();
                Ok((file, n, hashed))
            }
        }
    }
}

/// The SHA-256 and length of a written file, read back from its start.
pub(crate) fn hash_file(file: &mut File) -> Result<(String, u64), CoreError> {
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    let mut hasher = Sha256::new();
    let mut bytes = 0u64;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        bytes += n as u64;
    }
    Ok((hex::encode(hasher.finalize()), bytes))
}

fn col(i: usize) -> u16 {
    u16::try_from(i).unwrap_or(u16::MAX)
}

/// RFC 6350 text: backslash, comma, semicolon and newlines escaped.
fn vcard_text(s: &str) -> String {
    s.replace('\\', "\\\\").replace(',', "\\,").replace(';', "\\;").replace("\r\n", "\\n").replace('\n', "\\n")
}

/// A content line folded at 75 octets (RFC 6350 3.2), ending in CRLF.
fn folded(line: &str) -> String {
    let mut out = String::with_capacity(line.len() + 8);
    let mut width = 0;
    for ch in line.chars() {
        let w = ch.len_utf8();
        if width + w > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(ch);
        width += w;
    }
    out.push_str("\r\n");
    out
}

/// One contact as a vCard 4.0, with the columns the export carries.
fn vcard(rec: &Record, kind: &RecordKind, columns: &[String]) -> String {
    let has = |c: &str| columns.iter().any(|x| x == c);
    let text = |c: &str| if has(c) { text_of(&cell(rec, kind, c)) } else { String::new() };
    let (first, last) = (text("first_name"), text("last_name"));
    let full = format!("{first} {last}").trim().to_string();
    let mut out = String::from("BEGIN:VCARD\r\nVERSION:4.0\r\n");
    out.push_str(&folded(&format!("UID:urn:uuid:{}", rec.id)));
    out.push_str(&folded(&format!("FN:{}", vcard_text(if full.is_empty() { "(no name)" } else { &full }))));
    out.push_str(&folded(&format!("N:{};{};;;", vcard_text(&last), vcard_text(&first))));
    for (column, property) in [("email", "EMAIL"), ("phone", "TEL"), ("title", "TITLE"), ("buying_role", "ROLE")] {
        let v = text(column);
        if !v.is_empty() {
            out.push_str(&folded(&format!("{property}:{}", vcard_text(&v))));
        }
    }
    out.push_str(&folded(&format!("REV:{}", format_timestamp(rec.updated_at).replace(['-', ':'], ""))));
    out.push_str("END:VCARD\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vcard_lines_are_escaped_and_folded() {
        assert_eq!(vcard_text("a,b;c\\d\ne"), "a\\,b\\;c\\\\d\\ne");
        let long = format!("NOTE:{}", "é".repeat(60));
        let f = folded(&long);
        assert!(f.split("\r\n").all(|l| l.len() <= 75), "{f}");
        assert_eq!(f.replace("\r\n ", "").trim_end(), long);
    }
}
