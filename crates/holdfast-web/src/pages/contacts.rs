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
    may_edit: bool,
    /// The contact's protocol when it asks for an approval.
    guarded: Option<String>,
}

/// Everything the contact page shows, read as the co-worker.
struct Contact {
    c: Record,
    account: Option<Record>,
    activities: Vec<Record>,
    deals: Vec<Record>,
    tasks: Vec<Record>,
    owners: HashMap<Uuid, String>,
    reports_to: Option<String>,
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
        account,
        activities: list(s, actor, &record::ACTIVITIES, &with, "-occurred_at", 50)?,
        deals: list(s, actor, &record::DEALS, &main, "close_date", 20)?,
        tasks: list(s, actor, &record::TASKS, &open, "due_date", 20)?,
        owners: s.coworker_names()?,
        reports_to: match c.get_ref("reports_to_id") {
            Some(boss) => s.labels(actor, &record::CONTACTS, &[boss])?.remove(&boss),
            None => None,
        },
        c,
    })
}

impl Contact {
    /// The owner and team of the contact's account.
    fn account_team(&self) -> Vec<Uuid> {
        let Some(a) = &self.account else { return Vec::new() };
        let mut team: Vec<Uuid> = a.owner(&record::ACCOUNTS).into_iter().collect();
        team.extend(a.links.get("collaborator_ids").into_iter().flatten().copied());
        team
    }

    fn facts(&self) -> Vec<Fact> {
        let k = &record::CONTACTS;
        let mut facts: Vec<Fact> = [
            ("Title", "title"),
            ("Seniority", "seniority"),
            ("Buying role", "buying_role"),
            ("Protocol", "protocol"),
            ("Email", "email"),
            ("Phone", "phone"),
        ]
        .iter()
        .map(|(label, f)| Fact { label, value: show(k, &self.c, f) })
        .collect();
        let owner = self.c.owner(k).and_then(|o| self.owners.get(&o).cloned()).unwrap_or_default();
        facts.push(Fact { label: "Owner", value: owner });
        if let Some(boss) = &self.reports_to {
            facts.push(Fact { label: "Reports to", value: boss.clone() });
        }
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
        may_edit: user.may_edit(c.c.owner(&record::CONTACTS), &c.account_team()),
        guarded: match c.c.get("protocol").as_text() {
            Some(p @ ("owner_only" | "escalation_only")) => Some(p.replace('_', " ")),
            _ => None,
        },
    };
    Ok(render(&page, StatusCode::OK))
}

/// Logs a call (email, meeting, note) with this contact, on their account, from the contact page.
pub async fn log_contact_activity(State(s): State<AppState>, Path(id): Path<String>, form: SignedForm) -> PageResult {
    let contact = form.user.id(&id, "contact")?;
    let c = form.user.call(&s, move |s, actor| s.get_record(actor, &record::CONTACTS, contact)).await?;
    let back = format!("/contacts/{contact}");
    log(&s, &form, c.get_ref("account_id"), vec![contact.to_string()], &format!("{back}/activities"), back).await
}
