//! A record's history: who changed which field, when, from what to what. Opening it is a read of
//! the record like any other (the read policy applies and the read is recorded).

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use holdfast_core::event::SystemEvent;
use holdfast_core::record::{self, RecordKind};
use uuid::Uuid;

use super::error::PageResult;
use super::session::PageUser;
use super::view::{Me, plain, render, short_time};
use crate::state::AppState;

/// One field one event changed.
struct FieldChange {
    field: String,
    from: String,
    to: String,
}

struct HistoryEntry {
    when: String,
    who: String,
    action: String,
    changes: Vec<FieldChange>,
}

#[derive(Template)]
#[template(path = "history.html")]
struct HistoryPage {
    me: Option<Me>,
    name: String,
    back: String,
    entries: Vec<HistoryEntry>,
}

fn entry(e: &SystemEvent, owners: &std::collections::HashMap<Uuid, String>) -> HistoryEntry {
    let who = e.event.coworker_id.and_then(|c| owners.get(&c).cloned()).unwrap_or_else(|| "the operator".into());
    // A co-worker's id (the owner, the account team) is shown as their name.
    let named = |field: &str, v: &serde_json::Value| -> String {
        let name = |id: &str| Uuid::parse_str(id).ok().and_then(|u| owners.get(&u).cloned());
        match v {
            serde_json::Value::String(id) if field == "owner_id" => name(id).unwrap_or_else(|| plain(v)),
            serde_json::Value::Array(ids) if field == "collaborator_ids" || field == "coworker_ids" => {
                ids.iter().map(|i| i.as_str().and_then(name).unwrap_or_else(|| plain(i))).collect::<Vec<_>>().join(", ")
            }
            _ => plain(v),
        }
    };
    let label = |field: &str| match field {
        "owner_id" => "owner".to_string(),
        other => other.replace('_', " "),
    };
    let mut changes = Vec::new();
    if let Some(serde_json::Value::Object(map)) = e.event.details.get("changes") {
        for (field, ch) in map {
            changes.push(FieldChange {
                field: label(field),
                from: named(field, &ch["from"]),
                to: named(field, &ch["to"]),
            });
        }
    } else if let Some(serde_json::Value::Object(map)) = e.event.details.get("fields") {
        for (field, v) in map {
            changes.push(FieldChange { field: label(field), from: String::new(), to: named(field, v) });
        }
    }
    if changes.is_empty() {
        changes.push(FieldChange { field: String::new(), from: String::new(), to: String::new() });
    }
    HistoryEntry {
        when: short_time(e.event.at),
        who,
        action: match e.event.action.as_str() {
            "coworker.handover" => "handover".to_string(),
            "bulk.update" => "bulk change".to_string(),
            "bulk.undo" => "undo of a bulk change".to_string(),
            "bulk.import" if e.event.details["merged"] == true => "import (a row matched it)".to_string(),
            "bulk.import" => "import".to_string(),
            other => other.trim_start_matches("record.").to_string(),
        },
        changes,
    }
}

async fn history(s: AppState, user: PageUser, kind: &'static RecordKind, id: String) -> PageResult {
    let id = user.id(&id, kind.name)?;
    let (history, owners) =
        user.call(&s, move |s, actor| Ok((s.record_history(actor, kind, id)?, s.coworker_names()?))).await?;
    let page = HistoryPage {
        me: user.me(),
        name: history.record.label(kind),
        back: format!("/{}/{id}", kind.plural),
        entries: history.events.iter().map(|e| entry(e, &owners)).collect(),
    };
    Ok(render(&page, StatusCode::OK))
}

pub async fn account_history(State(s): State<AppState>, user: PageUser, Path(id): Path<String>) -> PageResult {
    history(s, user, &record::ACCOUNTS, id).await
}

pub async fn contact_history(State(s): State<AppState>, user: PageUser, Path(id): Path<String>) -> PageResult {
    history(s, user, &record::CONTACTS, id).await
}
