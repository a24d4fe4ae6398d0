//! Coverage and walk-out exposure: which customers hang on one co-worker, and what the company
//! would have at stake if that co-worker left today.
//!
//! Both are worked out from activities over a window (180 days): a co-worker has a live
//! relationship with an account when they logged, or took part in, one of its calls, emails,
//! meetings or notes in the window. Exposure is the accounts where one co-worker holds the only
//! live relationship, with their annual value, open pipeline and renewals in the next 90 days.
//! Reading either is a report, recorded as a `report.read` system event.

use std::collections::{BTreeSet, HashMap};

use serde_json::json;
use uuid::Uuid;

use super::Holdfast;
use crate::coworker::{Actor, CoWorker, Role, Seniority};
use crate::error::CoreError;
use crate::event::{NewEvent, action};
use crate::record::{ACCOUNTS, ACTIVITIES, Record, Value};
use crate::storage::{Database, RecordQuery};
use crate::time::{MICROS_PER_DAY, date_of};

/// The window a relationship counts as live in.
pub const COVERAGE_WINDOW_DAYS: i64 = 180;
/// Renewals counted in exposure: this many days ahead.
pub const RENEWAL_WINDOW_DAYS: i64 = 90;

/// How often someone senior should be in touch, by the account's tier (days).
pub fn senior_cadence_days(tier: Option<&str>) -> i64 {
    match tier {
        Some("strategic") => 60,
        Some("enterprise") => 90,
        Some("mid_market") => 120,
        _ => 180,
    }
}

/// One account that would walk out with a co-worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExposedAccount {
    pub id: Uuid,
    pub name: String,
    pub annual_value: i64,
    pub open_pipeline: i64,
    pub renewals: i64,
    /// Their last activity with it.
    pub last_touch: i64,
}

/// What walks out if one co-worker leaves today.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exposure {
    pub coworker_id: Uuid,
    pub email: String,
    pub name: String,
    /// Accounts where they hold the only live relationship, most valuable first.
    pub accounts: Vec<ExposedAccount>,
    /// Annual value of those accounts, cents.
    pub value_at_stake: i64,
    pub open_pipeline: i64,
    pub renewals: i64,
}

/// An account's coverage: a score out of 100 and the plain reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountCoverage {
    pub account: Uuid,
    pub score: i64,
    pub reason: String,
    /// Co-workers with a live relationship, most activities first: id, name, activities.
    pub coworkers: Vec<(Uuid, String, i64)>,
    /// Distinct contacts the company talked to in the window.
    pub contacts: usize,
    /// When someone senior (a manager, director or executive) last took part, if ever.
    pub last_senior_contact: Option<i64>,
    /// How often someone senior should be in touch, for the account's tier.
    pub cadence_days: i64,
    /// Share of the window's activities made by the busiest co-worker, percent.
    pub top_share: i64,
}

fn senior(c: &CoWorker) -> bool {
    matches!(c.seniority, Seniority::Manager | Seniority::Executive) || matches!(c.role, Role::Manager | Role::Director)
}

impl<D: Database> Holdfast<D> {
    /// Walk-out exposure of every co-worker the actor may review (admins and directors:
    /// everyone; managers: the people they manage and themselves; reps: themselves), riskiest
    /// (most value at stake) first; co-workers with nothing at stake are left out.
    pub fn exposure(&self, actor: &Actor) -> Result<Vec<Exposure>, CoreError> {
        self.noting_refusals(
            actor,
            || "read the walk-out exposure report".to_string(),
            || {
                let now = self.now();
                let since = now - COVERAGE_WINDOW_DAYS * MICROS_PER_DAY;
                let (touches, stakes, coworkers) = self.db.read(|tx| {
                    let today = date_of(now);
                    let until = date_of(now + RENEWAL_WINDOW_DAYS * MICROS_PER_DAY);
                    Ok((tx.relationship_touches(since)?, tx.account_stakes(&today, &until)?, tx.list_coworkers()?))
                })?;
                let mut who: HashMap<Uuid, Vec<(Uuid, i64)>> = HashMap::new();
                for t in &touches {
                    who.entry(t.account).or_default().push((t.coworker, t.last_at));
                }
                let stakes: HashMap<Uuid, _> = stakes.into_iter().map(|s| (s.id, s)).collect();
                let mut per: HashMap<Uuid, Vec<ExposedAccount>> = HashMap::new();
                for (account, people) in who {
                    let [(only, last)] = people.as_slice() else { continue };
                    let Some(stake) = stakes.get(&account) else { continue };
                    per.entry(*only).or_default().push(ExposedAccount {
                        id: account,
                        name: stake.name.clone(),
                        annual_value: stake.annual_value,
                        open_pipeline: stake.open_pipeline,
                        renewals: stake.renewals,
                        last_touch: *last,
                    });
                }
                let visible = |c: &CoWorker| {
                    actor.is_admin()
                        || actor.id().is_none()
                        || actor.id() == Some(c.id)
                        || actor.manages.contains(&c.id)
                };
                let mut out: Vec<Exposure> = coworkers
                    .iter()
                    .filter(|c| visible(c))
                    .filter_map(|c| {
                        let mut accounts = per.remove(&c.id)?;
                        accounts.sort_by(|a, b| b.annual_value.cmp(&a.annual_value).then_with(|| a.name.cmp(&b.name)));
                        Some(Exposure {
                            coworker_id: c.id,
                            email: c.email.clone(),
                            name: c.name.clone(),
                            value_at_stake: accounts.iter().map(|a| a.annual_value).sum(),
                            open_pipeline: accounts.iter().map(|a| a.open_pipeline).sum(),
                            renewals: accounts.iter().map(|a| a.renewals).sum(),
                            accounts,
                        })
                    })
                    .collect();
                out.sort_by(|a, b| {
                    b.value_at_stake
                        .cmp(&a.value_at_stake)
                        .then_with(|| b.accounts.len().cmp(&a.accounts.len()))
                        .then_with(|| a.email.cmp(&b.email))
                });
                let rows: usize = out.iter().map(|e| e.accounts.len()).sum();
                self.record_read(vec![
                    NewEvent::by(actor, now, action::REPORT_READ)
                        .rows(rows)
                        .detail("report", json!("exposure"))
                        .detail("coworkers", json!(out.len())),
                ])?;
                Ok(out)
            },
        )
    }

    /// An account's coverage (the account is opened as a recorded read, under the read policy).
    pub fn account_coverage(&self, actor: &Actor, account: Uuid) -> Result<AccountCoverage, CoreError> {
        let acc = self.get_record(actor, &ACCOUNTS, account)?;
        let now = self.now();
        let (activities, coworkers) = self.db.read(|tx| {
            let query = RecordQuery {
                filters: vec![("account_id", Value::Text(account.to_string()))],
                sort: "occurred_at",
                descending: true,
                limit: 5_000,
                ..Default::default()
            };
            Ok((tx.list_records(&ACTIVITIES, &query)?, tx.list_coworkers()?))
        })?;
        Ok(assess(&acc, &activities, &coworkers, now))
    }
}

/// An account's coverage from its activities (any order) and the co-workers (for names and
/// seniority), as of `now`: the score out of 100 and the plain reason.
pub fn assess(acc: &Record, activities: &[Record], coworkers: &[CoWorker], now: i64) -> AccountCoverage {
    let account = acc.id;
    let since = now - COVERAGE_WINDOW_DAYS * MICROS_PER_DAY;
    let people: HashMap<Uuid, &CoWorker> = coworkers.iter().map(|c| (c.id, c)).collect();
    let mut counts: HashMap<Uuid, i64> = HashMap::new();
    let mut contacts = BTreeSet::new();
    let mut last_senior: Option<i64> = None;
    for a in activities.iter().filter(|a| a.deleted_at.is_none()) {
        let at = a.get("occurred_at").as_int().unwrap_or(0);
        let mut ours: BTreeSet<Uuid> = a.owner(&ACTIVITIES).into_iter().collect();
        ours.extend(a.links.get("coworker_ids").into_iter().flatten().copied());
        if ours.iter().any(|c| people.get(c).is_some_and(|c| senior(c))) {
            last_senior = Some(last_senior.map_or(at, |l: i64| l.max(at)));
        }
        if at < since {
            continue;
        }
        for c in ours {
            *counts.entry(c).or_default() += 1;
        }
        contacts.extend(a.links.get("contact_ids").into_iter().flatten().copied());
    }
    let mut talking: Vec<(Uuid, String, i64)> = counts
        .iter()
        .map(|(id, n)| (*id, people.get(id).map_or_else(|| "someone".to_string(), |c| c.name.clone()), *n))
        .collect();
    talking.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.1.cmp(&b.1)));
    let cadence = senior_cadence_days(acc.get("tier").as_text());
    let senior_days = last_senior.map(|t| (now - t) / MICROS_PER_DAY);
    let senior_ok = senior_days.is_some_and(|d| d <= cadence);
    // The busiest co-worker's share of all the co-workers' part in the window's activities.
    let touches: i64 = talking.iter().map(|t| t.2).sum();
    let top_share = match talking.first() {
        Some(top) if touches > 0 => top.2 * 100 / touches,
        _ => 0,
    };
    let mut score = match talking.len() {
        0 => 0,
        1 => 15,
        2 => 30,
        _ => 40,
    } + match contacts.len() {
        0 => 0,
        1 => 10,
        2 => 20,
        _ => 30,
    };
    if senior_ok {
        score += 20;
    }
    if talking.len() >= 2 && top_share <= 60 {
        score += 10;
    }
    let name = acc.label(&ACCOUNTS);
    let mut reasons = Vec::new();
    match talking.as_slice() {
        [] => reasons.push(format!("nobody has spoken to anyone at {name} in {COVERAGE_WINDOW_DAYS} days")),
        [(_, only, _)] => {
            reasons.push(format!("only {only} has spoken to anyone at {name} in {COVERAGE_WINDOW_DAYS} days"))
        }
        [(_, top, _), ..] if top_share > 60 => reasons
            .push(format!("{} co-workers talk to {name}, but {top} takes part in {top_share}% of it", talking.len())),
        _ => reasons.push(format!(
            "{} co-workers talk to {} at {name}",
            talking.len(),
            if contacts.len() == 1 { "1 contact".to_string() } else { format!("{} contacts", contacts.len()) }
        )),
    }
    if !talking.is_empty() && contacts.len() <= 1 {
        reasons.push(if contacts.is_empty() {
            "no contact is named in the activities".to_string()
        } else {
            "only one contact is spoken to".to_string()
        });
    }
    reasons.push(match senior_days {
        None => "no senior contact on record".to_string(),
        Some(d) if d > cadence => format!("no senior contact for {d} days (every {cadence} for its tier)"),
        Some(d) => format!("senior contact {d} days ago"),
    });
    AccountCoverage {
        account,
        score: score.min(100),
        reason: reasons.join("; "),
        coworkers: talking,
        contacts: contacts.len(),
        last_senior_contact: last_senior,
        cadence_days: cadence,
        top_share,
    }
}
