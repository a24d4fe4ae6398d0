//! The account page ("customer 360"): facts, contacts with buying roles, deals with their stage,
//! contracts and renewals, open tasks, the timeline, who talks to whom and whether the customer
//! hangs on one person; and what can be done from it (log a call, add a deal, move a stage).

use std::collections::{BTreeSet, HashMap};

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use holdfast_core::coverage;
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
    seniority: String,
    /// Place in the customer's org chart (0 at the top), from reports-to.
    depth: usize,
    /// Who may reach them, in words ("anyone", "Dana Ortiz and her managers", …).
    who_may_call: String,
    guarded: bool,
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
    /// One co-worker (or nobody) holds the relationship.
    single: bool,
    senior_overdue: bool,
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
    /// Edit is offered only to who may change the account.
    may_edit: bool,
    /// One click to a senior check-in with the customer's most senior contact (id, "name (title)"),
    /// offered to a manager, director or admin when senior contact is overdue.
    check_in: Option<Choice>,
    /// Colleagues who could join the account team, offered when one co-worker holds it.
    second_rep: Vec<Choice>,
}

/// A contact as "with whom?" offers them: a guarded one says so before the form is sent.
pub(crate) fn log_choice(c: &Record) -> Choice {
    let label = c.label(&record::CONTACTS);
    match c.get("protocol").as_text() {
        Some(p @ ("owner_only" | "escalation_only")) => {
            Choice::new(c.id.to_string(), format!("{label} ({})", p.replace('_', " ")))
        }
        _ => Choice::new(c.id.to_string(), label),
    }
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
    cadences: holdfast_core::service::Cadences,
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
        cadences: s.settings()?.senior_cadence,
    })
}

impl Account {
    /// The owner and the account team.
    fn team(&self) -> Vec<Uuid> {
        let mut team: Vec<Uuid> = self.acc.owner(&record::ACCOUNTS).into_iter().collect();
        team.extend(self.acc.links.get("collaborator_ids").into_iter().flatten().copied());
        team
    }

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
        let mut rows: Vec<ThreadRow> = coverage::threads(&self.recent_activities(), usize::MAX)
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

    /// Activities in the coverage window (180 days), which the score, the reason and the
    /// threads are all read from.
    fn recent_activities(&self) -> Vec<Record> {
        let since = self.now - holdfast_core::service::COVERAGE_WINDOW_DAYS * MICROS_PER_DAY;
        self.activities.iter().filter(|a| a.get("occurred_at").as_int().is_some_and(|t| t >= since)).cloned().collect()
    }

    fn coverage(&self) -> CoverageNote {
        let assessed =
            holdfast_core::service::assess(&self.acc, &self.activities, &self.coworkers, &self.cadences, self.now);
        let mut reason = assessed.reason.clone();
        if let Some(first) = reason.get(..1) {
            reason = first.to_uppercase() + &reason[1..];
        }
        let mut advice = Vec::new();
        match assessed.coworkers.as_slice() {
            [] => advice.push("Nobody here has talked to this customer lately: call them before a competitor does.".to_string()),
            [(_, only, _)] => advice.push(format!(
                "If {only} leaves, the relationship goes too: bring a colleague to the next meeting, or add one to the account team."
            )),
            _ => {}
        }
        if assessed.contacts <= 1 && !assessed.coworkers.is_empty() {
            advice.push(
                "Meet another of the customer's people: one contact who changes jobs takes the account along.".into(),
            );
        }
        let senior_ok =
            assessed.last_senior_contact.is_some_and(|t| (self.now - t) / MICROS_PER_DAY <= assessed.cadence_days);
        if !senior_ok {
            advice.push(format!(
                "Someone senior should be in touch every {} days for a {} account.",
                assessed.cadence_days,
                show(&record::ACCOUNTS, &self.acc, "tier").to_lowercase().trim()
            ));
        }
        CoverageNote {
            warning: assessed.score < 50 || assessed.coworkers.len() <= 1,
            text: advice.join(" "),
            score: assessed.score,
            reason,
            single: assessed.coworkers.len() <= 1,
            senior_overdue: !senior_ok,
        }
    }

    fn check_in(&self, user: &PageUser, coverage: &CoverageNote) -> Option<Choice> {
        let senior = user.actor.role() != holdfast_core::coworker::Role::Rep;
        if !senior || !coverage.senior_overdue {
            return None;
        }
        self.most_senior_contact().map(|c| {
            let title = show(&record::CONTACTS, c, "title");
            let label = c.label(&record::CONTACTS);
            Choice::new(c.id.to_string(), if title.is_empty() { label } else { format!("{label} ({title})") })
        })
    }

    fn second_rep(&self, user: &PageUser, coverage: &CoverageNote) -> Vec<Choice> {
        if !coverage.single || !user.may_edit(self.acc.owner(&record::ACCOUNTS), &self.team()) {
            return Vec::new();
        }
        let team = self.team();
        let mut people: Vec<Choice> = self
            .coworkers
            .iter()
            .filter(|c| c.status.may_sign_in() && !team.contains(&c.id))
            .map(|c| Choice::new(c.id.to_string(), c.name.clone()))
            .collect();
        people.sort_by(|a, b| a.label.cmp(&b.label));
        people
    }

    /// The customer's most senior contact (board first), for a senior check-in.
    fn most_senior_contact(&self) -> Option<&Record> {
        self.contacts.iter().min_by_key(|c| {
            let seniority = c.get("seniority").as_text().unwrap_or("");
            holdfast_core::protocol::SENIORITIES.iter().position(|s| *s == seniority).unwrap_or(9)
        })
    }

    /// Contacts in the customer's org chart order: each under whom they report to, by seniority
    /// then name, with who may reach them.
    fn contact_rows(&self) -> Vec<ContactRow> {
        let k = &record::CONTACTS;
        let owner = self.name_of(self.acc.owner(&record::ACCOUNTS));
        let owner = if owner.is_empty() { "the account owner".to_string() } else { owner };
        let ids: BTreeSet<Uuid> = self.contacts.iter().map(|c| c.id).collect();
        let rank = |c: &Record| {
            let seniority = c.get("seniority").as_text().unwrap_or("");
            let r = holdfast_core::protocol::SENIORITIES.iter().position(|s| *s == seniority).unwrap_or(9);
            (r, c.label(k))
        };
        let mut children: HashMap<Option<Uuid>, Vec<&Record>> = HashMap::new();
        for c in &self.contacts {
            let boss = c.get_ref("reports_to_id").filter(|b| ids.contains(b) && *b != c.id);
            children.entry(boss).or_default().push(c);
        }
        for list in children.values_mut() {
            list.sort_by_key(|c| rank(c));
        }
        let mut ordered: Vec<(&Record, usize)> = Vec::new();
        let mut seen = BTreeSet::new();
        let mut stack: Vec<(&Record, usize)> =
            children.get(&None).map(|l| l.iter().rev().map(|c| (*c, 0)).collect()).unwrap_or_default();
        while let Some((c, depth)) = stack.pop() {
            if !seen.insert(c.id) {
                continue;
            }
            ordered.push((c, depth));
            if let Some(kids) = children.get(&Some(c.id)) {
                stack.extend(kids.iter().rev().map(|k| (*k, depth + 1)));
            }
        }
        // a reports-to loop leaves people unplaced: list them at the top level
        for c in &self.contacts {
            if !seen.contains(&c.id) {
                ordered.push((c, 0));
            }
        }
        ordered
            .into_iter()
            .map(|(c, depth)| {
                let protocol = holdfast_core::protocol::Protocol::parse(c.get("protocol").as_text().unwrap_or(""));
                let who_may_call = match protocol {
                    holdfast_core::protocol::Protocol::Open => "anyone".to_string(),
                    holdfast_core::protocol::Protocol::OwnerOnly => format!("{owner} and the managers above"),
                    holdfast_core::protocol::Protocol::EscalationOnly => {
                        format!("managers above {owner}; others ask {owner} or a manager first")
                    }
                };
                ContactRow {
                    id: c.id,
                    name: c.label(k),
                    title: show(k, c, "title"),
                    role: show(k, c, "buying_role"),
                    email: show(k, c, "email"),
                    phone: show(k, c, "phone"),
                    seniority: show(k, c, "seniority"),
                    depth: depth.min(4),
                    who_may_call,
                    guarded: protocol != holdfast_core::protocol::Protocol::Open,
                }
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
    // The assessment is read once, for the note and for the actions it offers.
    let coverage = a.coverage();
    let (check_in, second_rep) = (a.check_in(&user, &coverage), a.second_rep(&user, &coverage));
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
        coverage,
        log_action: format!("/accounts/{id}/activities"),
        log_with: a.contacts.iter().map(log_choice).collect(),
        may_edit: user.may_edit(a.acc.owner(k), &a.team()),
        check_in,
        second_rep,
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
    let back = format!("/accounts/{account}");
    log(&s, &form, Some(account), contacts, &format!("{back}/activities"), back).await
}

/// Creates the activity, now, and goes back to the page it was logged from.
pub(crate) async fn log(
    s: &AppState,
    form: &SignedForm,
    account: Option<Uuid>,
    contacts: Vec<String>,
    action: &str,
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
    if form.get("after_the_fact") == Some("on") {
        input["after_the_fact"] = json!(true);
    }
    match form.user.attempt(s, move |s, actor| s.create_record(actor, &record::ACTIVITIES, &input)).await {
        Ok(_) => Ok(go(&back)),
        Err(crate::ApiError::Core(CoreError::Protocol(refusal))) => {
            Ok(super::approvals::protocol_warning(form, &refusal, action, &back))
        }
        Err(e) => Err(form.user.fail(e)),
    }
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

/// Schedules a senior check-in: a task for the co-worker, a week out, with the contact picked.
pub async fn check_in(State(s): State<AppState>, Path(id): Path<String>, form: SignedForm) -> PageResult {
    let account = form.user.id(&id, "account")?;
    let contact = form.user.id(&form.text("contact_id"), "contact")?;
    let back = format!("/accounts/{account}");
    let result = form
        .user
        .attempt(&s, move |s, actor| {
            let c = s.get_record(actor, &record::CONTACTS, contact)?;
            let input = json!({
                "title": format!("Senior check-in with {}", c.label(&record::CONTACTS)),
                "due_date": date_of(s.now() + 7 * MICROS_PER_DAY),
                "account_id": account.to_string(),
                "contact_id": contact.to_string(),
                "notes": "Scheduled from the account page: senior contact was overdue for the account's tier.",
            });
            s.create_record(actor, &record::TASKS, &input)
        })
        .await;
    match result {
        Ok(_) => Ok(go(&back)),
        Err(crate::ApiError::Core(CoreError::Protocol(refusal))) => {
            Ok(super::approvals::protocol_warning(&form, &refusal, &format!("{back}/check-in"), &back))
        }
        Err(e) => Err(form.user.fail(e)),
    }
}

/// Adds a colleague to the account team (so the relationship no longer hangs on one person).
pub async fn add_to_team(State(s): State<AppState>, Path(id): Path<String>, form: SignedForm) -> PageResult {
    let account = form.user.id(&id, "account")?;
    let colleague = form.user.id(&form.text("coworker_id"), "co-worker")?;
    form.user
        .call(&s, move |s, actor| {
            let acc = s.get_record(actor, &record::ACCOUNTS, account)?;
            let mut team: Vec<String> =
                acc.links.get("collaborator_ids").into_iter().flatten().map(Uuid::to_string).collect();
            team.push(colleague.to_string());
            s.update_record(actor, &record::ACCOUNTS, account, &json!({"collaborator_ids": team}))
        })
        .await?;
    Ok(go(&format!("/accounts/{account}")))
}
