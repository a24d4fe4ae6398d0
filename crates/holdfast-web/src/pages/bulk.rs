//! What the bulk bar of a list does: hand the picked records to a co-worker (with an undo),
//! export them or the whole filtered list as CSV (recorded as an export), or restore deleted
//! ones. Each is one service call, so each is one system event like its API twin.

use axum::extract::{Path, State};
use axum::response::Response;
use std::collections::HashMap;

use holdfast_core::guard::{ExportFormat, ExportRequest};
use holdfast_core::record::RecordKind;
use holdfast_core::service::{ExportAsk, ExportFile, ListRequest};
use uuid::Uuid;

use super::error::PageResult;
use super::lists::{kind_of, list_params};
use super::session::SignedForm;
use super::view::{encode, go, safe_next};
use crate::query::list_request;
use crate::state::AppState;

/// The file when the export is within the co-worker's limits; otherwise its page, where it
/// waits for approval.
fn download_or_wait(outcome: Result<ExportFile, ExportRequest>) -> Response {
    match outcome {
        Ok(file) => crate::guard_api::file_response(file),
        Err(_waiting) => go("/exports"),
    }
}

fn csv_of(kind: &'static RecordKind, list: ListRequest, ids: Option<Vec<Uuid>>) -> ExportAsk {
    ExportAsk { kind, list, ids, limit: None, format: ExportFormat::Csv, columns: None, reason: None }
}

/// The bulk bar: hand the picked records to a co-worker, or export them.
pub(crate) async fn bulk(s: AppState, plural: &'static str, form: SignedForm) -> PageResult {
    let user = &form.user;
    let kind = kind_of(plural, user)?;
    let ids = form.values("ids").map(|id| user.id(id, kind.name)).collect::<Result<Vec<Uuid>, _>>()?;
    match form.get("action") {
        Some("export") => {
            let ask = csv_of(kind, ListRequest::default(), Some(ids));
            Ok(download_or_wait(user.call(&s, move |s, actor| s.export_now(actor, &ask)).await?))
        }
        Some("assign") => {
            let owner = form.text("new_owner");
            let to = encode(&owner);
            let done = user.call(&s, move |s, actor| s.bulk_assign(actor, kind, &ids, &owner)).await?;
            let (op, n, skipped, along) = (done.operation, done.changed, done.skipped, done.along);
            Ok(go(&format!("/{plural}?handed={op}&n={n}&skipped={skipped}&along={along}&to={to}")))
        }
        Some("restore") => {
            let done = user.call(&s, move |s, actor| s.restore_records(actor, kind, &ids)).await?;
            Ok(go(&format!("/{plural}?deleted=true&restored=1&n={}", done.len())))
        }
        _ => Err(user
            .fail(crate::ApiError::field("action", "choose what to do with the picked records: hand over or export"))),
    }
}

/// "Export all matching": the list's search and filters, every page.
pub(crate) async fn export_matching(s: AppState, plural: &'static str, form: SignedForm) -> PageResult {
    let kind = kind_of(plural, &form.user)?;
    let mut req = list_request(list_params(form.pairs())).map_err(|e| form.user.fail(e))?;
    req.cursor = None;
    let ask = csv_of(kind, req, None);
    Ok(download_or_wait(form.user.call(&s, move |s, actor| s.export_now(actor, &ask)).await?))
}

pub(crate) async fn undo(State(s): State<AppState>, Path(id): Path<String>, form: SignedForm) -> PageResult {
    let operation = form.user.id(&id, "bulk change")?;
    let back = safe_next(form.get("back").unwrap_or("/")).to_string();
    let done = form.user.call(&s, move |s, actor| s.undo_bulk(actor, operation)).await?;
    let sep = if back.contains('?') { '&' } else { '?' };
    Ok(go(&format!("{back}{sep}undone=1&n={}&skipped={}", done.changed, done.skipped)))
}

/// A line above the list saying what a bulk change just did, with its undo.
pub struct Notice {
    pub(crate) text: String,
    pub(crate) undo: Option<String>,
}

/// What the last bulk change on this list did, from the redirect's parameters.
pub(crate) fn notice(q: &[(String, String)], kind: &RecordKind, names: &HashMap<Uuid, String>) -> Option<Notice> {
    let get = |name: &str| q.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let n: usize = get("n").and_then(|n| n.parse().ok()).unwrap_or(0);
    let skipped: usize = get("skipped").and_then(|n| n.parse().ok()).unwrap_or(0);
    let records = |n: usize| if n == 1 { kind.name.to_string() } else { format!("{n} {}", kind.plural) };
    let also = if skipped > 0 {
        format!(" {} left as they were (already so, or changed by someone since).", records(skipped))
    } else {
        String::new()
    };
    if let Some(op) = get("handed").and_then(|o| Uuid::parse_str(o).ok()) {
        let to = get("to").and_then(|t| Uuid::parse_str(t).ok()).and_then(|t| names.get(&t).cloned());
        let along: usize = get("along").and_then(|n| n.parse().ok()).unwrap_or(0);
        let with = match along {
            0 => String::new(),
            1 => " with the one record under it (a contact, deal, contract or task) that was its owner's".into(),
            _ if n == 1 => {
                format!(" with the {along} contacts, deals, contracts and tasks under it that were its owner's")
            }
            _ => format!(" with the {along} contacts, deals, contracts and tasks under them that were their owners'"),
        };
        return Some(Notice {
            text: format!("Handed {} to {}{with}.{also}", records(n), to.unwrap_or_else(|| "the new owner".into())),
            undo: Some(op.to_string()),
        });
    }
    if let Some(label) = get("removed") {
        return Some(Notice {
            text: format!("Deleted “{label}”. An admin can bring it back from Deleted {}.", kind.plural),
            undo: None,
        });
    }
    if get("restored").is_some() {
        return Some(Notice { text: format!("Restored {}.", records(n)), undo: None });
    }
    // An undo counts every record it put back, whatever their kind.
    let any = |n: usize| if n == 1 { "1 record".to_string() } else { format!("{n} records") };
    let also = if skipped > 0 {
        format!(" {} left as they were (changed by someone since).", any(skipped))
    } else {
        String::new()
    };
    get("undone").map(|_| Notice { text: format!("Undone: put back {}.{also}", any(n)), undo: None })
}
