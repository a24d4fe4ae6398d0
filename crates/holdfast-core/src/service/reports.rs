//! The home pages' reports: a co-worker's last touches, activity per week and own pipeline; for
//! managers and admins their team's pipeline, overdue tasks and the accounts nobody has talked to.
//! Each is one recorded `report.read`.

use uuid::Uuid;

use super::Holdfast;
use crate::coworker::Actor;
use crate::error::CoreError;
use crate::event::{NewEvent, action};
use crate::record::{self, Record};
use crate::storage::{Database, StageTotal};
use serde_json::json;

/// Deals per stage in pipeline order, stages without deals included.
fn in_stage_order(counts: &[StageTotal<String>]) -> Vec<StageTotal> {
    record::DEAL_STAGES
        .iter()
        .map(|st| {
            let (deals, cents) = counts.iter().find(|p| p.stage == *st).map(|p| (p.deals, p.cents)).unwrap_or((0, 0));
            StageTotal { stage: *st, deals, cents }
        })
        .collect()
}

/// What a co-worker's home page summarizes besides their lists.
#[derive(Debug, Clone)]
pub struct HomeReport {
    /// When each of the given accounts was last called, emailed, met or noted (by anyone).
    pub last_touch: std::collections::HashMap<Uuid, i64>,
    /// Activities logged per week, oldest first, the last entry being the current week: the
    /// co-worker's own, or for a manager their team's, for an admin everyone's.
    pub per_week: Vec<i64>,
    /// Whose activities `per_week` counts: "you", "your team" or "everyone".
    pub scope: &'static str,
    /// The co-worker's own deals per stage, in pipeline order.
    pub my_pipeline: Vec<StageTotal>,
}

#[derive(Debug, Clone)]
pub struct TeamOverview {
    /// Deals and their amount per stage, in pipeline order.
    pub pipeline: Vec<StageTotal>,
    pub overdue_tasks: Vec<Record>,
    /// Accounts with no call, email, meeting or note in the last 90 days.
    pub untouched_accounts: Vec<Record>,
    /// Whose records these are: "everyone" or "your team".
    pub scope: &'static str,
}

impl<D: Database> Holdfast<D> {
    /// The home page's summary: last touch of the given accounts and activity per week over the
    /// last `weeks` weeks. Recorded as a report read.
    pub fn home_report(&self, actor: &Actor, accounts: &[Uuid], weeks: u32) -> Result<HomeReport, CoreError> {
        self.noting_refusals(
            actor,
            || "read the home page report".to_string(),
            || {
                let weeks = weeks.clamp(1, 104);
                let (owners, scope): (Option<Vec<Uuid>>, &'static str) = if actor.is_admin() {
                    (None, "everyone")
                } else if !actor.manages.is_empty() {
                    (Some(actor.manages.iter().copied().chain(actor.id()).collect()), "your team")
                } else {
                    (Some(actor.id().into_iter().collect()), "you")
                };
                let now = self.now();
                let week = 7 * crate::time::MICROS_PER_DAY;
                let since = now - i64::from(weeks) * week;
                let (touches, counts, pipeline) = self.db.read(|tx| {
                    let policy = self.read_policy(tx)?;
                    // Only accounts the actor may read are summarized.
                    let mut allowed = Vec::with_capacity(accounts.len());
                    let asked: Vec<Uuid> = accounts.iter().take(500).copied().collect();
                    for acc in tx.get_records(&record::ACCOUNTS, &asked)? {
                        if self.may_open(tx, actor, policy, &record::ACCOUNTS, &acc)? {
                            allowed.push(acc.id);
                        }
                    }
                    let mine: Vec<Uuid> = actor.id().into_iter().collect();
                    Ok((
                        tx.last_touches(&allowed)?,
                        tx.activities_per_week(owners.as_deref(), since)?,
                        tx.deal_pipeline(Some(&mine))?,
                    ))
                })?;
                let mut per_week = vec![0; weeks as usize];
                for (w, n) in counts {
                    if let Some(slot) = usize::try_from(w).ok().and_then(|w| per_week.get_mut(w)) {
                        *slot += n;
                    }
                }
                self.record_read(vec![
                    NewEvent::by(actor, now, action::REPORT_READ)
                        .rows(touches.len())
                        .detail("report", json!("home"))
                        .detail("weeks", json!(weeks)),
                ])?;
                Ok(HomeReport {
                    last_touch: touches.into_iter().collect(),
                    per_week,
                    scope,
                    my_pipeline: in_stage_order(&pipeline),
                })
            },
        )
    }

    /// The team overview for a manager (their reports and themselves) or an admin (everyone).
    pub fn team_overview(&self, actor: &Actor) -> Result<TeamOverview, CoreError> {
        self.noting_refusals(
            actor,
            || "read the team overview".to_string(),
            || {
                let owners: Option<Vec<Uuid>> = if actor.is_admin() {
                    None
                } else if actor.manages.is_empty() {
                    return Err(CoreError::forbidden("the team overview is for managers and admins"));
                } else {
                    let mut o = actor.manages.clone();
                    o.extend(actor.id());
                    Some(o)
                };
                let now = self.now();
                let today = crate::time::date_of(now);
                let (pipeline, overdue, untouched) = self.db.read(|tx| {
                    let o = owners.as_deref();
                    Ok((
                        tx.deal_pipeline(o)?,
                        tx.overdue_tasks(o, &today, 25)?,
                        tx.untouched_accounts(o, now - 90 * crate::time::MICROS_PER_DAY, 25)?,
                    ))
                })?;
                let pipeline = in_stage_order(&pipeline);
                let deals: i64 = pipeline.iter().map(|p| p.deals).sum();
                self.record_read(vec![
                    NewEvent::by(actor, now, action::REPORT_READ)
                        .rows(overdue.len() + untouched.len())
                        .detail("report", json!("team_overview"))
                        .detail("deals_summarized", json!(deals)),
                ])?;
                Ok(TeamOverview {
                    pipeline,
                    overdue_tasks: overdue,
                    untouched_accounts: untouched,
                    scope: if owners.is_none() { "everyone" } else { "your team" },
                })
            },
        )
    }
}
