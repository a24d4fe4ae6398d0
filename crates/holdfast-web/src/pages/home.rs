//! The home page: a rep's open deals, tasks, pipeline, recent activity and accounts; for managers
//! and admins also their team's pipeline, overdue tasks and accounts nobody has talked to.

use std::collections::HashMap;

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use holdfast_core::coworker::Actor;
use holdfast_core::record::{self, Record, RecordKind};
use holdfast_core::service::{HomeReport, ListRequest, TeamOverview};
use holdfast_core::time::{MICROS_PER_DAY, date_of, format_timestamp};
use holdfast_core::{CoreError, Holdfast};
use holdfast_store::Store;
use uuid::Uuid;

use super::accounts::{DealRow, deal_row};
use super::charts::{pipeline_chart, week_chart};
use super::error::PageResult;
use super::session::PageUser;
use super::view::{Me, RecordLink, money, render, show};
use crate::state::AppState;

struct TaskRow {
    title: String,
    due_date: String,
    overdue: bool,
    account: Option<RecordLink>,
}

struct RecentRow {
    when: String,
    kind: String,
    summary: String,
    account: Option<RecordLink>,
}

struct AccountRow {
    id: Uuid,
    name: String,
    tier: String,
    lifecycle: String,
    /// `YYYY-MM-DD` of the latest activity, empty when never.
    last_touch: String,
    /// Not talked to in 90 days.
    stale: bool,
}

struct OverdueRow {
    due: String,
    title: String,
    owner: String,
    account: Option<RecordLink>,
}

struct UntouchedRow {
    id: Uuid,
    name: String,
    owner: String,
}

/// The team section of a manager's or admin's home page.
struct TeamSection {
    scope: String,
    chart: String,
    overdue: Vec<OverdueRow>,
    untouched: Vec<UntouchedRow>,
    /// The top of the walk-out exposure: name, email, accounts only they cover, value at stake.
    exposure: Vec<(String, String, usize, String)>,
    /// The most valuable accounts hanging on one co-worker, and those overdue for senior contact.
    single: Vec<super::renewals::CoverageLine>,
    senior: Vec<super::renewals::CoverageLine>,
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    me: Option<Me>,
    team: Option<TeamSection>,
    first_name: String,
    deals: Vec<DealRow>,
    tasks: Vec<TaskRow>,
    accounts: Vec<AccountRow>,
    /// The co-worker's latest activities.
    recent: Vec<RecentRow>,
    week_scope: &'static str,
    week_chart: String,
    my_pipeline: String,
}

/// A list the home page shows, as the co-worker (recorded like any list read).
pub(crate) fn list(
    s: &Holdfast<Store>,
    actor: &Actor,
    kind: &'static RecordKind,
    filters: &[(&str, String)],
    sort: &str,
    limit: u32,
) -> Result<Vec<Record>, CoreError> {
    let req = ListRequest {
        filters: filters.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
        sort: Some(sort.into()),
        limit: Some(limit),
        ..Default::default()
    };
    Ok(s.list_records(actor, kind, &req)?.items)
}

/// What the home page shows, read in one go.
struct Home {
    deals: Vec<Record>,
    tasks: Vec<Record>,
    recent: Vec<Record>,
    accounts: Vec<Record>,
    report: HomeReport,
    team: Option<TeamOverview>,
    exposure: Vec<holdfast_core::service::Exposure>,
    /// Their people's accounts by coverage (team leads).
    coverage: Vec<holdfast_core::service::CoverageRow>,
    now: i64,
    owners: HashMap<Uuid, String>,
    account_names: HashMap<Uuid, String>,
}

fn load(s: &Holdfast<Store>, actor: &Actor) -> Result<Home, CoreError> {
    let my = actor.id().map(|i| i.to_string()).unwrap_or_default();
    // Open deals, soonest close first (undated last).
    let mut open: Vec<(&str, String)> = vec![("owner_id", my.clone())];
    open.extend(record::DEAL_STAGES.iter().filter(|st| !st.starts_with("closed")).map(|st| ("stage", st.to_string())));
    let deals = list(s, actor, &record::DEALS, &open, "close_date", 15)?;
    let tasks = list(s, actor, &record::TASKS, &[("owner_id", my.clone()), ("status", "open".into())], "due_date", 15)?;
    let recent = list(s, actor, &record::ACTIVITIES, &[("owner_id", my.clone())], "-occurred_at", 8)?;
    let accounts = list(s, actor, &record::ACCOUNTS, &[("owner_id", my)], "name", 50)?;
    let ids: Vec<Uuid> = accounts.iter().map(|a| a.id).collect();
    let report = s.home_report(actor, &ids, 12)?;
    let team = if actor.is_admin() || !actor.manages.is_empty() { Some(s.team_overview(actor)?) } else { None };
    let exposure = if team.is_some() { s.exposure(actor)?.into_iter().take(5).collect() } else { Vec::new() };
    let coverage = if team.is_some() {
        let everyone = actor.is_admin() || actor.role() == holdfast_core::coworker::Role::Director;
        let mut rows = s.coverage_report(actor)?;
        rows.retain(|r| everyone || r.owner.is_some_and(|o| Some(o) == actor.id() || actor.manages.contains(&o)));
        rows.retain(|r| r.annual_value > 0);
        rows.sort_by_key(|r| std::cmp::Reverse(r.annual_value));
        rows
    } else {
        Vec::new()
    };
    // Names of the accounts the deals, tasks and activities shown belong to.
    let overdue = team.iter().flat_map(|t| &t.overdue_tasks);
    let linked: Vec<Uuid> = deals
        .iter()
        .chain(&tasks)
        .chain(&recent)
        .chain(overdue)
        .filter_map(|r| r.get_ref("account_id"))
        .filter(|a| !ids.contains(a))
        .collect();
    let mut account_names = s.labels(actor, &record::ACCOUNTS, &linked)?;
    account_names.extend(accounts.iter().map(|a| (a.id, a.label(&record::ACCOUNTS))));
    Ok(Home {
        deals,
        tasks,
        recent,
        accounts,
        report,
        team,
        exposure,
        coverage,
        now: s.now(),
        owners: s.coworker_names()?,
        account_names,
    })
}

impl Home {
    fn account_of(&self, r: &Record) -> Option<RecordLink> {
        r.get_ref("account_id").map(|a| RecordLink {
            id: a.to_string(),
            name: self.account_names.get(&a).cloned().unwrap_or_else(|| "account".into()),
        })
    }

    fn owner_of(&self, r: &Record, k: &RecordKind) -> String {
        r.owner(k).and_then(|o| self.owners.get(&o).cloned()).unwrap_or_default()
    }

    fn team_section(&self, t: &TeamOverview) -> TeamSection {
        let overdue = t.overdue_tasks.iter().map(|task| OverdueRow {
            due: show(&record::TASKS, task, "due_date"),
            title: show(&record::TASKS, task, "title"),
            owner: self.owner_of(task, &record::TASKS),
            account: self.account_of(task),
        });
        let untouched = t.untouched_accounts.iter().map(|a| UntouchedRow {
            id: a.id,
            name: a.label(&record::ACCOUNTS),
            owner: self.owner_of(a, &record::ACCOUNTS),
        });
        TeamSection {
            scope: t.scope.into(),
            chart: pipeline_chart(&t.pipeline),
            overdue: overdue.collect(),
            untouched: untouched.collect(),
            exposure: self
                .exposure
                .iter()
                .map(|e| (e.name.clone(), e.email.clone(), e.accounts.len(), money(e.value_at_stake)))
                .collect(),
            single: self
                .coverage
                .iter()
                .filter(|r| r.single_threaded())
                .take(5)
                .map(|r| super::renewals::coverage_line(r, &self.owners, self.now))
                .collect(),
            senior: self
                .coverage
                .iter()
                .filter(|r| r.senior_overdue(self.now))
                .take(5)
                .map(|r| super::renewals::coverage_line(r, &self.owners, self.now))
                .collect(),
        }
    }

    fn task_rows(&self) -> Vec<TaskRow> {
        let today = date_of(self.now);
        self.tasks
            .iter()
            .map(|t| {
                let due = show(&record::TASKS, t, "due_date");
                TaskRow {
                    title: show(&record::TASKS, t, "title"),
                    overdue: !due.is_empty() && due < today,
                    due_date: due,
                    account: self.account_of(t),
                }
            })
            .collect()
    }

    fn account_rows(&self) -> Vec<AccountRow> {
        self.accounts
            .iter()
            .map(|a| {
                let touched = self.report.last_touch.get(&a.id).copied();
                AccountRow {
                    id: a.id,
                    name: show(&record::ACCOUNTS, a, "name"),
                    tier: show(&record::ACCOUNTS, a, "tier"),
                    lifecycle: show(&record::ACCOUNTS, a, "lifecycle"),
                    last_touch: touched.map(|t| format_timestamp(t)[..10].to_string()).unwrap_or_default(),
                    stale: touched.is_none_or(|t| self.now - t > 90 * MICROS_PER_DAY),
                }
            })
            .collect()
    }

    fn recent_rows(&self) -> Vec<RecentRow> {
        self.recent
            .iter()
            .map(|a| RecentRow {
                when: show(&record::ACTIVITIES, a, "occurred_at"),
                kind: show(&record::ACTIVITIES, a, "type"),
                summary: show(&record::ACTIVITIES, a, "summary").chars().take(140).collect(),
                account: self.account_of(a),
            })
            .collect()
    }

    fn deal_rows(&self) -> Vec<DealRow> {
        self.deals
            .iter()
            .map(|d| DealRow { account: self.account_of(d).map(|a| a.name).unwrap_or_default(), ..deal_row(d) })
            .collect()
    }
}

pub async fn home(State(s): State<AppState>, user: PageUser) -> PageResult {
    let h = user.call(&s, load).await?;
    let me = user.me();
    let first_name = me.as_ref().map(|m| m.name.split(' ').next().unwrap_or("").to_string()).unwrap_or_default();
    let page = HomePage {
        me,
        team: h.team.as_ref().map(|t| h.team_section(t)),
        first_name,
        deals: h.deal_rows(),
        tasks: h.task_rows(),
        accounts: h.account_rows(),
        recent: h.recent_rows(),
        week_scope: h.report.scope,
        my_pipeline: pipeline_chart(&h.report.my_pipeline),
        week_chart: week_chart(&h.report.per_week, h.now),
    };
    Ok(render(&page, StatusCode::OK))
}
