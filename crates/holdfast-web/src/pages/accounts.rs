//! The account page ("customer 360"): facts, contacts with buying roles, deals with their stage,
//! contracts and renewals, open tasks, the timeline, who talks to whom and whether the customer
//! hangs on one person; and what can be done from it (log a call, add a deal, move a stage).

use std::collections::{BTreeSet, HashMap};

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use holdfast_core::coverage::{self, CoverageLevel};
use holdfast_core::coworker::Actor;
use holdfast_core::record::{self, Record};
use holdfast_core::time::{MICROS_PER_DAY, date_of, format_timestamp};
use holdfast_core::{CoreError, Holdfast};
use holdfast_store::Store;
use serde_json::json;
use uuid::Uuid;

use super::error::PageResult;
use super::home::list;
use super::session::{PageUser, SignedForm};
use super::view::{Choice, Fact, Me, go, render, show};
use crate::state::AppState;

/// A deal in a table.
pub(crate) struct DealRow {
    pub(crate) id: Uuid,
    pub(crate) name: String,
    pub(crate) account: String,
    pub(crate) stage: String,
    pub(crate) amount: String,
    pub(crate) close_date: String,
    pub(crate) account_id: String,
}

pub(crate) fn deal_row(d: &Record) -> DealRow {
    let k = &record::DEALS;
    DealRow {
        id: d.id,
        name: show(k, d, "name"),
        account: String::new(),
        stage: show(k, d, "stage"),
        amount: show(k, d, "amount"),
        close_date: show(k, d, "close_date"),
        account_id: d.get_ref("account_id").map(|a| a.to_string()).unwrap_or_default(),
    }
}

/// An activity on a timeline.
pub(crate) struct ActivityRow {
    pub(crate) id: Uuid,
    pub(crate) when: String,
    pub(crate) kind: String,
    pub(crate) who: String,
    pub(crate) summary: String,
}

pub(crate) fn activity_row(a: &Record, owners: &HashMap<Uuid, String>) -> ActivityRow {
    let k = &record::ACTIVITIES;
    ActivityRow {
        id: a.id,
        when: show(k, a, "occurred_at"),
        kind: show(k, a, "type"),
        who: a.owner(k).and_then(|o| owners.get(&o).cloned()).unwrap_or_default(),
        summary: show(k, a, "summary"),
    }
}

struct ContactRow {
    id: Uuid,
    name: String,
    title: String,
    role: String,
    email: String,
    phone: String,
}

struct ContractRow {
    id: Uuid,
    name: String,
    status: String,
    value: String,
    renewal_date: String,
}

struct TaskRow {
    id: Uuid,
    title: String,
    due: String,
    overdue: bool,
    owner: String,
}

/// One co-worker and one contact who have talked, and how often.
struct ThreadRow {
    coworker: String,
    contact: String,
    activities: usize,
}

/// Whether the relationship needs attention, and what to say about it.
struct CoverageNote {
    warning: bool,
    text: String,
    /// The score out of 100 and its reason (activities in the last 180 days; senior contact by tier).
    score: i64,
    reason: String,
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    me: Option<Me>,
    csrf: String,
    id: Uuid,
    name: String,
    lifecycle: String,
    facts: Vec<Fact>,
    contacts: Vec<ContactRow>,
    deals: Vec<DealRow>,
    contracts: Vec<ContractRow>,
    tasks: Vec<TaskRow>,
    activities: Vec<ActivityRow>,
    threads: Vec<ThreadRow>,
    coverage: CoverageNote,
    /// Where the log form posts, and the contacts it offers as "with whom".
    log_action: String,
    log_with: Vec<Choice>,
    error: Option<String>,
    stages: Vec<&'static str>,
}

/// Everything the account page shows, read as the co-worker.
struct Account {
    acc: Record,
    contacts: Vec<Record>,
    deals: Vec<Record>,
    contracts: Vec<Record>,
    activities: Vec<Record>,
    tasks: Vec<Record>,
    now: i64,
    owners: HashMap<Uuid, String>,
    coworkers: Vec<holdfast_core::coworker::CoWorker>,
}

fn load(s: &Holdfast<Store>, actor: &Actor, id: Uuid) -> Result<Account, CoreError> {
    let acc = s.get_record(actor, &record::ACCOUNTS, id)?;
    let on = [("account_id", id.to_string())];
    let open = [("account_id", id.to_string()), ("status", "open".to_string())];
    Ok(Account {
        acc,
        contacts: list(s, actor, &record::CONTACTS, &on, "last_name", 200)?,
        deals: list(s, actor, &record::DEALS, &on, "-created_at", 50)?,
        contracts: list(s, actor, &record::CONTRACTS, &on, "-created_at", 50)?,
        activities: list(s, actor, &record::ACTIVITIES, &on, "-occurred_at", 100)?,
        tasks: list(s, actor, &record::TASKS, &open, "due_date", 20)?,
        now: s.now(),
        owners: s.coworker_names()?,
        coworkers: s.list_coworkers(actor)?,
    })
}

impl Account {
    fn name_of(&self, id: Option<Uuid>) -> String {
        id.and_then(|o| self.owners.get(&o).cloned()).unwrap_or_default()
    }

    fn facts(&self) -> Vec<Fact> {
        let k = &record::ACCOUNTS;
        let mut facts = vec![Fact { label: "Owner", value: self.name_of(self.acc.owner(k)) }];
        for (label, f) in [
            ("Domain", "domain"),
            ("Industry", "industry"),
            ("Tier", "tier"),
            ("Annual value", "annual_value"),
            ("Phone", "phone"),
            ("City", "city"),
            ("Country", "country"),
        ] {
            facts.push(Fact { label, value: show(k, &self.acc, f) });
        }
        let team: Vec<String> = self
            .acc
            .links
            .get("collaborator_ids")
            .into_iter()
            .flatten()
            .filter_map(|c| self.owners.get(c).cloned())
            .collect();
        facts.push(Fact { label: "Account team", value: team.join(", ") });
        facts
    }

    fn contact_names(&self) -> HashMap<Uuid, String> {
        self.contacts.iter().map(|c| (c.id, c.label(&record::CONTACTS))).collect()
    }

    fn threads(&self) -> Vec<ThreadRow> {
        let contacts = self.contact_names();
        let mut rows: Vec<ThreadRow> = coverage::threads(&self.activities, usize::MAX)
            .into_iter()
            .map(|t| ThreadRow {
                coworker: self.name_of(Some(t.coworker)),
                contact: contacts.get(&t.contact).cloned().unwrap_or_default(),
                activities: t.activities,
            })
            .collect();
        // Busiest first; equally busy pairs by name, so the list reads the same every time.
        rows.sort_by(|a, b| {
            b.activities.cmp(&a.activities).then_with(|| (&a.coworker, &a.contact).cmp(&(&b.coworker, &b.contact)))
        });
        rows.truncate(15);
        rows
    }

    fn coverage(&self) -> CoverageNote {
        let cover = coverage::coverage(&self.activities, self.now - 365 * MICROS_PER_DAY);
        let contacts = self.contact_names();
        let people = |ids: &BTreeSet<Uuid>, names: &HashMap<Uuid, String>, none: &str| {
            let named: Vec<String> = ids.iter().filter_map(|i| names.get(i).cloned()).collect();
            if ids.is_empty() { none.to_string() } else { named.join(", ") }
        };
        let (warning, text) = match cover.level {
            CoverageLevel::Silent => (
                true,
                "Nobody here has talked to this customer in the last year. Call them before a competitor does.".into(),
            ),
            CoverageLevel::SingleThreaded => (
                true,
                format!(
                    "Single-threaded: in the last year only {} talked with {}. If one of them leaves, the relationship \
                     goes too: bring a colleague to the next meeting, or meet another contact.",
                    people(&cover.coworkers, &self.owners, "nobody"),
                    people(&cover.contacts, &contacts, "no named contact"),
                ),
            ),
            CoverageLevel::MultiThreaded => (
                false,
                format!(
                    "Multi-threaded: {} co-workers have talked with {} contacts in the last year.",
                    cover.coworkers.len(),
                    cover.contacts.len()
                ),
            ),
        };
        let assessed = holdfast_core::service::assess(&self.acc, &self.activities, &self.coworkers, self.now);
        let mut reason = assessed.reason;
        if let Some(first) = reason.get(..1) {
            reason = first.to_uppercase() + &reason[1..];
        }
        CoverageNote { warning: warning || assessed.score < 50, text, score: assessed.score, reason }
    }

    fn contact_rows(&self) -> Vec<ContactRow> {
        let k = &record::CONTACTS;
        self.contacts
            .iter()
            .map(|c| ContactRow {
                id: c.id,
                name: c.label(k),
                title: show(k, c, "title"),
                role: show(k, c, "buying_role"),
                email: show(k, c, "email"),
                phone: show(k, c, "phone"),
            })
            .collect()
    }

    fn contract_rows(&self) -> Vec<ContractRow> {
        let k = &record::CONTRACTS;
        self.contracts
            .iter()
            .map(|c| ContractRow {
                id: c.id,
                name: show(k, c, "name"),
                status: show(k, c, "status"),
                value: show(k, c, "value"),
                renewal_date: show(k, c, "renewal_date"),
            })
            .collect()
    }

    fn task_rows(&self) -> Vec<TaskRow> {
        let k = &record::TASKS;
        let today = date_of(self.now);
        self.tasks
            .iter()
            .map(|t| {
                let due = show(k, t, "due_date");
                TaskRow {
                    id: t.id,
                    title: show(k, t, "title"),
                    overdue: !due.is_empty() && due < today,
                    due,
                    owner: self.name_of(t.owner(k)),
                }
            })
            .collect()
    }
}

pub async fn account(
    State(s): State<AppState>,
    user: PageUser,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> PageResult {
    let id = user.id(&id, "account")?;
    let a = user.call(&s, move |s, actor| load(s, actor, id)).await?;
    let k = &record::ACCOUNTS;
    let page = AccountPage {
        me: user.me(),
        csrf: user.csrf(),
        id,
        name: show(k, &a.acc, "name"),
        lifecycle: show(k, &a.acc, "lifecycle"),
        facts: a.facts(),
        contacts: a.contact_rows(),
        deals: a.deals.iter().map(deal_row).collect(),
        contracts: a.contract_rows(),
        tasks: a.task_rows(),
        activities: a.activities.iter().map(|r| activity_row(r, &a.owners)).collect(),
        threads: a.threads(),
        coverage: a.coverage(),
        log_action: format!("/accounts/{id}/activities"),
        log_with: a.contacts.iter().map(|c| Choice::new(c.id.to_string(), c.label(&record::CONTACTS))).collect(),
        error: q.get("error").map(|e| match e.as_str() {
            "deal" => "Give the deal a name.".to_string(),
            _ => "Write what was said before logging it.".to_string(),
        }),
        stages: record::DEAL_STAGES.to_vec(),
    };
    Ok(render(&page, StatusCode::OK))
}

/// Logs a call (email, meeting, note) on the account, with the contacts ticked.
pub async fn log_activity(State(s): State<AppState>, Path(id): Path<String>, form: SignedForm) -> PageResult {
    let account = form.user.id(&id, "account")?;
    let contacts: Vec<String> = form.values("contact_ids").map(String::from).collect();
    log(&s, &form, Some(account), contacts, format!("/accounts/{account}")).await
}

/// Creates the activity, now, and goes back to the page it was logged from.
pub(crate) async fn log(
    s: &AppState,
    form: &SignedForm,
    account: Option<Uuid>,
    contacts: Vec<String>,
    back: String,
) -> PageResult {
    let summary = form.get("summary").filter(|s| !s.trim().is_empty()).map(String::from);
    let Some(summary) = summary else { return Ok(go(&format!("{back}?error=summary"))) };
    let mut input = json!({
        "type": form.get("type").unwrap_or("call"),
        "summary": summary,
        "occurred_at": format_timestamp(s.now()),
        "contact_ids": contacts,
    });
    if let Some(a) = account {
        input["account_id"] = json!(a.to_string());
    }
    form.user.call(s, move |s, actor| s.create_record(actor, &record::ACTIVITIES, &input)).await?;
    Ok(go(&back))
}

/// Creates a deal on the account from the account page.
pub async fn create_deal(State(s): State<AppState>, Path(id): Path<String>, form: SignedForm) -> PageResult {
    let account = form.user.id(&id, "account")?;
    if form.get("name").is_none_or(|n| n.trim().is_empty()) {
        return Ok(go(&format!("/accounts/{account}?error=deal")));
    }
    let mut input = serde_json::Map::new();
    input.insert("account_id".into(), json!(account.to_string()));
    for f in ["name", "amount", "close_date", "stage"] {
        if let Some(v) = form.get(f).filter(|v| !v.trim().is_empty()) {
            input.insert(f.into(), json!(v));
        }
    }
    let input = serde_json::Value::Object(input);
    form.user.call(&s, move |s, actor| s.create_record(actor, &record::DEALS, &input)).await?;
    Ok(go(&format!("/accounts/{account}")))
}

/// Moves a deal to another stage, back to its account.
pub async fn move_deal(State(s): State<AppState>, Path(id): Path<String>, form: SignedForm) -> PageResult {
    let deal = form.user.id(&id, "deal")?;
    let change = json!({"stage": form.text("stage")});
    let d = form.user.call(&s, move |s, actor| s.update_record(actor, &record::DEALS, deal, &change)).await?;
    Ok(go(&d.get_ref("account_id").map(|a| format!("/accounts/{a}")).unwrap_or_else(|| "/".into())))
}
