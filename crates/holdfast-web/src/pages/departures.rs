//! Departures: the list of open cases (and, for admins, records still owned by someone who left),
//! one case as its checklist — notice, review, plan with a preview, transfer with its undo,
//! introductions, access — and the Bulk operations page. Each action is one service call, like
//! its API twin.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use holdfast_core::coworker::{CoWorker, Status};
use holdfast_core::departure::{Reason, STEPS, Source};
use holdfast_core::service::{BulkOperation, DepartureView, HandoverPreview, HandoverRule, NewDeparture};
use uuid::Uuid;

use super::error::PageResult;
use super::session::{PageUser, SignedForm};
use super::view::{Choice, Me, go, money, render, short_time};
use crate::state::AppState;

/// One step of a case as the page shows it.
struct StepRow {
    name: &'static str,
    label: &'static str,
    done: bool,
    /// Who did it and when, or what is awaited.
    said: String,
}

/// One recipient's share in a preview.
struct ShareRow {
    name: String,
    email: String,
    counts: String,
    annual_value: String,
    open_pipeline: String,
    top_accounts: String,
}

struct CaseRow {
    id: Uuid,
    name: String,
    coworker_id: Uuid,
    reason: &'static str,
    status: &'static str,
    last_day: String,
    progress: usize,
    steps: usize,
    open_alerts: i64,
    still_owned: i64,
    value: String,
}

fn case_row(v: &DepartureView) -> CaseRow {
    CaseRow {
        id: v.case.id,
        name: v.coworker.name.clone(),
        coworker_id: v.coworker.id,
        reason: v.case.reason.as_str(),
        status: v.case.status.as_str(),
        last_day: v.case.last_day.clone(),
        progress: v.progress(),
        steps: STEPS.len(),
        open_alerts: v.open_alerts,
        still_owned: v.owned_total(),
        value: money(v.value_owned),
    }
}

/// A co-worker who left and still owns records.
struct LeftRow {
    id: Uuid,
    name: String,
    owns: String,
}

#[derive(Template)]
#[template(path = "departures.html")]
struct DeparturesPage {
    me: Option<Me>,
    csrf: String,
    cases: Vec<CaseRow>,
    all: bool,
    left: Vec<LeftRow>,
    /// Co-workers whose departure the viewer may record (active or departing, no open case).
    leavers: Vec<Choice>,
    today: String,
}

pub async fn departures(
    State(s): State<AppState>,
    user: PageUser,
    Query(q): Query<Vec<(String, String)>>,
) -> PageResult {
    let all = q.iter().any(|(k, v)| k == "all" && v == "1");
    let (cases, left, leavers, today) = user
        .call(&s, move |s, actor| {
            let cases = s.list_departures(actor, all)?;
            // Who already has an open case (the list itself, unless it shows closed ones too).
            let open: Vec<Uuid> = cases
                .iter()
                .filter(|v| v.case.status == holdfast_core::departure::CaseStatus::Open)
                .map(|v| v.coworker.id)
                .collect();
            let mut leavers: Vec<Choice> = s
                .list_coworkers(actor)?
                .into_iter()
                .filter(|c| matches!(c.status, Status::Active | Status::Departing) && !open.contains(&c.id))
                .filter(|c| Some(c.id) != actor.id() && (actor.is_admin() || actor.manages.contains(&c.id)))
                .map(|c| Choice::new(c.id.to_string(), format!("{} ({})", c.name, c.email)))
                .collect();
            leavers.sort_by(|a, b| a.label.cmp(&b.label));
            let today = holdfast_core::time::date_of(s.now());
            let mut left = Vec::new();
            if actor.is_admin() {
                for c in s.list_coworkers(actor)?.into_iter().filter(|c| c.status == Status::Departed) {
                    let owned = s.ownership(actor, &c.id.to_string())?;
                    let owns: Vec<String> =
                        owned.iter().filter(|(_, n)| *n > 0).map(|(k, n)| format!("{n} {}", k.plural)).collect();
                    if !owns.is_empty() {
                        left.push(LeftRow { id: c.id, name: c.name, owns: owns.join(", ") });
                    }
                }
            }
            Ok((cases, left, leavers, today))
        })
        .await?;
    let page = DeparturesPage {
        me: user.me(),
        csrf: user.csrf(),
        cases: cases.iter().map(case_row).collect(),
        all,
        left,
        leavers,
        today,
    };
    Ok(render(&page, StatusCode::OK))
}

#[derive(Template)]
#[template(path = "departure.html")]
struct CasePage {
    me: Option<Me>,
    csrf: String,
    c: CaseRow,
    email: String,
    notice_date: String,
    access_ends: String,
    destination: String,
    good_terms: bool,
    open: bool,
    steps: Vec<StepRow>,
    owns: String,
    /// The transfer's operation, while it can be undone.
    operation: Option<String>,
    /// Active colleagues who may take records.
    colleagues: Vec<Choice>,
    /// The plan as last previewed: rule, recipients, and the shares.
    rule: String,
    picked: Vec<String>,
    to: String,
    rest: String,
    /// By territory: each country among the leaver's accounts.
    territories: Vec<PickRow>,
    /// Hand-picked: each of the leaver's accounts.
    account_rows: Vec<PickRow>,
    /// The plan as hidden fields for Apply.
    carry: Vec<Choice>,
    /// Ninety days before the case opened: where the review and the evidence bundle start.
    review_since: String,
    shares: Vec<ShareRow>,
    total: usize,
    transferred: bool,
    introduced: bool,
    access_ended: bool,
    notice: String,
}

fn who(v: &DepartureView, by: Option<Uuid>) -> String {
    by.and_then(|b| v.names.get(&b).cloned()).unwrap_or_else(|| "the server".into())
}

fn steps_of(v: &DepartureView) -> Vec<StepRow> {
    STEPS
        .iter()
        .map(|(name, label)| {
            let done = v.done(name);
            let said = match (*name, done) {
                ("notice", true) => v.notice.as_ref().map_or(String::new(), |n| {
                    format!(
                        "{} acknowledged version {} on {} UTC{}",
                        v.coworker.name,
                        n.version.map_or("?".into(), |x| x.to_string()),
                        short_time(n.at),
                        n.client_addr.as_ref().map(|a| format!(" from {a}")).unwrap_or_default()
                    )
                }),
                ("notice", false) => {
                    format!(
                        "{} is shown the notice at their next page view; their acknowledgement appears here.",
                        v.coworker.name
                    )
                }
                (other, true) => v.case.step(other).map_or(String::new(), |s| {
                    let mut text = format!("{} on {} UTC", who(v, s.by), short_time(s.at));
                    if let Some(n) = s.detail["records"].as_u64() {
                        text.push_str(&format!(" ({n} records)"));
                    }
                    if let Some(n) = s.detail["tasks"].as_u64() {
                        text.push_str(&format!(" ({n} tasks)"));
                    }
                    if let Some(why) = s.detail["why"].as_str() {
                        text.push_str(&format!(": {why}"));
                    }
                    text
                }),
                ("review", false) => "Look at the 90-day report and alerts below, then mark it reviewed.".into(),
                ("plan", false) => "Choose who takes the book and preview it.".into(),
                ("transfer", false) => "Apply the plan: one step, undoable.".into(),
                ("introductions", false) => {
                    "After the transfer: tasks to introduce the new owners to key contacts.".into()
                }
                ("access", false) => format!("Ends automatically at {} UTC.", short_time(v.case.access_ends_at)),
                _ => String::new(),
            };
            StepRow { name, label, done, said }
        })
        .collect()
}

/// What a case page needs besides the case.
async fn case_page(
    s: &AppState,
    user: &PageUser,
    id: Uuid,
    preview: Option<(HandoverPreview, PlanForm)>,
    notice: String,
) -> PageResult {
    let (v, colleagues, undoable, accounts) = user
        .call(s, move |s, actor| {
            let v = s.departure(actor, id)?;
            // The leaver's accounts, for planning by territory or account by account (a read of
            // customer data like any list, recorded as one).
            let accounts = if v.case.status == holdfast_core::departure::CaseStatus::Open
                && v.owned.iter().any(|(k, _)| k.plural == "accounts")
            {
                let list = holdfast_core::service::ListRequest {
                    owner: Some(v.coworker.id.to_string()),
                    sort: Some("-annual_value".into()),
                    limit: Some(500),
                    ..Default::default()
                };
                s.list_records(actor, &holdfast_core::record::ACCOUNTS, &list)?.items
            } else {
                Vec::new()
            };
            let teams: HashMap<Uuid, String> = s.list_teams()?.into_iter().map(|t| (t.id, t.name)).collect();
            let mut colleagues: Vec<(CoWorker, String)> = Vec::new();
            // Active colleagues the actor may hand records to (a manager: themselves and the
            // people they manage).
            let may_take = |c: &CoWorker| actor.is_admin() || actor.id() == Some(c.id) || actor.manages.contains(&c.id);
            for c in s
                .list_coworkers(actor)?
                .into_iter()
                .filter(|c| c.status == Status::Active && c.id != v.coworker.id && may_take(c))
            {
                // Their team and book, to choose by.
                let accounts = s
                    .ownership(actor, &c.id.to_string())?
                    .into_iter()
                    .find(|(k, _)| k.plural == "accounts")
                    .map_or(0, |(_, n)| n);
                let team = c.team_id.and_then(|t| teams.get(&t).cloned()).unwrap_or_else(|| "no team".into());
                let label = format!("{} · {team} · {accounts} accounts", c.name);
                colleagues.push((c, label));
            }
            let op = v.case.step("transfer").and_then(|t| t.detail["operation"].as_str()).and_then(|o| o.parse().ok());
            let undoable = match op {
                Some(op) => s.bulk_operation(actor, op)?.filter(|o| o.undoable).map(|o| o.id.to_string()),
                None => None,
            };
            Ok((v, colleagues, undoable, accounts))
        })
        .await?;
    let plan = match &preview {
        Some((_, plan)) => plan.clone(),
        None => PlanForm::from_saved(&v.case.step("plan").map(|p| p.detail["rule"].clone()).unwrap_or_default()),
    };
    let kind = &holdfast_core::record::ACCOUNTS;
    let mut countries: Vec<String> = accounts
        .iter()
        .map(|a| a.get("country").as_text().unwrap_or("").trim().to_string())
        .filter(|c| !c.is_empty())
        .collect();
    countries.sort_by_key(|c| c.to_lowercase());
    countries.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
    let territories = countries
        .into_iter()
        .map(|c| PickRow { chosen: PlanForm::chosen(&plan.territories, &c), label: c.clone(), key: c })
        .collect();
    let account_rows = accounts
        .iter()
        .map(|a| {
            let key = a.id.to_string();
            let country = a.get("country").as_text().unwrap_or("no country");
            let value = money(a.get("annual_value").as_int().unwrap_or(0));
            PickRow {
                chosen: PlanForm::chosen(&plan.accounts, &key),
                label: format!("{} · {country} · {value} a year", a.label(kind)),
                key,
            }
        })
        .collect();
    let shares = preview
        .as_ref()
        .map(|(p, ..)| {
            p.per_recipient
                .iter()
                .map(|(email, kinds)| {
                    let value = p.value_per_recipient.get(email).cloned().unwrap_or_default();
                    ShareRow {
                        name: value.name.clone(),
                        email: email.clone(),
                        counts: kinds.iter().map(|(k, n)| format!("{n} {k}")).collect::<Vec<_>>().join(", "),
                        annual_value: money(value.annual_value),
                        open_pipeline: money(value.open_pipeline),
                        top_accounts: value.top_accounts.join(", "),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let page = CasePage {
        me: user.me(),
        csrf: user.csrf(),
        c: case_row(&v),
        email: v.coworker.email.clone(),
        notice_date: v.case.notice_date.clone(),
        access_ends: short_time(v.case.access_ends_at),
        destination: v.case.destination.clone().unwrap_or_default(),
        good_terms: v.case.good_terms,
        open: v.case.status == holdfast_core::departure::CaseStatus::Open,
        steps: steps_of(&v),
        owns: v.owned.iter().map(|(k, n)| format!("{n} {}", k.plural)).collect::<Vec<_>>().join(", "),
        operation: undoable,
        colleagues: colleagues.into_iter().map(|(c, label)| Choice::new(c.email, label)).collect(),
        carry: plan.carry(),
        review_since: holdfast_core::time::date_of(v.case.opened_at - 90 * holdfast_core::time::MICROS_PER_DAY),
        rule: plan.rule.clone(),
        picked: plan.picked.clone(),
        to: plan.to.clone(),
        rest: plan.rest.clone(),
        territories,
        account_rows,
        total: preview.as_ref().map_or(0, |p| p.0.total),
        shares,
        transferred: v.done("transfer"),
        introduced: v.done("introductions"),
        access_ended: v.done("access"),
        notice,
    };
    Ok(render(&page, StatusCode::OK))
}

pub async fn departure(
    State(s): State<AppState>,
    user: PageUser,
    Path(id): Path<String>,
    Query(q): Query<Vec<(String, String)>>,
) -> PageResult {
    let id = user.id(&id, "departure")?;
    let notice = match q.iter().find(|(k, _)| k == "done").map(|(_, v)| v.as_str()) {
        Some("applied") => "Handed over. Every account took its contacts, deals, contracts and tasks with it.".into(),
        Some("undone") => "Undone: the records are back with their previous owners.".into(),
        Some("reviewed") => "Marked reviewed.".into(),
        Some("introduced") => "Introduction tasks created for the new owners (and their managers).".into(),
        Some("ended") => "Access ended: signed out everywhere, tokens revoked.".into(),
        Some("started") => "Departure recorded. They are on the departing watchlist from now on.".into(),
        _ => String::new(),
    };
    case_page(&s, &user, id, None, notice).await
}

/// `POST /departures`: the Departures page's form, the co-worker picked from a list.
pub async fn start_picked(s: State<AppState>, form: SignedForm) -> PageResult {
    let picked = form.text("coworker");
    start(s, Path(picked), form).await
}

/// `POST /coworkers/{id}/departure`: records the departure, then shows the case.
pub async fn start(State(s): State<AppState>, Path(id): Path<String>, form: SignedForm) -> PageResult {
    let target = form.user.id(&id, "co-worker")?;
    let reason =
        Reason::parse(&form.text("reason")).map_err(|why| form.user.fail(crate::ApiError::field("reason", why)))?;
    let new = NewDeparture {
        notice_date: form.get("notice_date").map(String::from),
        last_day: form.text("last_day"),
        reason,
        destination: form.get("destination").map(String::from),
        good_terms: form.get("good_terms").is_some(),
        source: Source::Manual,
    };
    let case = form.user.call(&s, move |s, actor| s.start_departure(actor, &target.to_string(), new)).await?;
    Ok(go(&format!("/departures/{}?done=started", case.id)))
}

/// A transition plan as the case page's form holds it (and carries to Apply).
#[derive(Debug, Clone, Default)]
pub(crate) struct PlanForm {
    rule: String,
    /// Round-robin: the colleagues ticked.
    picked: Vec<String>,
    /// One colleague for everything.
    to: String,
    /// By territory: country and colleague.
    territories: Vec<(String, String)>,
    /// Hand-picked: account id and colleague ("" for the rest).
    accounts: Vec<(String, String)>,
    /// The colleague for the rest (territory and hand-picked).
    rest: String,
}

impl PlanForm {
    fn from_form(form: &SignedForm) -> PlanForm {
        let pairs = |keys: &str, values: &str| -> Vec<(String, String)> {
            form.values(keys).map(String::from).zip(form.values(values).map(String::from)).collect()
        };
        let rule = form.text("rule");
        PlanForm {
            rule: if rule.is_empty() { "round_robin".into() } else { rule },
            picked: form.values("recipients").map(String::from).collect(),
            to: form.text("to"),
            territories: pairs("country", "country_to"),
            accounts: pairs("account", "account_to"),
            rest: form.text("rest"),
        }
    }

    /// The plan the case recorded last (its rule as `HandoverRule::to_json` keeps it).
    fn from_saved(plan: &serde_json::Value) -> PlanForm {
        let texts = |v: &serde_json::Value| -> Vec<(String, String)> {
            v.as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        };
        PlanForm {
            rule: plan["rule"].as_str().unwrap_or("round_robin").to_string(),
            picked: plan["recipients"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|r| r.as_str().map(String::from))
                .collect(),
            to: plan["to"].as_str().unwrap_or_default().to_string(),
            territories: texts(&plan["territories"]).into_iter().filter(|(k, _)| k != "*").collect(),
            accounts: texts(&plan["accounts"]),
            rest: plan["rest"].as_str().or(plan["territories"]["*"].as_str()).unwrap_or_default().to_string(),
        }
    }

    fn rule(&self) -> Result<HandoverRule, crate::ApiError> {
        let some = |v: &str| Some(v.to_string()).filter(|v| !v.is_empty());
        Ok(match self.rule.as_str() {
            "one" => HandoverRule::One(self.to.clone()),
            "team" => HandoverRule::Team(None),
            "territory" => {
                let mut map: std::collections::BTreeMap<String, String> =
                    self.territories.iter().filter(|(_, to)| !to.is_empty()).cloned().collect();
                if let Some(rest) = some(&self.rest) {
                    map.insert("*".into(), rest);
                }
                HandoverRule::Territory(map)
            }
            "picked" => {
                let mut accounts = HashMap::new();
                for (account, to) in self.accounts.iter().filter(|(_, to)| !to.is_empty()) {
                    let id = Uuid::parse_str(account)
                        .map_err(|_| crate::ApiError::field("accounts", format!("'{account}' is not an account id")))?;
                    accounts.insert(id, to.clone());
                }
                HandoverRule::Picked { accounts, rest: some(&self.rest) }
            }
            _ => HandoverRule::RoundRobin(self.picked.clone()),
        })
    }

    /// The plan as hidden fields, for the Apply form.
    fn carry(&self) -> Vec<Choice> {
        let mut out =
            vec![Choice::new("rule", &self.rule), Choice::new("to", &self.to), Choice::new("rest", &self.rest)];
        out.extend(self.picked.iter().map(|p| Choice::new("recipients", p)));
        for (country, to) in &self.territories {
            out.push(Choice::new("country", country));
            out.push(Choice::new("country_to", to));
        }
        for (account, to) in &self.accounts {
            out.push(Choice::new("account", account));
            out.push(Choice::new("account_to", to));
        }
        out
    }

    fn chosen(list: &[(String, String)], key: &str) -> String {
        list.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()).unwrap_or_default()
    }
}

/// One row of the territory or hand-picked plan: what, and who is chosen for it.
struct PickRow {
    key: String,
    label: String,
    chosen: String,
}

/// `POST /departures/{id}/plan`: records the plan and shows its preview on the case page.
pub async fn plan(State(s): State<AppState>, Path(id): Path<String>, form: SignedForm) -> PageResult {
    let id = form.user.id(&id, "departure")?;
    let plan = PlanForm::from_form(&form);
    let rule = plan.rule().map_err(|e| form.user.fail(e))?;
    let (_, preview) = form.user.call(&s, move |s, actor| s.plan_departure(actor, id, &rule)).await?;
    case_page(&s, &form.user, id, Some((preview, plan)), String::new()).await
}

/// `POST /departures/{id}/apply`: hands the records over by the plan.
pub async fn apply(State(s): State<AppState>, Path(id): Path<String>, form: SignedForm) -> PageResult {
    let id = form.user.id(&id, "departure")?;
    let rule = PlanForm::from_form(&form).rule().map_err(|e| form.user.fail(e))?;
    form.user
        .call(&s, move |s, actor| {
            let v = s.departure(actor, id)?;
            s.handover_by(actor, &v.coworker.id.to_string(), &rule)
        })
        .await?;
    Ok(go(&format!("/departures/{id}?done=applied")))
}

/// The small case actions: review, introductions, end access, call off.
pub async fn act(State(s): State<AppState>, Path((id, what)): Path<(String, String)>, form: SignedForm) -> PageResult {
    let id = form.user.id(&id, "departure")?;
    let reason = form.text("reason");
    let done = match what.as_str() {
        "review" => {
            form.user
                .call(&s, move |s, actor| s.mark_departure_step(actor, id, "review", serde_json::json!({})))
                .await?;
            "reviewed"
        }
        "introductions" => {
            form.user.call(&s, move |s, actor| s.make_introductions(actor, id)).await?;
            "introduced"
        }
        "end-access" => {
            form.user.call(&s, move |s, actor| s.end_departure_access(actor, id)).await?;
            "ended"
        }
        "cancel" => {
            form.user.call(&s, move |s, actor| s.cancel_departure(actor, id, &reason)).await?;
            return Ok(go("/departures?all=1"));
        }
        _ => return Err(form.user.fail(super::error::PageError::no_such_page())),
    };
    Ok(go(&format!("/departures/{id}?done={done}")))
}

struct OperationRow {
    id: String,
    when: String,
    by: String,
    what: String,
    records: String,
    from_to: String,
    undone: String,
    undoable: bool,
}

#[derive(Template)]
#[template(path = "bulk_operations.html")]
struct OperationsPage {
    me: Option<Me>,
    csrf: String,
    rows: Vec<OperationRow>,
    notice: String,
}

fn operation_row(o: &BulkOperation, names: &HashMap<Uuid, String>) -> OperationRow {
    let name = |id: &Uuid| names.get(id).cloned().unwrap_or_else(|| "someone".into());
    OperationRow {
        id: o.id.to_string(),
        when: short_time(o.at),
        by: o.by.map_or_else(|| "the operator".into(), |b| name(&b)),
        what: if o.action == "coworker.handover" { "handover".into() } else { "bulk hand-over".into() },
        records: o.per_kind.iter().map(|k| format!("{} {}", k.count, k.plural)).collect::<Vec<_>>().join(", "),
        from_to: format!(
            "{}{}",
            o.from.map(|f| format!("from {} ", name(&f))).unwrap_or_default(),
            if o.to.is_empty() {
                String::new()
            } else {
                format!("to {}", o.to.iter().map(name).collect::<Vec<_>>().join(" and "))
            }
        ),
        undone: o.undone_at.map(|t| format!("undone {}", short_time(t))).unwrap_or_default(),
        undoable: o.undoable,
    }
}

pub async fn bulk_operations(
    State(s): State<AppState>,
    user: PageUser,
    Query(q): Query<Vec<(String, String)>>,
) -> PageResult {
    let (ops, names) = user.call(&s, |s, actor| Ok((s.list_bulk_operations(actor, 100)?, s.coworker_names()?))).await?;
    let get = |name: &str| q.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let notice = match get("undone") {
        Some(_) => format!(
            "Undone: put back {} records{}.",
            get("n").unwrap_or_default(),
            get("skipped")
                .filter(|n| n != "0")
                .map(|n| format!("; {n} left as they were (changed since)"))
                .unwrap_or_default()
        ),
        None => String::new(),
    };
    let rows = ops.iter().map(|o| operation_row(o, &names)).collect();
    Ok(render(&OperationsPage { me: user.me(), csrf: user.csrf(), rows, notice }, StatusCode::OK))
}
