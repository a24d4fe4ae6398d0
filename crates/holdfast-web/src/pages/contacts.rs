//! The contact page: who they are, the timeline with them, deals where they are the main
//! contact, open tasks about them, and logging a call with them in two clicks.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use holdfast_core::coworker::Actor;
use holdfast_core::record::{self, Record};
use holdfast_core::{CoreError, Holdfast};
use holdfast_store::Store;
use uuid::Uuid;

use super::accounts::{ActivityRow, DealRow, activity_row, deal_row, log};
use super::error::PageResult;
use super::home::list;
use super::session::{PageUser, SignedForm};
use super::view::{Choice, Fact, Me, RecordLink, render, show};
use crate::state::AppState;

struct TaskRow {
    id: Uuid,
    title: String,
    due_date: String,
}

#[derive(Template)]
#[template(path = "contact.html")]
struct ContactPage {
    me: Option<Me>,
    csrf: String,
    id: Uuid,
    name: String,
    account: Option<RecordLink>,
    facts: Vec<Fact>,
    activities: Vec<ActivityRow>,
    deals: Vec<DealRow>,
    tasks: Vec<TaskRow>,
    /// The last log form was sent empty.
    error: bool,
    log_action: String,
    log_with: Vec<Choice>,
}

/// Everything the contact page shows, read as the co-worker.
struct Contact {
    c: Record,
    account: Option<Record>,
    activities: Vec<Record>,
    deals: Vec<Record>,
    tasks: Vec<Record>,
    owners: HashMap<Uuid, String>,
}

fn load(s: &Holdfast<Store>, actor: &Actor, id: Uuid) -> Result<Contact, CoreError> {
    let c = s.get_record(actor, &record::CONTACTS, id)?;
    let account = match c.get_ref("account_id") {
        Some(a) => Some(s.get_record(actor, &record::ACCOUNTS, a)?),
        None => None,
    };
    let with = [("contact_ids", id.to_string())];
    let main = [("primary_contact_id", id.to_string())];
    let open = [("contact_id", id.to_string()), ("status", "open".to_string())];
    Ok(Contact {
        c,
        account,
        activities: list(s, actor, &record::ACTIVITIES, &with, "-occurred_at", 50)?,
        deals: list(s, actor, &record::DEALS, &main, "close_date", 20)?,
        tasks: list(s, actor, &record::TASKS, &open, "due_date", 20)?,
        owners: s.coworker_names()?,
    })
}

impl Contact {
    fn facts(&self) -> Vec<Fact> {
        let k = &record::CONTACTS;
        let mut facts: Vec<Fact> =
            [("Title", "title"), ("Buying role", "buying_role"), ("Email", "email"), ("Phone", "phone")]
                .iter()
                .map(|(label, f)| Fact { label, value: show(k, &self.c, f) })
                .collect();
        let owner = self.c.owner(k).and_then(|o| self.owners.get(&o).cloned()).unwrap_or_default();
        facts.push(Fact { label: "Owner", value: owner });
        facts.push(Fact { label: "Notes", value: show(k, &self.c, "notes") });
        facts
    }
}

pub async fn contact(
    State(s): State<AppState>,
    user: PageUser,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> PageResult {
    let id = user.id(&id, "contact")?;
    let c = user.call(&s, move |s, actor| load(s, actor, id)).await?;
    let tk = &record::TASKS;
    let page = ContactPage {
        me: user.me(),
        csrf: user.csrf(),
        id: c.c.id,
        name: c.c.label(&record::CONTACTS),
        account: c.account.as_ref().map(|a| RecordLink { id: a.id.to_string(), name: a.label(&record::ACCOUNTS) }),
        facts: c.facts(),
        activities: c.activities.iter().map(|a| activity_row(a, &c.owners)).collect(),
        deals: c.deals.iter().map(deal_row).collect(),
        tasks: c
            .tasks
            .iter()
            .map(|t| TaskRow { id: t.id, title: show(tk, t, "title"), due_date: show(tk, t, "due_date") })
            .collect(),
        error: q.contains_key("error"),
        log_action: format!("/contacts/{}/activities", c.c.id),
        log_with: Vec::new(),
    };
    Ok(render(&page, StatusCode::OK))
}

/// Logs a call (email, meeting, note) with this contact, on their account, from the contact page.
pub async fn log_contact_activity(State(s): State<AppState>, Path(id): Path<String>, form: SignedForm) -> PageResult {
    let contact = form.user.id(&id, "contact")?;
    let c = form.user.call(&s, move |s, actor| s.get_record(actor, &record::CONTACTS, contact)).await?;
    log(&s, &form, c.get_ref("account_id"), vec![contact.to_string()], format!("/contacts/{contact}")).await
}
