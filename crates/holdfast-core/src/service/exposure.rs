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
use crate::storage::{AccountStake, Database, ExposureSnapshot, RecordQuery, Relationship};
use crate::time::{MICROS_PER_DAY, date_of};

/// The window a relationship counts as live in.
pub const COVERAGE_WINDOW_DAYS: i64 = 180;
/// Renewals counted in exposure: this many days ahead.
pub const RENEWAL_WINDOW_DAYS: i64 = 90;

/// The setting holding the senior-contact cadences.
pub const CADENCE_SETTING: &str = "senior_cadence";

/// How often someone senior should be in touch with an account, by its tier (days); the admin
/// sets them (`strategic=60, enterprise=90, mid_market=120, smb=180` by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cadences {
    pub strategic: i64,
    pub enterprise: i64,
    pub mid_market: i64,
    /// Small businesses and accounts without a tier.
    pub smb: i64,
}

impl Default for Cadences {
    fn default() -> Self {
        Cadences { strategic: 60, enterprise: 90, mid_market: 120, smb: 180 }
    }
}

impl Cadences {
    pub fn days(&self, tier: Option<&str>) -> i64 {
        match tier {
            Some("strategic") => self.strategic,
            Some("enterprise") => self.enterprise,
            Some("mid_market") => self.mid_market,
            _ => self.smb,
        }
    }

    /// `strategic=60, enterprise=90, mid_market=120, smb=180`; tiers left out keep their
    /// default; each from 7 to 365 days (a senior look beyond the coverage window of 180 days is
    /// still counted from the whole history on the account page).
    pub fn parse(text: &str) -> Result<Cadences, String> {
        let mut c = Cadences::default();
        for part in text.split([',', ';', '\n']).map(str::trim).filter(|p| !p.is_empty()) {
            let (tier, days) =
                part.split_once('=').ok_or_else(|| format!("'{part}' is not tier=days, e.g. strategic=60"))?;
            let days: i64 = days.trim().parse().map_err(|_| format!("'{}' is not a number of days", days.trim()))?;
            if !(7..=365).contains(&days) {
                return Err(format!("{} days: keep each cadence between 7 and 365 days", days));
            }
            match tier.trim() {
                "strategic" => c.strategic = days,
                "enterprise" => c.enterprise = days,
                "mid_market" => c.mid_market = days,
                "smb" => c.smb = days,
                other => return Err(format!("'{other}' is not a tier; use strategic, enterprise, mid_market or smb")),
            }
        }
        Ok(c)
    }

    pub fn to_text(&self) -> String {
        format!(
            "strategic={}, enterprise={}, mid_market={}, smb={}",
            self.strategic, self.enterprise, self.mid_market, self.smb
        )
    }
}

/// How often someone senior should be in touch, by the account's tier (days), by default.
pub fn senior_cadence_days(tier: Option<&str>) -> i64 {
    Cadences::default().days(tier)
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

/// The accounts each co-worker alone talks to, from the window's touches.
fn exposed_by(
    relationships: impl IntoIterator<Item = Relationship>,
    stakes: &HashMap<Uuid, AccountStake>,
) -> HashMap<Uuid, Vec<ExposedAccount>> {
    let mut who: HashMap<Uuid, Vec<(Uuid, i64)>> = HashMap::new();
    for t in relationships {
        who.entry(t.account).or_default().push((t.coworker, t.last_at));
    }
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
    per
}

/// Admins and directors see everyone's exposure, managers their people's, everyone their own.
fn may_see_exposure(actor: &Actor, coworker: Uuid) -> bool {
    actor.is_admin() || actor.id().is_none() || actor.id() == Some(coworker) || actor.manages.contains(&coworker)
}

/// Walk-out exposure at one month's end, for the trend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrendMonth {
    /// `YYYY-MM`.
    pub month: String,
    /// Accounts only one co-worker talked to in the 180 days before the month's end.
    pub accounts: i64,
    /// Their annual value (today's), cents.
    pub value_at_stake: i64,
    /// The month under way (as of now, not its end).
    pub current: bool,
}

/// The first instant of the month `back` months before the one `now` is in, and its `YYYY-MM`.
fn month_start(now: i64, back: i64) -> (i64, String) {
    let today = date_of(now);
    let year: i64 = today.get(..4).and_then(|y| y.parse().ok()).unwrap_or(1970);
    let month: i64 = today.get(5..7).and_then(|m| m.parse().ok()).unwrap_or(1);
    let index = year * 12 + (month - 1) - back;
    let (y, m) = (index.div_euclid(12), index.rem_euclid(12) + 1);
    let label = format!("{y:04}-{m:02}");
    let start = crate::time::parse_timestamp(&format!("{label}-01T00:00:00Z")).unwrap_or(now);
    (start, label)
}

impl<D: Database> Holdfast<D> {
    /// Walk-out exposure month by month: the value at stake at the end of each of the last
    /// `months` months (those the actor may see, summed), and now. A past month is worked out once
    /// (over the 180 days before its end, at today's account values) and kept.
    pub fn exposure_trend(&self, actor: &Actor, months: usize) -> Result<Vec<TrendMonth>, CoreError> {
        let now = self.now();
        let months = months.clamp(1, 24) as i64;
        // (month label, its end) for the months before the current one, oldest first.
        let ends: Vec<(String, i64)> =
            (1..=months).rev().map(|back| (month_start(now, back).1, month_start(now, back - 1).0)).collect();
        let labels: Vec<String> = ends.iter().map(|(l, _)| l.clone()).collect();
        let mut kept = self.db.read(|tx| Ok(tx.exposure_snapshots(&labels)?))?;
        let missing: Vec<&(String, i64)> = ends.iter().filter(|(l, _)| !kept.iter().any(|k| &k.month == l)).collect();
        if !missing.is_empty() {
            let fresh = self.db.write(|tx| {
                let today = date_of(now);
                let stakes: HashMap<Uuid, AccountStake> =
                    tx.account_stakes(&today, &today)?.into_iter().map(|s| (s.id, s)).collect();
                let mut rows = Vec::new();
                for (label, end) in &missing {
                    let touches =
                        tx.relationship_touches(end - COVERAGE_WINDOW_DAYS * MICROS_PER_DAY, Some(*end), None)?;
                    let relationships = touches.iter().map(|t| Relationship {
                        account: t.account,
                        coworker: t.coworker,
                        last_at: t.last_at,
                    });
                    let per = exposed_by(relationships, &stakes);
                    if per.is_empty() {
                        rows.push(ExposureSnapshot {
                            month: label.clone(),
                            coworker_id: Uuid::nil(),
                            accounts: 0,
                            value_at_stake: 0,
                            taken_at: now,
                        });
                    }
                    rows.extend(per.into_iter().map(|(who, accounts)| ExposureSnapshot {
                        month: label.clone(),
                        coworker_id: who,
                        accounts: accounts.len() as i64,
                        value_at_stake: accounts.iter().map(|a| a.annual_value).sum(),
                        taken_at: now,
                    }));
                }
                tx.insert_exposure_snapshots(&rows)?;
                Ok(rows)
            })?;
            kept.extend(fresh);
        }
        let mut out: Vec<TrendMonth> = ends
            .iter()
            .map(|(label, _)| {
                let rows = kept.iter().filter(|k| &k.month == label && may_see_exposure(actor, k.coworker_id));
                let (accounts, value) = rows.fold((0, 0), |(a, v), k| (a + k.accounts, v + k.value_at_stake));
                TrendMonth { month: label.clone(), accounts, value_at_stake: value, current: false }
            })
            .collect();
        let live = self.exposure(actor)?;
        out.push(TrendMonth {
            month: month_start(now, 0).1,
            accounts: live.iter().map(|e| e.accounts.len() as i64).sum(),
            value_at_stake: live.iter().map(|e| e.value_at_stake).sum(),
            current: true,
        });
        Ok(out)
    }

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
                let (relationships, stakes, coworkers) = self.db.read(|tx| {
                    let today = date_of(now);
                    let until = date_of(now + RENEWAL_WINDOW_DAYS * MICROS_PER_DAY);
                    Ok((tx.live_relationships(since)?, tx.account_stakes(&today, &until)?, tx.list_coworkers()?))
                })?;
                let stakes: HashMap<Uuid, _> = stakes.into_iter().map(|s| (s.id, s)).collect();
                let mut per = exposed_by(relationships, &stakes);
                let visible = |c: &CoWorker| may_see_exposure(actor, c.id);
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
        let cadences = self.settings()?.senior_cadence;
        Ok(assess(&acc, &activities, &coworkers, &cadences, now))
    }
}

/// An account's coverage from its activities (any order) and the co-workers (for names and
/// seniority), as of `now`: the score out of 100 and the plain reason.
pub fn assess(
    acc: &Record,
    activities: &[Record],
    coworkers: &[CoWorker],
    cadences: &Cadences,
    now: i64,
) -> AccountCoverage {
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
    let inputs = CoverageInputs { counts, contacts: contacts.len(), last_senior, whole_history: true };
    let cadence = cadences.days(acc.get("tier").as_text());
    judge(acc.id, &acc.label(&ACCOUNTS), cadence, inputs, &people, now)
}

/// What a coverage score is made of: activities per co-worker and distinct contacts in the
/// window, and the last senior contact (over the whole history, or only within the window).
#[derive(Default)]
struct CoverageInputs {
    counts: HashMap<Uuid, i64>,
    contacts: usize,
    last_senior: Option<i64>,
    /// `last_senior` was looked for over every activity, not only the window's.
    whole_history: bool,
}

/// The score and the plain reason: one set of rules for the account page and the reports.
fn judge(
    account: Uuid,
    name: &str,
    cadence: i64,
    inputs: CoverageInputs,
    people: &HashMap<Uuid, &CoWorker>,
    now: i64,
) -> AccountCoverage {
    let CoverageInputs { counts, contacts, last_senior, whole_history } = inputs;
    let mut talking: Vec<(Uuid, String, i64)> = counts
        .iter()
        .map(|(id, n)| (*id, people.get(id).map_or_else(|| "someone".to_string(), |c| c.name.clone()), *n))
        .collect();
    talking.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.1.cmp(&b.1)));
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
    } + match contacts {
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
            if contacts == 1 { "1 contact".to_string() } else { format!("{contacts} contacts") }
        )),
    }
    if !talking.is_empty() && contacts <= 1 {
        reasons.push(if contacts == 0 {
            "no contact is named in the activities".to_string()
        } else {
            "only one contact is spoken to".to_string()
        });
    }
    reasons.push(match senior_days {
        None if whole_history => "no senior contact on record".to_string(),
        None => format!("no senior contact in {COVERAGE_WINDOW_DAYS} days"),
        Some(d) if d > cadence => format!("no senior contact for {d} days (every {cadence} for its tier)"),
        Some(d) => format!("senior contact {d} days ago"),
    });
    AccountCoverage {
        account,
        score: score.min(100),
        reason: reasons.join("; "),
        coworkers: talking,
        contacts,
        last_senior_contact: last_senior,
        cadence_days: cadence,
        top_share,
    }
}

/// One account in the coverage report: its coverage and what it is worth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoverageRow {
    pub coverage: AccountCoverage,
    pub name: String,
    pub tier: Option<String>,
    pub owner: Option<Uuid>,
    /// Cents.
    pub annual_value: i64,
    pub open_pipeline: i64,
    /// Contracts renewing in the next 90 days.
    pub renewals: i64,
}

impl CoverageRow {
    /// One co-worker holds the whole relationship.
    pub fn single_threaded(&self) -> bool {
        self.coverage.coworkers.len() == 1
    }
    /// Someone senior should have been in touch by now.
    pub fn senior_overdue(&self, now: i64) -> bool {
        self.coverage.last_senior_contact.is_none_or(|t| (now - t) / MICROS_PER_DAY > self.coverage.cadence_days)
    }
}

/// A contract coming up for renewal, with its account's coverage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenewalRow {
    pub renewal: crate::storage::Renewal,
    pub coverage: AccountCoverage,
}

impl<D: Database> Holdfast<D> {
    /// Coverage of these accounts (all when `None`) from the window's aggregates: one pass over
    /// the activities, however many accounts.
    fn coverage_of(
        &self,
        tx: &mut dyn crate::storage::Tx,
        accounts: Option<&[Uuid]>,
        names: &HashMap<Uuid, (String, Option<String>)>,
        now: i64,
    ) -> Result<HashMap<Uuid, AccountCoverage>, CoreError> {
        let since = now - COVERAGE_WINDOW_DAYS * MICROS_PER_DAY;
        let touches = tx.relationship_touches(since, None, accounts)?;
        let contacts: HashMap<Uuid, i64> = tx.account_contacts(since, accounts)?.into_iter().collect();
        let coworkers = tx.list_coworkers()?;
        let cadences = self.settings_in(tx)?.senior_cadence;
        let people: HashMap<Uuid, &CoWorker> = coworkers.iter().map(|c| (c.id, c)).collect();
        let mut inputs: HashMap<Uuid, CoverageInputs> = HashMap::new();
        for t in touches {
            let entry = inputs.entry(t.account).or_default();
            entry.counts.insert(t.coworker, t.activities);
            if people.get(&t.coworker).is_some_and(|c| senior(c)) {
                entry.last_senior = Some(entry.last_senior.map_or(t.last_at, |l| l.max(t.last_at)));
            }
        }
        let mut out = HashMap::new();
        for (id, (name, tier)) in names {
            let mut i = inputs.remove(id).unwrap_or_default();
            i.contacts = contacts.get(id).copied().unwrap_or(0) as usize;
            out.insert(*id, judge(*id, name, cadences.days(tier.as_deref()), i, &people, now));
        }
        Ok(out)
    }

    /// Every account the actor may read, weakest coverage first (then the most valuable), with
    /// what it is worth: the report behind the coverage column, the director's home and the
    /// digest. Recorded as a `report.read`.
    pub fn coverage_report(&self, actor: &Actor) -> Result<Vec<CoverageRow>, CoreError> {
        let now = self.now();
        let rows = self.db.read(|tx| {
            let today = date_of(now);
            let until = date_of(now + RENEWAL_WINDOW_DAYS * MICROS_PER_DAY);
            let owners = crate::access::readable_owners(actor, self.read_policy(tx)?);
            let stakes: Vec<_> = tx
                .account_stakes(&today, &until)?
                .into_iter()
                .filter(|s| owners.as_ref().is_none_or(|o| s.owner.is_some_and(|w| o.contains(&w))))
                .collect();
            let names = stakes.iter().map(|s| (s.id, (s.name.clone(), s.tier.clone()))).collect();
            let mut coverage = self.coverage_of(tx, None, &names, now)?;
            Ok(stakes
                .into_iter()
                .filter_map(|s| {
                    Some(CoverageRow {
                        coverage: coverage.remove(&s.id)?,
                        name: s.name,
                        tier: s.tier,
                        owner: s.owner,
                        annual_value: s.annual_value,
                        open_pipeline: s.open_pipeline,
                        renewals: s.renewals,
                    })
                })
                .collect::<Vec<_>>())
        })?;
        let mut rows = rows;
        rows.sort_by(|a, b| {
            a.coverage
                .score
                .cmp(&b.coverage.score)
                .then_with(|| b.annual_value.cmp(&a.annual_value))
                .then_with(|| a.name.cmp(&b.name))
        });
        self.record_read(vec![
            NewEvent::by(actor, now, action::REPORT_READ).rows(rows.len()).detail("report", json!("coverage")),
        ])?;
        Ok(rows)
    }

    /// Coverage scores and reasons of accounts the actor has on a page (the list's column); the
    /// list read itself is the recorded one.
    pub fn coverage_scores(&self, ids: &[Uuid]) -> Result<HashMap<Uuid, AccountCoverage>, CoreError> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let now = self.now();
        self.db.read(|tx| {
            let accounts = tx.get_records(&ACCOUNTS, ids)?;
            let names = accounts
                .iter()
                .map(|a| (a.id, (a.label(&ACCOUNTS), a.get("tier").as_text().map(String::from))))
                .collect();
            self.coverage_of(tx, Some(ids), &names, now)
        })
    }

    /// Contracts renewing in the next `days` days (at most 500) on accounts the actor may read,
    /// soonest first, each with its account's coverage. Recorded as a `report.read`.
    pub fn renewals(&self, actor: &Actor, days: i64) -> Result<Vec<RenewalRow>, CoreError> {
        let now = self.now();
        let days = days.clamp(1, 730);
        let rows = self.db.read(|tx| {
            let owners = crate::access::readable_owners(actor, self.read_policy(tx)?);
            let renewals: Vec<_> = tx
                .upcoming_renewals(&date_of(now), &date_of(now + days * MICROS_PER_DAY), 500)?
                .into_iter()
                .filter(|r| owners.as_ref().is_none_or(|o| r.account_owner.is_some_and(|w| o.contains(&w))))
                .collect();
            let mut ids: Vec<Uuid> = renewals.iter().map(|r| r.account).collect();
            ids.sort();
            ids.dedup();
            let names = renewals.iter().map(|r| (r.account, (r.account_name.clone(), r.tier.clone()))).collect();
            let coverage = self.coverage_of(tx, Some(&ids), &names, now)?;
            Ok(renewals
                .into_iter()
                .filter_map(|r| Some(RenewalRow { coverage: coverage.get(&r.account)?.clone(), renewal: r }))
                .collect::<Vec<_>>())
        })?;
        self.record_read(vec![
            NewEvent::by(actor, now, action::REPORT_READ)
                .rows(rows.len())
                .detail("report", json!("renewals"))
                .detail("days", json!(days)),
        ])?;
        Ok(rows)
    }
}
