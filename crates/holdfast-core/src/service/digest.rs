//! The weekly coverage digest for those who lead people: the accounts of their people that came to
//! hang on one co-worker in the last week, and those overdue for senior contact, most valuable
//! first. Shown in the app (`/coverage/digest`) and mailed once a week through the admin's SMTP
//! server, each mail a `digest.sent` system event (it carries customer names out of the building).

use std::collections::{HashMap, HashSet};

use serde_json::json;
use uuid::Uuid;

use super::alerts::{AlertEmail, AlertSender};
use super::exposure::CoverageRow;
use super::{Holdfast, append_events};
use crate::coworker::{Actor, CoWorker, Role};
use crate::error::CoreError;
use crate::event::NewEvent;
use crate::storage::Database;
use crate::time::MICROS_PER_DAY;

pub const DIGEST_SENT: &str = "digest.sent";
/// The week the last digests went out for (weeks counted from the epoch, starting on Mondays).
const DIGEST_WEEK_SETTING: &str = "coverage_digest_week";
/// Lines per list in a digest.
const DIGEST_LINES: usize = 20;

/// One leader's digest.
#[derive(Debug, Clone)]
pub struct Digest {
    /// Their people's accounts hanging on one co-worker now that did not a week ago.
    pub newly_single: Vec<CoverageRow>,
    /// Their people's accounts overdue for senior contact.
    pub senior_overdue: Vec<CoverageRow>,
    /// How many of their people's accounts hang on one co-worker in all.
    pub single_total: usize,
}

impl Digest {
    pub fn is_empty(&self) -> bool {
        self.newly_single.is_empty() && self.senior_overdue.is_empty()
    }

    fn body(&self, names: &HashMap<Uuid, String>, now: i64) -> String {
        let money = |cents: i64| format!("{}", cents / 100);
        let mut out = String::new();
        out.push_str(&format!(
            "New this week, hanging on one co-worker ({} of {} in all):\n",
            self.newly_single.len(),
            self.single_total
        ));
        for r in &self.newly_single {
            let only = r.coverage.coworkers.first().map(|c| c.1.clone()).unwrap_or_default();
            out.push_str(&format!("- {} ({} a year): only {only} talks to them\n", r.name, money(r.annual_value)));
        }
        out.push_str(&format!("\nSenior contact overdue ({}):\n", self.senior_overdue.len()));
        for r in &self.senior_overdue {
            let last = r
                .coverage
                .last_senior_contact
                .map(|t| format!("{} days ago", (now - t) / MICROS_PER_DAY))
                .unwrap_or_else(|| "none in 180 days".into());
            let owner = r.owner.and_then(|o| names.get(&o).cloned()).unwrap_or_default();
            out.push_str(&format!(
                "- {} ({} a year, owner {owner}): last senior contact {last}, every {} days for its tier\n",
                r.name,
                money(r.annual_value),
                r.coverage.cadence_days
            ));
        }
        out.push_str("\nOpen Holdfast (Exposure, Accounts by coverage) to act: bring a colleague to the next meeting, or schedule a senior check-in from the account page.\n");
        out
    }
}

/// Whose accounts a leader's digest covers: everyone's for directors and admins, else their people's
/// and their own.
fn in_scope(leader: &CoWorker, manages: &[Uuid], owner: Option<Uuid>) -> bool {
    matches!(leader.role, Role::Director | Role::Admin) || owner.is_some_and(|o| o == leader.id || manages.contains(&o))
}

impl<D: Database> Holdfast<D> {
    /// Accounts only one co-worker talked to in the 180 days before `at`.
    fn single_threaded_at(&self, at: i64) -> Result<HashSet<Uuid>, CoreError> {
        let since = at - super::COVERAGE_WINDOW_DAYS * MICROS_PER_DAY;
        let touches = self.db.read(|tx| Ok(tx.relationship_touches(since, Some(at), None)?))?;
        let mut per: HashMap<Uuid, usize> = HashMap::new();
        for t in touches {
            *per.entry(t.account).or_default() += 1;
        }
        Ok(per.into_iter().filter(|(_, n)| *n == 1).map(|(a, _)| a).collect())
    }

    /// Digests of every leader named, from one coverage report (as the scheduler reads it).
    fn digests_for(&self, leaders: &[(CoWorker, Vec<Uuid>)]) -> Result<Vec<Digest>, CoreError> {
        let now = self.now();
        let rows = self.coverage_report(&Actor::scheduler())?;
        let week_ago = self.single_threaded_at(now - 7 * MICROS_PER_DAY)?;
        let mut by_value: Vec<&CoverageRow> = rows.iter().collect();
        by_value.sort_by_key(|r| std::cmp::Reverse(r.annual_value));
        Ok(leaders
            .iter()
            .map(|(leader, manages)| {
                let mine: Vec<&&CoverageRow> = by_value.iter().filter(|r| in_scope(leader, manages, r.owner)).collect();
                Digest {
                    single_total: mine.iter().filter(|r| r.single_threaded()).count(),
                    newly_single: mine
                        .iter()
                        .filter(|r| r.single_threaded() && !week_ago.contains(&r.coverage.account))
                        .take(DIGEST_LINES)
                        .map(|r| (**r).clone())
                        .collect(),
                    senior_overdue: mine
                        .iter()
                        .filter(|r| r.annual_value > 0 && r.senior_overdue(now))
                        .take(DIGEST_LINES)
                        .map(|r| (**r).clone())
                        .collect(),
                }
            })
            .collect())
    }

    /// This week's digest for a co-worker who leads people (managers, directors, admins).
    pub fn coverage_digest(&self, actor: &Actor) -> Result<Digest, CoreError> {
        let Some(me) = actor.coworker.clone() else {
            return Err(CoreError::forbidden("the digest is for a co-worker who leads people"));
        };
        if me.role == Role::Rep {
            return Err(CoreError::forbidden("the coverage digest is for managers, directors and admins"));
        }
        let mut digests = self.digests_for(&[(me, actor.manages.clone())])?;
        digests.pop().ok_or_else(|| CoreError::forbidden("no digest"))
    }

    /// Mails this week's digests (once a week, whichever server gets there first) to every
    /// manager and director who may sign in, when the admin has set an SMTP server and there is
    /// something to say; each mail is a `digest.sent` event. How many went out.
    pub fn send_due_digests(&self, sender: &dyn AlertSender) -> Result<usize, CoreError> {
        Ok(self.on_one_server("weekly digests", || self.send_due_digests_round(sender))?.unwrap_or_default())
    }

    fn send_due_digests_round(&self, sender: &dyn AlertSender) -> Result<usize, CoreError> {
        let now = self.now();
        let week = ((now / MICROS_PER_DAY + 3) / 7).to_string();
        let settings = self.settings()?;
        let Some(smtp_url) = settings.alert_smtp_url.clone() else { return Ok(0) };
        let claimed = self.db.write(|tx| {
            if tx.get_setting(DIGEST_WEEK_SETTING)?.as_deref() == Some(week.as_str()) {
                return Ok(false);
            }
            tx.set_setting(DIGEST_WEEK_SETTING, &week)?;
            Ok(true)
        })?;
        if !claimed {
            return Ok(0);
        }
        let org = super::OrgChart {
            coworkers: self.db.read(|tx| Ok(tx.list_coworkers()?))?,
            teams: self.db.read(|tx| Ok(tx.list_teams()?))?,
        };
        let leaders: Vec<(CoWorker, Vec<Uuid>)> = org
            .coworkers
            .iter()
            .filter(|c| c.status.may_sign_in() && matches!(c.role, Role::Manager | Role::Director))
            .map(|c| (c.clone(), org.managed_by(c.id)))
            .collect();
        let names: HashMap<Uuid, String> = org.coworkers.iter().map(|c| (c.id, c.name.clone())).collect();
        let digests = self.digests_for(&leaders)?;
        let from = settings.alert_email_from.clone().unwrap_or_else(|| super::DEFAULT_EMAIL_FROM.into());
        let mut sent = 0;
        for ((leader, _), digest) in leaders.iter().zip(digests) {
            if digest.is_empty() {
                continue;
            }
            let email = AlertEmail {
                smtp_url: smtp_url.clone(),
                from: from.clone(),
                to: vec![leader.email.clone()],
                subject: format!(
                    "[Holdfast] This week: {} accounts newly on one co-worker, {} overdue for senior contact",
                    digest.newly_single.len(),
                    digest.senior_overdue.len()
                ),
                body: digest.body(&names, now),
            };
            let outcome = sender.send_email(&email);
            let rows = digest.newly_single.len() + digest.senior_overdue.len();
            let event = NewEvent::by(&Actor::scheduler(), self.now(), DIGEST_SENT)
                .object("coworker", leader.id)
                .rows(rows)
                .detail("to", json!(leader.email))
                .detail("newly_single", json!(digest.newly_single.len()))
                .detail("senior_overdue", json!(digest.senior_overdue.len()))
                .detail("error", json!(outcome.as_ref().err()));
            self.db.write(|tx| Ok(append_events(tx, vec![event])?))?;
            // a mail that could not go is recorded in its event; the next try is next week's
            if outcome.is_ok() {
                sent += 1;
            }
        }
        Ok(sent)
    }
}
