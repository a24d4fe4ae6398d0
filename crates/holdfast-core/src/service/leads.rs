//! Leads, from the door to the deal: capture (web-to-lead forms, the API, CSV, by hand) with
//! de-duplication at the door, a score that explains itself, routing to an active co-worker, the
//! speed-to-lead clock (escalation and re-routing), the figures, conversion that reuses the
//! contact and account it matches, and the re-engagement queue a leaver's leads go to.
//!
//! Long on purpose: every door shares one capture path ([`Holdfast::capture_in`]), and the rules
//! it applies (match, score, route, notify) read best beside it.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;

use serde_json::{Value as Json, json};
use uuid::Uuid;

use super::records::fields_json;
use super::{Holdfast, append_events};
use crate::access;
use crate::coworker::{Actor, Role, Status};
use crate::error::{CoreError, FieldError};
use crate::event::{NewEvent, action};
use crate::lead::{LEAD_RULES_SETTING, LeadMatch, LeadRules, Person, company_domain, match_lead};
use crate::record::{
    self, ACCOUNTS, ACTIVITIES, CONTACTS, Changes, DEALS, LEADS, Record, Value, parse_changes, phone_digits,
};
use crate::storage::{Database, LeadForm, Notification, RecordQuery, Tx};

pub const LEAD_CAPTURE: &str = "lead.capture";
pub const LEAD_ROUTE: &str = "lead.route";
pub const LEAD_ESCALATE: &str = "lead.escalate";
pub const LEAD_MERGE: &str = "lead.merge";
pub const LEAD_CONVERT: &str = "lead.convert";
pub const LEAD_FORM_CREATE: &str = "lead_form.create";
pub const LEAD_FORM_UPDATE: &str = "lead_form.update";
pub const LEAD_FORM_REFUSED: &str = "lead_form.refused";

/// Lead fields a web-to-lead form may ask for.
pub const FORM_FIELDS: &[&str] =
    &["first_name", "last_name", "email", "phone", "company", "title", "industry", "company_size", "country"];
/// Campaign fields a form keeps when the page passes them along.
pub const CAMPAIGN_FIELDS: &[&str] = &["utm_source", "utm_medium", "utm_campaign"];
/// The hidden field people leave empty and spam robots fill in.
pub const HONEYPOT_FIELD: &str = "hf_leave_empty";
/// Submissions one address may make per minute, and per hour.
pub const FORM_POSTS_PER_MINUTE: usize = 5;
pub const FORM_POSTS_PER_HOUR: usize = 30;

const MINUTE: i64 = 60 * 1_000_000;

/// Which door a lead came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Door {
    Form(Uuid),
    Api,
    Import,
    Hand,
}

impl Door {
    pub fn as_str(self) -> &'static str {
        match self {
            Door::Form(_) => "form",
            Door::Api => "api",
            Door::Import => "import",
            Door::Hand => "hand",
        }
    }
}

/// What capturing a lead did.
#[derive(Debug, Clone)]
pub struct Captured {
    pub lead: Record,
    /// It came in again: the existing lead was updated and touched.
    pub repeat: bool,
    /// Whom it was routed to, and why.
    pub routed: Option<(Uuid, String)>,
}

/// What a conversion made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversion {
    pub account_id: Uuid,
    pub contact_id: Uuid,
    /// Whether the account was created (rather than found).
    pub new_account: bool,
    /// Whether the contact was created (rather than the matching one reused).
    pub new_contact: bool,
    pub deal_id: Option<Uuid>,
}

/// A deal to open in the conversion's step.
#[derive(Debug, Clone, Default)]
pub struct ConversionDeal {
    pub name: Option<String>,
    pub amount: Option<Json>,
}

/// A new web-to-lead form.
#[derive(Debug, Clone, Default)]
pub struct NewLeadForm {
    pub name: String,
    pub fields: Vec<String>,
    pub redirect_url: Option<String>,
}

/// A public form submission, as posted.
#[derive(Debug, Clone, Default)]
pub struct Submission {
    pub values: BTreeMap<String, String>,
    pub client_addr: Option<String>,
    pub user_agent: Option<String>,
}

/// What the poster is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Submitted {
    /// Taken in (or a honeypot caught it, which is answered the same way).
    Received { redirect_url: Option<String> },
}

/// The speed-to-lead figures.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct LeadMetrics {
    pub days: i64,
    pub sla_minutes: i64,
    pub leads: usize,
    pub touched: usize,
    pub median_seconds_to_first_touch: Option<i64>,
    pub p90_seconds_to_first_touch: Option<i64>,
    /// Of the leads whose clock has run out or that were touched: the share touched in time.
    pub within_sla_share: Option<f64>,
    /// Qualified or converted, of the leads that reached a verdict.
    pub qualification_rate: Option<f64>,
    pub funnel: Vec<(String, usize)>,
    pub by_rep: Vec<MetricsRow>,
    pub by_source: Vec<MetricsRow>,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct MetricsRow {
    /// The co-worker's id or the source's word.
    pub key: String,
    pub label: String,
    pub leads: usize,
    pub median_seconds_to_first_touch: Option<i64>,
    pub within_sla_share: Option<f64>,
    pub qualification_rate: Option<f64>,
}

/// One entry on a lead's timeline.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TimelineEntry {
    pub at: i64,
    pub what: String,
    pub by: Option<String>,
}

/// Everything the lead page shows.
#[derive(Debug, Clone)]
pub struct LeadView {
    pub lead: Record,
    pub timeline: Vec<TimelineEntry>,
    /// Leads this one probably duplicates or that duplicate it.
    pub duplicates: Vec<Record>,
    pub activities: Vec<Record>,
}

/// What a CSV import of leads did (or, rehearsed, would do).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct LeadImportReport {
    pub dry_run: bool,
    pub rows: u64,
    pub created: u64,
    /// Rows whose email was already a lead's: that lead was updated.
    pub updated: u64,
    pub linked_to_contacts: u64,
    pub flagged_duplicates: u64,
    pub routed: u64,
    pub rejected: Vec<super::RejectedRow>,
    pub columns: Vec<(String, String)>,
}

/// Addresses the form limits remember at most; past that, addresses not seen in the last hour
/// are forgotten, and while it stays full, new addresses wait.
const FORM_LIMIT_ADDRESSES: usize = 100_000;

/// Per-address limits on public form posts (a sliding minute and hour), per server.
#[derive(Default)]
pub(crate) struct FormLimits(Mutex<HashMap<String, (VecDeque<i64>, i64)>>);

/// The address a poster is counted under: an IPv6 client by its /64 (one home or office gets a
/// whole /64 and may pick any address in it).
fn poster_key(addr: &str) -> String {
    match addr.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        _ => addr.to_string(),
    }
}

impl FormLimits {
    /// `None` when `addr` may post now (the post is counted); `Some(first)` when it may not,
    /// `first` for the first refusal of this address in the current minute.
    fn refuse(&self, addr: &str, now: i64) -> Option<bool> {
        let Ok(mut map) = self.0.lock() else { return Some(false) };
        let key = poster_key(addr);
        if !map.contains_key(&key) && map.len() >= FORM_LIMIT_ADDRESSES {
            map.retain(|_, (q, _)| q.back().is_some_and(|t| now - t < 60 * MINUTE));
            if map.len() >= FORM_LIMIT_ADDRESSES {
                return Some(false);
            }
        }
        let (q, refused_minute) = map.entry(key).or_default();
        while q.front().is_some_and(|t| now - t >= 60 * MINUTE) {
            q.pop_front();
        }
        let last_minute = q.iter().filter(|t| now - **t < MINUTE).count();
        if last_minute >= FORM_POSTS_PER_MINUTE || q.len() >= FORM_POSTS_PER_HOUR {
            let first = *refused_minute != now / MINUTE;
            *refused_minute = now / MINUTE;
            return Some(first);
        }
        q.push_back(now);
        None
    }
}

fn text_of(rec: &Record, field: &str) -> Option<String> {
    rec.get(field).as_text().map(str::to_string).filter(|t| !t.trim().is_empty())
}

fn percentile(sorted: &[i64], p: f64) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

/// Our lead field for a CSV column, whichever CRM wrote it (HubSpot and Salesforce exports).
fn lead_column(header: &str) -> Option<&'static str> {
    let h: String = header.chars().filter(|c| c.is_alphanumeric()).collect::<String>().to_lowercase();
    Some(match h.as_str() {
        "firstname" | "givenname" => "first_name",
        "lastname" | "surname" | "familyname" => "last_name",
        "email" | "emailaddress" | "workemail" => "email",
        "phone" | "phonenumber" | "mobilephone" | "mobilephonenumber" | "mobile" | "workphone" => "phone",
        "company" | "companyname" | "organization" | "organisation" | "account" | "accountname" => "company",
        "title" | "jobtitle" => "title",
        "industry" => "industry",
        "numberofemployees" | "noofemployees" | "employees" | "companysize" | "employeecount" => "company_size",
        "country" | "countryregion" | "countrycode" => "country",
        "leadsource" | "source" | "originalsource" => "source",
        "leadstatus" | "status" => "status",
        "owner" | "owneremail" | "leadowner" | "contactowner" | "leadowneremail" => "owner",
        "utmsource" => "utm_source",
        "utmmedium" => "utm_medium",
        "utmcampaign" => "utm_campaign",
        _ => return None,
    })
}

/// A source word from another CRM's "Lead Source" ("Web" → website, "Trade Show" → event).
fn source_word(raw: &str) -> Option<&'static str> {
    let s = raw.trim().to_lowercase();
    Some(match s.as_str() {
        "" => return None,
        x if x.contains("web") || x.contains("organic") || x.contains("direct") || x.contains("search") => "website",
        x if x.contains("refer") || x.contains("word of mouth") => "referral",
        x if x.contains("event") || x.contains("trade show") || x.contains("seminar") || x.contains("conference") => {
            "event"
        }
        x if x.contains("partner") => "partner",
        x if x.contains("outbound") || x.contains("cold") || x.contains("list") || x.contains("purchased") => {
            "outbound"
        }
        _ => "other",
    })
}

/// A status word from another CRM ("Open - Not Contacted" → new, "Working - Contacted" → working).
fn status_word(raw: &str) -> Option<&'static str> {
    let s = raw.trim().to_lowercase();
    Some(match s.as_str() {
        "" => return None,
        x if x.contains("unqualified") || x.contains("disqualified") || x.contains("bad") => "disqualified",
        x if x.contains("qualified") => "qualified",
        x if x.contains("working") || x.contains("contacted") || x.contains("progress") || x.contains("attempt") => {
            "working"
        }
        x if x.contains("convert") => "converted",
        _ => "new",
    })
}

impl<D: Database> Holdfast<D> {
    /// The lead rules in force.
    pub fn lead_rules(&self) -> Result<LeadRules, CoreError> {
        Ok(self.settings()?.lead_rules.clone())
    }

    /// Replaces the lead rules (admins). Every rule is checked, and every co-worker named must
    /// exist, before anything is saved.
    pub fn set_lead_rules(&self, actor: &Actor, rules: LeadRules) -> Result<LeadRules, CoreError> {
        self.require_admin(actor, "change the lead rules")?;
        rules.check()?;
        let text = serde_json::to_string(&rules).map_err(|e| CoreError::invalid("lead_rules", e.to_string()))?;
        self.db.write(|tx| {
            let known: Vec<Uuid> = tx.list_coworkers()?.iter().map(|c| c.id).collect();
            let mut errors = Vec::new();
            let named = rules
                .routing
                .iter()
                .flat_map(|r| r.to.iter())
                .chain(rules.round_robin.iter().map(|m| &m.coworker_id))
                .chain(rules.away.iter());
            for id in named {
                if !known.contains(id) {
                    errors.push(FieldError::new("lead_rules", format!("no co-worker has the id {id}")));
                }
            }
            if !errors.is_empty() {
                return Err(CoreError::Invalid(errors));
            }
            let before = self.settings_in(tx)?.lead_rules.clone();
            tx.set_setting(LEAD_RULES_SETTING, &text)?;
            super::settings::bump_version(tx)?;
            append_events(
                tx,
                vec![
                    NewEvent::by(actor, self.now(), action::SETTING_UPDATE)
                        .object("setting", LEAD_RULES_SETTING)
                        .detail("from", serde_json::to_value(&before).unwrap_or(Json::Null))
                        .detail("to", serde_json::to_value(&rules).unwrap_or(Json::Null)),
                ],
            )?;
            Ok(())
        })?;
        self.forget_settings();
        Ok(rules)
    }

    /// Takes a lead in through the API or by hand: matched, scored and (when nobody owns it
    /// and the actor hands out leads) routed.
    pub fn capture_lead(&self, actor: &Actor, input: &Json, door: Door) -> Result<Captured, CoreError> {
        self.noting_refusals(
            actor,
            || "create a lead".into(),
            || {
                let changes = parse_changes(&LEADS, input, true)?;
                self.db.write(|tx| {
                    let (captured, events) = self.capture_in(tx, actor, changes, door)?;
                    append_events(tx, events)?;
                    Ok(captured)
                })
            },
        )
    }

    /// The one capture path every door uses, inside the caller's transaction: a repeat of an
    /// existing lead's email updates that lead; otherwise the lead is linked to the contact and
    /// account it matches, marked when it probably duplicates another lead, scored, routed and
    /// its clock started. Returns the events to append.
    pub(crate) fn capture_in(
        &self,
        tx: &mut dyn Tx,
        actor: &Actor,
        mut changes: Changes,
        door: Door,
    ) -> Result<(Captured, Vec<NewEvent>), CoreError> {
        // One capture at a time (PostgreSQL; SQLite has one writer): two posts of the same person
        // at once must find each other, and a cap must see the lead given just before.
        tx.lock_lead_rotation()?;
        let now = self.now();
        let rules = self.settings_in(tx)?.lead_rules.clone();
        let mut probe = Record::default();
        probe.fields.extend(changes.fields.iter().map(|(k, v)| (*k, v.clone())));
        let person = Person::of(&probe);
        let candidates = self.lead_candidates(tx, &probe, &person)?;
        let found = match_lead(&person, &candidates.iter().map(|r| (r.id, Person::of(r))).collect::<Vec<_>>());
        if let LeadMatch::Repeat(id) = found {
            let before = candidates.into_iter().find(|r| r.id == id).ok_or_else(|| CoreError::not_found("lead", id))?;
            return self.repeat_in(tx, actor, before, changes, door, now);
        }
        let set = |changes: &mut Changes, f: &'static str, v: Value| {
            changes.fields.insert(f, v);
        };
        if let LeadMatch::Duplicate(id) = found {
            set(&mut changes, "duplicate_of", Value::Text(id.to_string()));
        }
        // The customer contact with the same email, and the account the company matches.
        let email = person.email.clone();
        let contact = match &email {
            Some(e) => tx.find_records(&CONTACTS, "email", &Value::Text(e.clone()), 1)?.into_iter().next(),
            None => None,
        };
        let mut account = contact.as_ref().and_then(|c| c.get_ref("account_id"));
        if account.is_none()
            && let Some(domain) = email.as_deref().and_then(company_domain)
        {
            account = tx.find_records(&ACCOUNTS, "domain", &Value::Text(domain), 1)?.into_iter().next().map(|a| a.id);
        }
        if account.is_none()
            && let Some(company) = text_of(&probe, "company")
        {
            account = tx.find_accounts_by_name(company.trim())?.into_iter().next().map(|a| a.id);
        }
        if let Some(c) = &contact {
            set(&mut changes, "contact_id", Value::Text(c.id.to_string()));
        }
        if let Some(a) = account {
            set(&mut changes, "account_id", Value::Text(a.to_string()));
        }
        if changes.fields.get("source").is_none_or(|v| v.is_null()) {
            let source = match door {
                Door::Form(_) => Some("website"),
                Door::Import => Some("import"),
                _ => None,
            };
            if let Some(s) = source {
                set(&mut changes, "source", Value::Text(s.into()));
            }
        }
        set(&mut changes, "submissions", Value::Int(1));
        set(&mut changes, "last_submission_at", Value::Int(now));
        probe.fields.extend(changes.fields.iter().map(|(k, v)| (*k, v.clone())));
        // Route when nobody was named and the actor does not keep what they type.
        let named_owner = changes.fields.get("owner_id").is_some_and(|v| !v.is_null());
        let routes =
            !named_owner && (matches!(door, Door::Form(_) | Door::Import) || actor.id().is_none() || actor.is_admin());
        let routed = if routes { self.route_in(tx, &rules, &probe, &[])? } else { None };
        if routes {
            set(
                &mut changes,
                "owner_id",
                routed.as_ref().map(|(o, _)| Value::Text(o.to_string())).unwrap_or(Value::Null),
            );
        }
        // A lead someone already works (an import's "working" or "qualified") has no clock to run.
        if changes.fields.get("status").and_then(Value::as_text).is_none_or(|s| s == "new") {
            self.start_clock(&rules, &mut changes, now);
        } else {
            set(&mut changes, "routed_at", Value::Int(now));
        }
        let (score, reasons) = rules.score(&probe, 0, now);
        set(&mut changes, "score", Value::Int(score));
        set(&mut changes, "score_reasons", lines(&reasons));
        let lead = self.insert_owned(tx, actor, &LEADS, changes, true, !routes)?;
        let mut event = NewEvent::by(actor, lead.created_at, action::RECORD_CREATE)
            .object(LEADS.name, lead.id)
            .rows(1)
            .detail("fields", fields_json(&LEADS, &lead))
            .detail("door", json!(door.as_str()));
        if let Door::Form(form) = door {
            event = event.detail("form_id", json!(form));
        }
        if let Some((to, why)) = &routed {
            event = event.detail("routed", json!({"to": to, "why": why}));
        } else if routes {
            event = event.detail("routed", json!({"to": null, "why": "no active co-worker is eligible"}));
        }
        let events = vec![event];
        // One by one: told at once. An import tells each owner once, when it is done.
        if door != Door::Import
            && let Some(owner) = lead.owner(&LEADS).filter(|o| Some(*o) != actor.id())
        {
            let summary = format!(
                "New lead for you: {}{} (score {score}). Answer within {} minutes.",
                lead.label(&LEADS),
                text_of(&lead, "company").map(|c| format!(" at {c}")).unwrap_or_default(),
                rules.sla_minutes
            );
            self.notify_in(tx, owner, "lead.assigned", lead.id, summary, now)?;
        }
        Ok((Captured { lead, repeat: false, routed }, events))
    }

    /// Leads a new one might be: the same email, the same phone, or the same last name.
    fn lead_candidates(&self, tx: &mut dyn Tx, probe: &Record, person: &Person) -> Result<Vec<Record>, CoreError> {
        let mut found: Vec<Record> = Vec::new();
        let mut add = |rs: Vec<Record>| {
            for r in rs {
                if !found.iter().any(|f| f.id == r.id) {
                    found.push(r);
                }
            }
        };
        if let Some(e) = &person.email {
            add(tx.find_records(&LEADS, "email", &Value::Text(e.clone()), 5)?);
        }
        let search = |tx: &mut dyn Tx, words: Vec<String>| -> Result<Vec<Record>, CoreError> {
            let query = RecordQuery { words, sort: "created_at", limit: 50, ..Default::default() };
            Ok(tx.list_records(&LEADS, &query)?)
        };
        if let Some(digits) = probe.get("phone").as_text().map(phone_digits).filter(|d| d.len() >= 7) {
            let word = if digits.len() > 7 { digits[digits.len() - 7..].to_string() } else { digits };
            add(search(tx, vec![word])?);
        }
        // The same first name and a last name starting alike ("Andersen", "Anderson").
        let word =
            |f: &str| text_of(probe, f).and_then(|n| record::search_words(&n).into_iter().max_by_key(String::len));
        if let (Some(first), Some(last)) = (word("first_name"), word("last_name")) {
            let stem: String = last.chars().take(4).collect();
            add(search(tx, vec![first, stem])?);
        }
        found.sort_by_key(|r| r.id);
        Ok(found)
    }

    /// A lead that came in again: its empty fields are filled, changed ones updated, the touch
    /// counted and the owner told.
    fn repeat_in(
        &self,
        tx: &mut dyn Tx,
        actor: &Actor,
        before: Record,
        changes: Changes,
        door: Door,
        now: i64,
    ) -> Result<(Captured, Vec<NewEvent>), CoreError> {
        // Who may change what: the lead's owner (and whoever may edit it) updates it; a form, an
        // import or a colleague only fills what is empty — what they sent otherwise is kept in
        // the event for the owner to see.
        if actor.id().is_some() {
            let policy = self.read_policy(tx)?;
            if !self.may_open(tx, actor, policy, &LEADS, &before)? {
                return Err(CoreError::forbidden(format!(
                    "{} is already a lead that {} may not open; ask its owner",
                    before.get("email").as_text().unwrap_or("this email"),
                    actor.describe()
                )));
            }
        }
        let may_edit = actor.id().is_some() && access::may_edit(actor, before.owner(&LEADS), &[]);
        let mut update = Changes::default();
        let mut offered = serde_json::Map::new();
        for (name, value) in changes.fields {
            // Left out (or given empty) keeps what the lead has; a create's defaults are not news.
            let empty = value.is_null() || value.as_text().is_some_and(|t| t.trim().is_empty());
            if empty || matches!(name, "owner_id" | "status" | "email" | "source" | "disqualified_reason") {
                continue;
            }
            if before.get(name) != &value {
                if may_edit || before.get(name).is_null() {
                    update.fields.insert(name, value);
                } else {
                    offered.insert(
                        name.into(),
                        record::value_to_json(LEADS.field(name).unwrap_or(&LEADS.fields[0]), &value),
                    );
                }
            }
        }
        let quiet_since = before.get("last_submission_at").as_int().is_some_and(|t| now - t < 60 * MINUTE);
        let submissions = before.get("submissions").as_int().unwrap_or(1) + 1;
        update.fields.insert("submissions", Value::Int(submissions));
        update.fields.insert("last_submission_at", Value::Int(now));
        let applied = self.write_changes(tx, actor, &LEADS, before, &update)?;
        let lead = applied.after;
        let mut event = NewEvent::by(actor, now, LEAD_CAPTURE)
            .object(LEADS.name, lead.id)
            .rows(1)
            .detail("repeat", json!(true))
            .detail("door", json!(door.as_str()))
            .detail("submissions", json!(submissions));
        if let Door::Form(form) = door {
            event = event.detail("form_id", json!(form));
        }
        if let Some(update) = applied.event {
            event = event.detail("changes", update.details.get("changes").cloned().unwrap_or(Json::Null));
        }
        if !offered.is_empty() {
            event = event.detail("offered", Json::Object(offered));
        }
        // Told once an hour at most, however often the same person posts.
        if !quiet_since && let Some(owner) = lead.owner(&LEADS).filter(|o| Some(*o) != actor.id()) {
            let summary = format!("{} came in again ({submissions} times now).", lead.label(&LEADS));
            self.notify_in(tx, owner, "lead.repeat", lead.id, summary, now)?;
        }
        let mut events = vec![event];
        if actor.id().is_some() {
            // The answer carries the whole lead: that is a read.
            events.push(
                NewEvent::by(actor, now, action::RECORD_READ)
                    .object(LEADS.name, lead.id)
                    .rows(1)
                    .detail("repeat", json!(true)),
            );
        }
        Ok((Captured { lead, repeat: true, routed: None }, events))
    }

    /// Starts (or restarts) a lead's clock now.
    fn start_clock(&self, rules: &LeadRules, changes: &mut Changes, now: i64) {
        changes.fields.insert("routed_at", Value::Int(now));
        changes.fields.insert("sla_due_at", Value::Int(rules.business_hours.add(now, rules.sla_minutes)));
        changes.fields.insert("reroute_at", Value::Int(rules.business_hours.add(now, rules.reroute_minutes)));
        changes.fields.insert("escalated_at", Value::Null);
        changes.fields.insert("first_touch_at", Value::Null);
    }

    /// Picks the lead's owner: the owner of the account its company is, then the first routing
    /// rule it matches, then the round-robin — only ever an active co-worker who is not away,
    /// not in `exclude`, and under their cap. Counts the turn taken.
    pub(crate) fn route_in(
        &self,
        tx: &mut dyn Tx,
        rules: &LeadRules,
        lead: &Record,
        exclude: &[Uuid],
    ) -> Result<Option<(Uuid, String)>, CoreError> {
        tx.lock_lead_rotation()?;
        let coworkers = tx.list_coworkers()?;
        let eligible = |id: &Uuid| {
            !exclude.contains(id)
                && !rules.away.contains(id)
                && coworkers.iter().any(|c| c.id == *id && c.status == Status::Active)
        };
        if rules.route_to_account_owner
            && let Some(account) = lead.get_ref("account_id")
            && let Some(acc) = tx.get_record(&ACCOUNTS, account)?.filter(|a| a.deleted_at.is_none())
            && let Some(owner) = acc.owner(&ACCOUNTS).filter(|o| eligible(o))
        {
            return Ok(Some((owner, format!("owns the account {}", acc.label(&ACCOUNTS)))));
        }
        for rule in &rules.routing {
            if rule.matches(lead) {
                let pool: Vec<(Uuid, i64, Option<i64>)> = rule.to.iter().map(|id| (*id, 1, None)).collect();
                if let Some(who) = self.take_turn(tx, &format!("rule:{}", rule.name), &pool, &eligible)? {
                    return Ok(Some((who, format!("routing rule \"{}\"", rule.name))));
                }
            }
        }
        let pool: Vec<(Uuid, i64, Option<i64>)> = if rules.round_robin.is_empty() {
            coworkers.iter().filter(|c| c.role == Role::Rep).map(|c| (c.id, 1, None)).collect()
        } else {
            rules.round_robin.iter().map(|m| (m.coworker_id, m.weight, m.cap)).collect()
        };
        Ok(self.take_turn(tx, "round_robin", &pool, &eligible)?.map(|who| (who, "round-robin".to_string())))
    }

    /// Weighted round-robin: the eligible member under their cap with the fewest leads for their
    /// weight (ties go to the first listed) gets the lead.
    fn take_turn(
        &self,
        tx: &mut dyn Tx,
        pool: &str,
        members: &[(Uuid, i64, Option<i64>)],
        eligible: &dyn Fn(&Uuid) -> bool,
    ) -> Result<Option<Uuid>, CoreError> {
        let members: Vec<&(Uuid, i64, Option<i64>)> = members.iter().filter(|(id, _, _)| eligible(id)).collect();
        if members.is_empty() {
            return Ok(None);
        }
        let counts: HashMap<Uuid, i64> = tx.lead_rotation(pool)?.into_iter().collect();
        // Someone new to the pool starts level with the others (their row is written at the
        // lowest share among those who have one), not at zero: they would otherwise get every
        // lead until they caught up.
        let level = members
            .iter()
            .filter_map(|(id, w, _)| counts.get(id).map(|c| (*c, (*w).max(1))))
            .min_by(|a, b| (a.0 * b.1).cmp(&(b.0 * a.1)));
        let mut counts = counts;
        for (id, weight, _) in &members {
            if !counts.contains_key(id) {
                let start = level.map(|(c, w)| c * (*weight).max(1) / w).unwrap_or(0);
                tx.set_lead_rotation(pool, *id, start)?;
                counts.insert(*id, start);
            }
        }
        // Fewest leads for their weight first (ties: the first listed); a member at their cap
        // is passed over. Caps are counted only for whoever would get the lead, and only up to
        // the cap, so a decision costs the same with ten leads or ten million.
        let mut ranked: Vec<(Uuid, i64, i64, Option<i64>)> = members
            .iter()
            .map(|(id, w, cap)| (*id, counts.get(id).copied().unwrap_or(0) + 1, (*w).max(1), *cap))
            .collect();
        ranked.sort_by(|a, b| (a.1 * b.2).cmp(&(b.1 * a.2)));
        for (id, given, _, cap) in ranked {
            if let Some(cap) = cap
                && tx.holds_open_leads(id, cap)?
            {
                continue;
            }
            tx.set_lead_rotation(pool, id, given)?;
            return Ok(Some(id));
        }
        Ok(None)
    }

    /// What a change to a lead brings with it (called by every write of a lead): a reason for a
    /// disqualification, a fresh clock for a new owner of an untouched lead, and the score.
    pub(crate) fn lead_follow_ups(
        &self,
        tx: &mut dyn Tx,
        before: &Record,
        changes: &mut Changes,
    ) -> Result<(), CoreError> {
        let now = self.now();
        let rules = self.settings_in(tx)?.lead_rules.clone();
        let mut after = before.clone();
        after.fields.extend(changes.fields.iter().map(|(k, v)| (*k, v.clone())));
        if after.get("status").as_text() == Some("disqualified")
            && before.get("status").as_text() != Some("disqualified")
            && text_of(&after, "disqualified_reason").is_none()
        {
            return Err(CoreError::invalid("disqualified_reason", "say why the lead is disqualified"));
        }
        let owner_changed = after.owner(&LEADS) != before.owner(&LEADS);
        if owner_changed && after.get("first_touch_at").is_null() && !changes.fields.contains_key("routed_at") {
            self.start_clock(&rules, changes, now);
        }
        let conversations = self.conversations(tx, before.id)?;
        let (score, reasons) = rules.score(&after, conversations, now);
        changes.fields.insert("score", Value::Int(score));
        changes.fields.insert("score_reasons", lines(&reasons));
        Ok(())
    }

    /// Inside a bulk hand-over of leads: an untouched open lead starts a fresh clock with its new
    /// owner, who is told (the operation's event records the owners).
    pub(crate) fn leads_handed_in(&self, tx: &mut dyn Tx, moved: &[(Uuid, Option<Uuid>)]) -> Result<(), CoreError> {
        let rules = self.settings_in(tx)?.lead_rules.clone();
        let now = self.now();
        for (id, to) in moved {
            let Some(mut lead) = tx.get_record(&LEADS, *id)? else { continue };
            let open = matches!(lead.get("status").as_text(), Some("new" | "working"));
            if !open || !lead.get("first_touch_at").is_null() {
                continue;
            }
            let mut clock = Changes::default();
            self.start_clock(&rules, &mut clock, now);
            lead.fields.extend(clock.fields);
            tx.update_record(&LEADS, &lead)?;
            if let Some(owner) = to {
                let summary =
                    format!("{} was handed to you. Answer within {} minutes.", lead.label(&LEADS), rules.sla_minutes);
                self.notify_in(tx, *owner, "lead.assigned", *id, summary, now)?;
            }
        }
        Ok(())
    }

    /// Calls and emails logged against a lead.
    fn conversations(&self, tx: &mut dyn Tx, lead: Uuid) -> Result<usize, CoreError> {
        Ok(tx
            .find_records(&ACTIVITIES, "lead_id", &Value::Text(lead.to_string()), 100)?
            .iter()
            .filter(|a| matches!(a.get("type").as_text(), Some("call" | "email")))
            .count())
    }

    /// Inside the transaction that logged an activity: a call or email against a lead is its
    /// touch — the first one stops its clock and moves a new lead to working — and rescores it.
    pub(crate) fn touch_lead_in(
        &self,
        tx: &mut dyn Tx,
        actor: &Actor,
        activity: &Record,
    ) -> Result<Vec<NewEvent>, CoreError> {
        let Some(lead_id) = activity.get_ref("lead_id") else { return Ok(Vec::new()) };
        let Some(lead) = tx.get_record(&LEADS, lead_id)?.filter(|l| l.deleted_at.is_none()) else {
            return Ok(Vec::new());
        };
        let mut changes = Changes::default();
        let is_touch = matches!(activity.get("type").as_text(), Some("call" | "email"));
        // The owner's touch (or their manager's) stops the clock, when it is logged: a colleague's
        // call is on the timeline but does not answer for the owner, and a back-dated call does
        // not make a slow answer fast.
        let answers = actor.id().is_none() || access::may_edit(actor, lead.owner(&LEADS), &[]);
        if is_touch && answers && lead.get("first_touch_at").is_null() {
            let now = self.now();
            changes.fields.insert("first_touch_at", Value::Int(now));
            if lead.get("status").as_text() == Some("new") {
                changes.fields.insert("status", Value::Text("working".into()));
            }
        }
        let applied = self.write_changes(tx, actor, &LEADS, lead, &changes)?;
        Ok(applied.event.map(|e| e.detail("touch", json!({"activity": activity.id}))).into_iter().collect())
    }

    /// Tells a co-worker something in the app, and by email when an SMTP server is set.
    pub(crate) fn notify_in(
        &self,
        tx: &mut dyn Tx,
        coworker: Uuid,
        kind: &str,
        lead: Uuid,
        summary: String,
        now: i64,
    ) -> Result<(), CoreError> {
        let mailed = self.settings_in(tx)?.alert_smtp_url.is_some();
        tx.insert_notification(&Notification {
            id: Uuid::now_v7(),
            coworker_id: coworker,
            kind: kind.into(),
            object_type: Some("lead".into()),
            object_id: Some(lead),
            summary,
            created_at: now,
            read_at: None,
            email_state: mailed.then(|| "pending".into()),
            email_attempts: 0,
            email_next_at: mailed.then_some(now),
            email_error: None,
        })?;
        Ok(())
    }

    /// The actor's notifications, newest first, and how many are unread.
    pub fn notifications(&self, actor: &Actor, limit: u32) -> Result<(Vec<Notification>, i64), CoreError> {
        let Some(me) = actor.id() else { return Ok((Vec::new(), 0)) };
        let found =
            self.db.read(|tx| Ok((tx.list_notifications(me, limit.clamp(1, 200))?, tx.unread_notifications(me)?)))?;
        // They name leads and their companies: a list read like any other.
        self.record_read(vec![
            NewEvent::by(actor, self.now(), action::LIST_READ).object_type("notification").rows(found.0.len()),
        ])?;
        Ok(found)
    }

    /// How many of the actor's notifications are unread (the badge in the menu).
    pub fn unread_notifications(&self, actor: &Actor) -> Result<i64, CoreError> {
        let Some(me) = actor.id() else { return Ok(0) };
        self.db.read(|tx| Ok(tx.unread_notifications(me)?))
    }

    pub fn mark_notifications_read(&self, actor: &Actor) -> Result<usize, CoreError> {
        let Some(me) = actor.id() else { return Ok(0) };
        let now = self.now();
        self.db.write(|tx| Ok(tx.mark_notifications_read(me, now)?))
    }

    /// Mails the notification emails that are due (after the alerts, through the same server).
    pub(crate) fn deliver_due_notifications(
        &self,
        sender: &dyn super::AlertSender,
    ) -> Result<super::DeliveryRound, CoreError> {
        let now = self.now();
        let (due, settings, emails) = self.db.write(|tx| {
            let due = tx.due_notification_emails(now, 20)?;
            let mut emails = HashMap::new();
            for n in &due {
                let mut leased = n.clone();
                leased.email_next_at = Some(now + MINUTE);
                tx.update_notification_email(&leased)?;
                if let Some(c) = tx.get_coworker(n.coworker_id)? {
                    emails.insert(n.coworker_id, (c.email, c.status.may_sign_in()));
                }
            }
            Ok((due, self.settings_in(tx)?, emails))
        })?;
        let mut round = super::DeliveryRound::default();
        for mut n in due {
            let to = emails.get(&n.coworker_id).filter(|(_, ok)| *ok).map(|(e, _)| e.clone());
            let sent = match (&settings.alert_smtp_url, to) {
                (Some(url), Some(to)) => sender.send_email(&super::AlertEmail {
                    smtp_url: url.clone(),
                    from: settings.alert_email_from.clone().unwrap_or_else(|| super::DEFAULT_EMAIL_FROM.into()),
                    to: vec![to],
                    subject: format!("[Holdfast] {}", n.summary.chars().take(120).collect::<String>()),
                    body: format!("{}\n\nOpen Leads in Holdfast to answer it.\n", n.summary),
                }),
                (None, _) => Err("no SMTP server is set".into()),
                (_, None) => Err("the co-worker can no longer sign in".into()),
            };
            n.email_attempts += 1;
            match sent {
                Ok(()) => {
                    n.email_state = Some("sent".into());
                    n.email_error = None;
                    round.delivered += 1;
                }
                Err(e) => {
                    n.email_error = Some(e.chars().take(500).collect());
                    if n.email_attempts >= crate::guard::DELIVERY_ATTEMPTS {
                        n.email_state = Some("failed".into());
                    } else {
                        n.email_next_at = Some(self.now() + crate::guard::retry_delay_micros(n.email_attempts - 1));
                    }
                    round.failed += 1;
                }
            }
            self.db.write(|tx| Ok(tx.update_notification_email(&n)?))?;
        }
        Ok(round)
    }

    /// One turn of the speed-to-lead clock: untouched leads past their SLA are escalated to the
    /// owner's manager (once); those past the re-route limit go to someone else with a fresh
    /// clock. Returns how many were escalated and re-routed.
    pub fn run_lead_clock(&self) -> Result<(usize, usize), CoreError> {
        Ok(self.on_one_server("lead_clock", || self.lead_clock_round())?.unwrap_or((0, 0)))
    }

    fn lead_clock_round(&self) -> Result<(usize, usize), CoreError> {
        let actor = Actor::scheduler();
        let now = self.now();
        self.db.write(|tx| {
            let rules = self.settings_in(tx)?.lead_rules.clone();
            let mut events = Vec::new();
            let mut escalated = 0;
            for id in tx.untouched_leads("sla_due_at", now, 200)? {
                let Some(lead) = tx.get_record(&LEADS, id)? else { continue };
                let owner = lead.owner(&LEADS);
                let owner_row = match owner {
                    Some(o) => tx.get_coworker(o)?,
                    None => None,
                };
                let manager = owner_row.as_ref().and_then(|c| c.manager_id);
                let waited = rules.business_hours.minutes_between(lead.get("routed_at").as_int().unwrap_or(now), now);
                let summary = format!(
                    "{} has waited {waited} business minutes without a call or email{}.",
                    lead.label(&LEADS),
                    owner_row.as_ref().map(|c| format!(" from {}", c.name)).unwrap_or_default()
                );
                for who in manager.into_iter().chain(owner) {
                    self.notify_in(tx, who, "lead.escalated", lead.id, summary.clone(), now)?;
                }
                let mut ch = Changes::default();
                ch.fields.insert("escalated_at", Value::Int(now));
                events.extend(self.write_changes(tx, &actor, &LEADS, lead, &ch)?.event);
                events.push(
                    NewEvent::by(&actor, now, LEAD_ESCALATE)
                        .object(LEADS.name, id)
                        .detail("owner_id", json!(owner))
                        .detail("manager_id", json!(manager))
                        .detail("business_minutes_waited", json!(waited)),
                );
                escalated += 1;
            }
            let mut rerouted = 0;
            for id in tx.untouched_leads("reroute_at", now, 200)? {
                let Some(lead) = tx.get_record(&LEADS, id)? else { continue };
                let from = lead.owner(&LEADS);
                let exclude: Vec<Uuid> = from.into_iter().collect();
                let routed = self.route_in(tx, &rules, &lead, &exclude)?;
                let mut ch = Changes::default();
                match &routed {
                    Some((to, _)) => {
                        ch.fields.insert("owner_id", Value::Text(to.to_string()));
                        self.start_clock(&rules, &mut ch, now);
                    }
                    // Nobody else is eligible: it stays where it is, escalated, and is not tried
                    // again every round.
                    None => {
                        ch.fields.insert("reroute_at", Value::Null);
                    }
                }
                let label = lead.label(&LEADS);
                events.extend(self.write_changes(tx, &actor, &LEADS, lead, &ch)?.event);
                if let Some((to, _)) = &routed {
                    let summary = format!(
                        "{label} was not answered in time and is yours now. Answer within {} minutes.",
                        rules.sla_minutes
                    );
                    self.notify_in(tx, *to, "lead.rerouted", id, summary, now)?;
                }
                events.push(
                    NewEvent::by(&actor, now, LEAD_ROUTE)
                        .object(LEADS.name, id)
                        .detail("from", json!(from))
                        .detail("to", json!(routed.as_ref().map(|r| r.0)))
                        .detail("why", json!(routed.as_ref().map(|r| r.1.clone())))
                        .detail(
                            "because",
                            json!(format!("no first touch within {} business minutes", rules.reroute_minutes)),
                        ),
                );
                rerouted += 1;
            }
            append_events(tx, events)?;
            Ok((escalated, rerouted))
        })
    }

    /// Inside the transaction that set a co-worker departing or departed: their open leads go to
    /// the re-engagement queue — routed by the same rules to someone else, with a fresh clock.
    pub(crate) fn reengage_leads_in(&self, tx: &mut dyn Tx, actor: &Actor, leaver: Uuid) -> Result<usize, CoreError> {
        let ids = tx.open_lead_ids(leaver)?;
        if ids.is_empty() {
            return Ok(0);
        }
        tx.expect_many_changes()?;
        let rules = self.settings_in(tx)?.lead_rules.clone();
        let now = self.now();
        let mut events = Vec::new();
        let mut moved = Vec::new();
        for id in &ids {
            let Some(lead) = tx.get_record(&LEADS, *id)? else { continue };
            let routed = self.route_in(tx, &rules, &lead, &[leaver])?;
            let mut ch = Changes::default();
            ch.fields
                .insert("owner_id", routed.as_ref().map(|(o, _)| Value::Text(o.to_string())).unwrap_or(Value::Null));
            ch.fields.insert("previous_owner_id", Value::Text(leaver.to_string()));
            self.start_clock(&rules, &mut ch, now);
            let label = lead.label(&LEADS);
            let applied = self.write_changes(tx, actor, &LEADS, lead, &ch)?;
            events.extend(applied.event.map(|e| e.detail("reengagement", json!({"from": leaver}))));
            if let Some((to, _)) = &routed {
                let summary = format!(
                    "{label} was a lead of a co-worker who is leaving; it is yours now. Answer within {} minutes.",
                    rules.sla_minutes
                );
                self.notify_in(tx, *to, "lead.reengage", *id, summary, now)?;
            }
            moved.push(json!({"lead": id, "to": routed.map(|r| r.0)}));
        }
        events.push(
            NewEvent::by(actor, now, LEAD_ROUTE)
                .object("coworker", leaver)
                .rows(moved.len())
                .detail("reengagement", json!(moved)),
        );
        append_events(tx, events)?;
        Ok(ids.len())
    }

    /// The re-engagement queue: leads of leavers, re-routed and not yet touched.
    pub fn reengagement_queue(&self, actor: &Actor) -> Result<Vec<Record>, CoreError> {
        let leads = self.db.read(|tx| {
            let ids = tx.reengagement_leads(500)?;
            Ok(tx.get_records(&LEADS, &ids)?)
        })?;
        let mine: Vec<Record> = leads.into_iter().filter(|l| actor.leads() || l.owner(&LEADS) == actor.id()).collect();
        self.note_list_read(actor, "lead", mine.len(), "reengagement_queue")?;
        Ok(mine)
    }

    fn note_list_read(&self, actor: &Actor, object_type: &str, rows: usize, what: &str) -> Result<(), CoreError> {
        self.record_read(vec![
            NewEvent::by(actor, self.now(), action::LIST_READ)
                .object_type(object_type)
                .rows(rows)
                .detail("list", json!(what)),
        ])?;
        self.meter_read(actor, rows);
        Ok(())
    }

    /// The lead page: the lead (an audited read), its timeline, its probable duplicates and the
    /// calls and emails logged against it.
    pub fn lead_view(&self, actor: &Actor, id: Uuid) -> Result<LeadView, CoreError> {
        let lead = self.get_record(actor, &LEADS, id)?;
        let (timeline, duplicates, activities) = self.db.read(|tx| {
            let filter = crate::event::EventFilter {
                object_type: Some("lead".into()),
                object_id: Some(id.to_string()),
                limit: 1_000,
                ..Default::default()
            };
            let coworkers = tx.list_coworkers()?;
            let name_of =
                |c: Option<Uuid>| c.and_then(|c| coworkers.iter().find(|w| w.id == c)).map(|w| w.name.clone());
            let mut timeline = Vec::new();
            for e in tx.list_events(&filter)? {
                let d = &e.event.details;
                let what = match e.event.action.as_str() {
                    action::RECORD_CREATE => {
                        let door = d.get("door").and_then(Json::as_str).unwrap_or("hand");
                        let routed = d
                            .get("routed")
                            .map(|r| {
                                let to = r.get("to").and_then(Json::as_str).and_then(|s| Uuid::parse_str(s).ok());
                                let why = r.get("why").and_then(Json::as_str).unwrap_or_default();
                                match name_of(to) {
                                    Some(n) => format!("; routed to {n} ({why})"),
                                    None => format!("; not routed ({why})"),
                                }
                            })
                            .unwrap_or_default();
                        format!("Came in ({}){routed}", door_words(door))
                    }
                    LEAD_CAPTURE => format!(
                        "Came in again ({}), {} times in all",
                        door_words(d.get("door").and_then(Json::as_str).unwrap_or("")),
                        d.get("submissions").and_then(Json::as_i64).unwrap_or(0)
                    ),
                    action::RECORD_UPDATE => match d.get("changes").and_then(Json::as_object) {
                        Some(ch) => {
                            let mut parts = Vec::new();
                            for (k, v) in ch {
                                let to = v.get("to").cloned().unwrap_or(Json::Null);
                                let shown = match k.as_str() {
                                    "score_reasons" | "sla_due_at" | "reroute_at" | "routed_at" | "escalated_at"
                                    | "last_submission_at" | "submissions" => continue,
                                    "owner_id" | "previous_owner_id" => {
                                        name_of(to.as_str().and_then(|s| Uuid::parse_str(s).ok()))
                                            .unwrap_or_else(|| "nobody".into())
                                    }
                                    _ => match to {
                                        Json::String(s) => s,
                                        Json::Null => "empty".into(),
                                        other => other.to_string(),
                                    },
                                };
                                parts.push(format!("{} → {shown}", k.replace('_', " ")));
                            }
                            if parts.is_empty() {
                                continue;
                            }
                            let prefix = if d.get("reengagement").is_some() {
                                "Re-routed when its owner left: "
                            } else if d.get("touch").is_some() {
                                "Touched: "
                            } else {
                                "Changed: "
                            };
                            format!("{prefix}{}", parts.join(", "))
                        }
                        None => continue,
                    },
                    LEAD_ESCALATE => format!(
                        "Escalated to the owner's manager after {} business minutes untouched",
                        d.get("business_minutes_waited").and_then(Json::as_i64).unwrap_or(0)
                    ),
                    LEAD_ROUTE => format!(
                        "Re-routed to {} ({})",
                        name_of(d.get("to").and_then(Json::as_str).and_then(|s| Uuid::parse_str(s).ok()))
                            .unwrap_or_else(|| "nobody".into()),
                        d.get("because").and_then(Json::as_str).unwrap_or_default()
                    ),
                    LEAD_MERGE => "Merged with a duplicate".to_string(),
                    LEAD_CONVERT => "Converted".to_string(),
                    _ => continue,
                };
                timeline.push(TimelineEntry { at: e.event.at, what, by: name_of(e.event.coworker_id) });
            }
            let mut duplicates = Vec::new();
            let dup_of = tx.get_record(&LEADS, id)?.and_then(|l| l.get_ref("duplicate_of"));
            if let Some(other) = dup_of.and_then(|o| Some(o).filter(|o| *o != id)) {
                duplicates.extend(tx.get_record(&LEADS, other)?.filter(|r| r.deleted_at.is_none()));
            }
            duplicates.extend(tx.find_records(&LEADS, "duplicate_of", &Value::Text(id.to_string()), 20)?);
            let policy = self.read_policy(tx)?;
            let mut shown = Vec::new();
            for d in duplicates {
                if self.may_open(tx, actor, policy, &LEADS, &d)? {
                    shown.push(d);
                }
            }
            let duplicates = shown;
            let mut activities = tx.find_records(&ACTIVITIES, "lead_id", &Value::Text(id.to_string()), 100)?;
            activities.sort_by_key(|a| std::cmp::Reverse(a.get("occurred_at").as_int()));
            Ok((timeline, duplicates, activities))
        })?;
        let extra = duplicates.len() + activities.len();
        if extra > 0 {
            self.note_list_read(actor, "lead", extra, "lead_page")?;
        }
        Ok(LeadView { lead, timeline, duplicates, activities })
    }

    /// Pairs of leads marked as probably the same person (managers and admins).
    pub fn duplicate_leads(&self, actor: &Actor) -> Result<Vec<(Record, Record)>, CoreError> {
        self.noting_refusals(actor, || "review duplicate leads".into(), || self.duplicate_pairs(actor))
    }

    fn duplicate_pairs(&self, actor: &Actor) -> Result<Vec<(Record, Record)>, CoreError> {
        if !actor.leads() {
            return Err(CoreError::forbidden("only managers and admins review duplicate leads"));
        }
        let pairs = self.db.read(|tx| {
            let mut out = Vec::new();
            for (lead, of) in tx.duplicate_leads(200)? {
                let a = tx.get_record(&LEADS, lead)?;
                let b = tx.get_record(&LEADS, of)?.filter(|r| r.deleted_at.is_none());
                if let (Some(a), Some(b)) = (a, b) {
                    out.push((a, b));
                }
            }
            Ok(out)
        })?;
        self.note_list_read(actor, "lead", pairs.len() * 2, "duplicate_leads")?;
        Ok(pairs)
    }

    /// Merges `drop` into `keep`: keep's empty fields take drop's values, touches add up, calls
    /// and emails move over, and drop is deleted (restorable); every field of both is in the
    /// `lead.merge` event.
    pub fn merge_leads(&self, actor: &Actor, keep: Uuid, drop: Uuid) -> Result<Record, CoreError> {
        if keep == drop {
            return Err(CoreError::invalid("drop", "a lead cannot be merged into itself"));
        }
        if !actor.leads() {
            return Err(CoreError::forbidden("only managers and admins merge duplicate leads"));
        }
        self.noting_refusals(
            actor,
            || format!("merge lead {drop} into {keep}"),
            || {
                self.db.write(|tx| {
                    let kept = self.load_live(tx, &LEADS, keep)?;
                    let dropped = self.load_live(tx, &LEADS, drop)?;
                    let mut ch = Changes::default();
                    for field in LEADS.inputs() {
                        if kept.get(field.name).is_null() && !dropped.get(field.name).is_null() {
                            ch.fields.insert(field.name, dropped.get(field.name).clone());
                        }
                    }
                    let subs = kept.get("submissions").as_int().unwrap_or(1)
                        + dropped.get("submissions").as_int().unwrap_or(1);
                    ch.fields.insert("submissions", Value::Int(subs));
                    if kept.get_ref("duplicate_of") == Some(drop) {
                        ch.fields.insert("duplicate_of", Value::Null);
                    }
                    for f in ["contact_id", "account_id", "first_touch_at"] {
                        if kept.get(f).is_null() && !dropped.get(f).is_null() {
                            ch.fields.insert(f, dropped.get(f).clone());
                        }
                    }
                    let mut events = Vec::new();
                    for activity in tx.find_records(&ACTIVITIES, "lead_id", &Value::Text(drop.to_string()), 100)? {
                        let mut moved = Changes::default();
                        moved.fields.insert("lead_id", Value::Text(keep.to_string()));
                        events.extend(self.write_changes(tx, actor, &ACTIVITIES, activity, &moved)?.event);
                    }
                    for other in tx.find_records(&LEADS, "duplicate_of", &Value::Text(drop.to_string()), 100)? {
                        if other.id == keep {
                            continue;
                        }
                        let mut moved = Changes::default();
                        moved.fields.insert("duplicate_of", Value::Text(keep.to_string()));
                        events.extend(self.write_changes(tx, actor, &LEADS, other, &moved)?.event);
                    }
                    let applied = self.write_changes(tx, actor, &LEADS, kept, &ch)?;
                    events.extend(applied.event);
                    let mut gone = dropped.clone();
                    gone.deleted_at = Some(self.now());
                    gone.updated_by = actor.id();
                    tx.update_record(&LEADS, &gone)?;
                    events.push(
                        NewEvent::by(actor, self.now(), LEAD_MERGE)
                            .object(LEADS.name, keep)
                            .rows(2)
                            .detail("merged", json!(drop))
                            .detail("kept_fields", fields_json(&LEADS, &applied.after))
                            .detail("merged_fields", fields_json(&LEADS, &dropped)),
                    );
                    events.push(
                        NewEvent::by(actor, self.now(), action::RECORD_DELETE)
                            .object(LEADS.name, drop)
                            .rows(1)
                            .detail("label", json!(dropped.label(&LEADS)))
                            .detail("merged_into", json!(keep)),
                    );
                    append_events(tx, events)?;
                    Ok(applied.after)
                })
            },
        )
    }

    /// Says two leads are different people: the mark goes.
    pub fn not_a_duplicate(&self, actor: &Actor, lead: Uuid) -> Result<Record, CoreError> {
        self.noting_refusals(
            actor,
            || format!("mark lead {lead} as not a duplicate"),
            || self.unmark_duplicate(actor, lead),
        )
    }

    fn unmark_duplicate(&self, actor: &Actor, lead: Uuid) -> Result<Record, CoreError> {
        if !actor.leads() {
            return Err(CoreError::forbidden("only managers and admins review duplicate leads"));
        }
        self.db.write(|tx| {
            let rec = self.load_live(tx, &LEADS, lead)?;
            let mut ch = Changes::default();
            ch.fields.insert("duplicate_of", Value::Null);
            let applied = self.write_changes(tx, actor, &LEADS, rec, &ch)?;
            append_events(tx, applied.event.into_iter().map(|e| e.detail("not_a_duplicate", json!(true))).collect())?;
            Ok(applied.after)
        })
    }

    /// The speed-to-lead figures over the last `days`: time to first touch, the share within the
    /// SLA, the qualification rate, by rep and by source, and the funnel. Reps see their own
    /// leads, managers their people's, directors and admins everyone's.
    pub fn lead_metrics(&self, actor: &Actor, days: i64) -> Result<LeadMetrics, CoreError> {
        let days = days.clamp(1, 366);
        let now = self.now();
        let (clocks, coworkers, rules) = self.db.read(|tx| {
            Ok((
                tx.lead_clocks(now - days * 24 * 60 * MINUTE)?,
                tx.list_coworkers()?,
                self.settings_in(tx)?.lead_rules.clone(),
            ))
        })?;
        let scope: Option<Vec<Uuid>> = match actor.role() {
            Role::Admin | Role::Director => None,
            Role::Manager => Some(actor.manages.iter().copied().chain(actor.id()).collect()),
            Role::Rep => Some(actor.id().into_iter().collect()),
        };
        let clocks: Vec<_> = clocks
            .into_iter()
            .filter(|c| scope.as_ref().is_none_or(|s| c.owner_id.is_some_and(|o| s.contains(&o))))
            .collect();
        let figures = |rows: &[&crate::storage::LeadClock]| {
            let mut seconds: Vec<i64> =
                rows.iter().filter_map(|c| c.first_touch_at.map(|t| (t - c.routed_at).max(0) / 1_000_000)).collect();
            seconds.sort_unstable();
            let judged: Vec<bool> = rows
                .iter()
                .filter_map(|c| match (c.first_touch_at, c.sla_due_at) {
                    (Some(t), Some(due)) => Some(t <= due),
                    (Some(t), None) => Some(rules.business_hours.minutes_between(c.routed_at, t) < rules.sla_minutes),
                    (None, due) => due.filter(|d| *d <= now).map(|_| false),
                })
                .collect();
            let share =
                (!judged.is_empty()).then(|| judged.iter().filter(|j| **j).count() as f64 / judged.len() as f64);
            let verdicts: Vec<&str> = rows
                .iter()
                .map(|c| c.status.as_str())
                .filter(|s| matches!(*s, "qualified" | "converted" | "disqualified"))
                .collect();
            let rate = (!verdicts.is_empty())
                .then(|| verdicts.iter().filter(|s| **s != "disqualified").count() as f64 / verdicts.len() as f64);
            (seconds, share, rate)
        };
        let all: Vec<&crate::storage::LeadClock> = clocks.iter().collect();
        let (seconds, share, rate) = figures(&all);
        let mut by_rep: BTreeMap<String, Vec<&crate::storage::LeadClock>> = BTreeMap::new();
        let mut by_source: BTreeMap<String, Vec<&crate::storage::LeadClock>> = BTreeMap::new();
        for c in &clocks {
            by_rep.entry(c.owner_id.map(|o| o.to_string()).unwrap_or_default()).or_default().push(c);
            by_source.entry(c.source.clone().unwrap_or_else(|| "unknown".into())).or_default().push(c);
        }
        let row = |key: String, label: String, rows: &[&crate::storage::LeadClock]| {
            let (s, share, rate) = figures(rows);
            MetricsRow {
                key,
                label,
                leads: rows.len(),
                median_seconds_to_first_touch: percentile(&s, 0.5),
                within_sla_share: share,
                qualification_rate: rate,
            }
        };
        let funnel = ["new", "working", "qualified", "converted", "disqualified"]
            .iter()
            .map(|s| (s.to_string(), clocks.iter().filter(|c| c.status == *s).count()))
            .collect();
        let metrics = LeadMetrics {
            days,
            sla_minutes: rules.sla_minutes,
            leads: clocks.len(),
            touched: seconds.len(),
            median_seconds_to_first_touch: percentile(&seconds, 0.5),
            p90_seconds_to_first_touch: percentile(&seconds, 0.9),
            within_sla_share: share,
            qualification_rate: rate,
            funnel,
            by_rep: by_rep
                .iter()
                .map(|(k, rows)| {
                    let label = Uuid::parse_str(k)
                        .ok()
                        .and_then(|id| coworkers.iter().find(|c| c.id == id))
                        .map(|c| c.name.clone())
                        .unwrap_or_else(|| "Nobody".into());
                    row(k.clone(), label, rows)
                })
                .collect(),
            by_source: by_source.iter().map(|(k, rows)| row(k.clone(), k.clone(), rows)).collect(),
        };
        self.record_read(vec![
            NewEvent::by(actor, now, action::REPORT_READ)
                .object_type("lead")
                .detail("report", json!("lead_metrics"))
                .detail("days", json!(days)),
        ])?;
        Ok(metrics)
    }

    /// Converts a lead into a contact at an account (and, when asked, a deal) in one step. The
    /// contact with the lead's email is reused rather than duplicated, and its account with it;
    /// otherwise the account the lead matched, one of the company's name, or a new one. The new
    /// records keep the lead's owner.
    pub fn convert_lead(
        &self,
        actor: &Actor,
        lead: Uuid,
        account: Option<Uuid>,
        deal: Option<ConversionDeal>,
    ) -> Result<Conversion, CoreError> {
        self.noting_refusals(
            actor,
            || format!("convert lead {lead}"),
            || {
                self.db.write(|tx| {
                    // One conversion at a time: a double click must not make two contacts.
                    tx.lock_lead_rotation()?;
                    let before = self.load_live(tx, &LEADS, lead)?;
                    if !access::may_edit(actor, before.owner(&LEADS), &[]) {
                        return Err(CoreError::forbidden(format!(
                            "{} may convert only leads they own, or their reports' leads",
                            actor.describe()
                        )));
                    }
                    if before.get("status").as_text() == Some("converted") {
                        return Err(CoreError::Conflict("this lead has already been converted".into()));
                    }
                    let text = |f: &str| text_of(&before, f);
                    let owner = before.owner(&LEADS).map(|o| o.to_string());
                    let mut events = Vec::new();
                    let existing = match before.get_ref("contact_id") {
                        Some(id) => tx.get_record(&CONTACTS, id)?.filter(|c| c.deleted_at.is_none()),
                        None => None,
                    };
                    let existing = match (existing, text("email")) {
                        (Some(c), _) => Some(c),
                        (None, Some(e)) => tx.find_records(&CONTACTS, "email", &Value::Text(e), 1)?.into_iter().next(),
                        (None, None) => None,
                    };
                    let matched_account = before
                        .get_ref("account_id")
                        .map(|id| tx.get_record(&ACCOUNTS, id))
                        .transpose()?
                        .flatten()
                        .filter(|a| a.deleted_at.is_none())
                        .map(|a| a.id);
                    let (account_id, new_account) = match account {
                        Some(id) => (self.load_live(tx, &ACCOUNTS, id)?.id, false),
                        None => match existing.as_ref().and_then(|c| c.get_ref("account_id")).or(matched_account) {
                            Some(id) => (id, false),
                            None => {
                                let name = text("company").unwrap_or_else(|| before.label(&LEADS));
                                match tx.find_accounts_by_name(name.trim())?.into_iter().next() {
                                    Some(found) => (found.id, false),
                                    None => {
                                        let mut fields = json!({"name": name.trim(), "owner_id": owner});
                                        if let Some(d) = text("email").as_deref().and_then(company_domain) {
                                            fields["domain"] = json!(d);
                                        }
                                        if let Some(i) = text("industry") {
                                            fields["industry"] = json!(i);
                                        }
                                        let changes = parse_changes(&ACCOUNTS, &fields, true)?;
                                        let acc = self.insert_new(tx, actor, &ACCOUNTS, changes)?;
                                        events.push(
                                            NewEvent::by(actor, acc.created_at, action::RECORD_CREATE)
                                                .object(ACCOUNTS.name, acc.id)
                                                .rows(1)
                                                .detail("fields", fields_json(&ACCOUNTS, &acc))
                                                .detail("from_lead", json!(lead)),
                                        );
                                        (acc.id, true)
                                    }
                                }
                            }
                        },
                    };
                    let (contact_id, new_contact) = match existing {
                        Some(c) => (c.id, false),
                        None => {
                            let input = json!({
                                "account_id": account_id.to_string(),
                                "first_name": text("first_name"),
                                "last_name": text("last_name"),
                                "email": text("email"),
                                "phone": text("phone"),
                                "title": text("title"),
                                "owner_id": owner,
                            });
                            let changes = parse_changes(&CONTACTS, &input, true)?;
                            let contact = self.insert_new(tx, actor, &CONTACTS, changes)?;
                            events.push(
                                NewEvent::by(actor, contact.created_at, action::RECORD_CREATE)
                                    .object(CONTACTS.name, contact.id)
                                    .rows(1)
                                    .detail("fields", fields_json(&CONTACTS, &contact))
                                    .detail("from_lead", json!(lead)),
                            );
                            (contact.id, true)
                        }
                    };
                    let deal_id = match deal {
                        Some(d) => {
                            let name = d.name.filter(|n| !n.trim().is_empty()).unwrap_or_else(|| {
                                format!("{} – new business", text("company").unwrap_or_else(|| before.label(&LEADS)))
                            });
                            let mut input =
                                json!({"name": name, "account_id": account_id.to_string(), "owner_id": owner});
                            if let Some(amount) = d.amount.filter(|a| !a.is_null()) {
                                input["amount"] = amount;
                            }
                            let changes = parse_changes(&DEALS, &input, true)?;
                            let created = self.insert_new(tx, actor, &DEALS, changes)?;
                            events.push(
                                NewEvent::by(actor, created.created_at, action::RECORD_CREATE)
                                    .object(DEALS.name, created.id)
                                    .rows(1)
                                    .detail("fields", fields_json(&DEALS, &created))
                                    .detail("from_lead", json!(lead)),
                            );
                            Some(created.id)
                        }
                        None => None,
                    };
                    let mut status = Changes::default();
                    status.fields.insert("status", Value::Text("converted".into()));
                    status.fields.insert("contact_id", Value::Text(contact_id.to_string()));
                    status.fields.insert("account_id", Value::Text(account_id.to_string()));
                    let applied = self.write_changes(tx, actor, &LEADS, before, &status)?;
                    events.extend(applied.event);
                    events.push(NewEvent::by(actor, self.now(), LEAD_CONVERT).object(LEADS.name, lead).rows(1).detail(
                        "converted_to",
                        json!({
                            "account": account_id, "contact": contact_id, "deal": deal_id,
                            "new_account": new_account, "new_contact": new_contact,
                        }),
                    ));
                    append_events(tx, events)?;
                    Ok(Conversion { account_id, contact_id, new_account, new_contact, deal_id })
                })
            },
        )
    }

    /// Makes a web-to-lead form (admins). First name and email are always asked.
    pub fn create_lead_form(&self, actor: &Actor, new: NewLeadForm) -> Result<LeadForm, CoreError> {
        self.require_admin(actor, "make a lead form")?;
        let mut errors = Vec::new();
        let name = new.name.trim().to_string();
        if name.is_empty() || name.chars().count() > 100 {
            errors.push(FieldError::new("name", "give the form a name of 1 to 100 characters"));
        }
        let mut fields: Vec<String> = vec!["first_name".into(), "email".into()];
        for f in &new.fields {
            let f = f.trim().to_lowercase();
            if !FORM_FIELDS.contains(&f.as_str()) {
                errors
                    .push(FieldError::new("fields", format!("'{f}' cannot be asked; use {}", FORM_FIELDS.join(", "))));
            } else if !fields.contains(&f) {
                fields.push(f);
            }
        }
        fields.sort_by_key(|f| FORM_FIELDS.iter().position(|x| x == f));
        let redirect_url = new.redirect_url.map(|u| u.trim().to_string()).filter(|u| !u.is_empty());
        if let Some(u) = &redirect_url
            && (!(u.starts_with("https://") || u.starts_with("http://"))
                || u.len() > 2_000
                || !u.chars().all(|c| c.is_ascii_graphic()))
        {
            errors
                .push(FieldError::new("redirect_url", "must be an http(s):// address (the page thanking the visitor)"));
        }
        if !errors.is_empty() {
            return Err(CoreError::Invalid(errors));
        }
        let form = LeadForm {
            id: crate::id::new_id(),
            name,
            fields,
            redirect_url,
            created_by: actor.id(),
            created_at: self.now(),
            archived_at: None,
            submissions: 0,
            last_submission_at: None,
        };
        self.db.write(|tx| {
            tx.insert_lead_form(&form)?;
            append_events(
                tx,
                vec![
                    NewEvent::by(actor, form.created_at, LEAD_FORM_CREATE)
                        .object("lead_form", form.id)
                        .detail("name", json!(form.name))
                        .detail("fields", json!(form.fields)),
                ],
            )?;
            Ok(())
        })?;
        Ok(form)
    }

    /// Every lead form (admins).
    pub fn lead_forms(&self, actor: &Actor) -> Result<Vec<LeadForm>, CoreError> {
        self.require_admin(actor, "see the lead forms")?;
        self.db.read(|tx| Ok(tx.list_lead_forms()?))
    }

    /// A form as the public sees it (its name and fields); archived forms are gone.
    pub fn public_lead_form(&self, id: Uuid) -> Result<LeadForm, CoreError> {
        self.db
            .read(|tx| Ok(tx.get_lead_form(id)?))?
            .filter(|f| f.archived_at.is_none())
            .ok_or_else(|| CoreError::not_found("lead form", id))
    }

    /// Archives a form (its URL stops taking posts) or brings it back.
    pub fn archive_lead_form(&self, actor: &Actor, id: Uuid, archived: bool) -> Result<LeadForm, CoreError> {
        self.require_admin(actor, "change a lead form")?;
        self.db.write(|tx| {
            let mut form = tx.get_lead_form(id)?.ok_or_else(|| CoreError::not_found("lead form", id))?;
            form.archived_at = if archived { Some(self.now()) } else { None };
            tx.update_lead_form(&form)?;
            append_events(
                tx,
                vec![
                    NewEvent::by(actor, self.now(), LEAD_FORM_UPDATE)
                        .object("lead_form", id)
                        .detail("archived", json!(archived)),
                ],
            )?;
            Ok(form)
        })
    }

    /// A post to a public form (no sign-in): limited per address, the honeypot checked, only the
    /// form's fields and campaign fields taken, then captured like any lead. A bad value is
    /// answered with its field; a robot caught by the honeypot is answered as if it succeeded.
    pub fn submit_lead_form(&self, form_id: Uuid, post: Submission) -> Result<Submitted, CoreError> {
        let now = self.now();
        let addr = post.client_addr.clone().unwrap_or_else(|| "unknown".into());
        let actor = Actor::web_form(post.client_addr.clone(), post.user_agent.clone());
        let form = self.public_lead_form(form_id)?;
        let refuse = |why: &str| {
            self.record_read(vec![
                NewEvent::by(&actor, now, LEAD_FORM_REFUSED).object("lead_form", form_id).detail("why", json!(why)),
            ])
        };
        if let Some(first) = self.form_limits.refuse(&addr, now) {
            // A flood is one event per address and minute, not one per post.
            if first {
                refuse("rate limit")?;
            }
            return Err(CoreError::TooManyAttempts(format!(
                "too many posts from this address: at most {FORM_POSTS_PER_MINUTE} a minute and {FORM_POSTS_PER_HOUR} an hour"
            )));
        }
        if post.values.get(HONEYPOT_FIELD).is_some_and(|v| !v.trim().is_empty()) {
            refuse("honeypot")?;
            return Ok(Submitted::Received { redirect_url: form.redirect_url });
        }
        let mut input = serde_json::Map::new();
        let mut errors = Vec::new();
        for (k, v) in &post.values {
            let field = k.trim();
            if !(form.fields.iter().any(|f| f == field) || CAMPAIGN_FIELDS.contains(&field)) {
                continue;
            }
            if v.chars().count() > 500 {
                errors.push(FieldError::new(field, "is too long (500 characters at most)"));
                continue;
            }
            if matches!(field, "first_name" | "last_name" | "company" | "title") && v.contains(['<', '>']) {
                errors.push(FieldError::new(field, "cannot contain < or >"));
                continue;
            }
            input.insert(field.to_string(), Json::String(v.clone()));
        }
        for required in ["first_name", "email"] {
            if input.get(required).and_then(Json::as_str).is_none_or(|v| v.trim().is_empty())
                && !errors.iter().any(|e| e.field == required)
            {
                errors.push(FieldError::new(required, "is required"));
            }
        }
        if !errors.is_empty() {
            refuse("invalid")?;
            return Err(CoreError::Invalid(errors));
        }
        let changes = match parse_changes(&LEADS, &Json::Object(input), true) {
            Ok(c) => c,
            Err(e) => {
                refuse("invalid")?;
                return Err(e);
            }
        };
        // A canary's address through the public form: someone is using a leaked file. It is a
        // canary hit (a critical alert naming the export's maker), answered like any post, so
        // that trying addresses one by one tells the sender nothing.
        if let Some(email) = changes.fields.get("email").and_then(Value::as_text)
            && self.db.read(|tx| Ok(tx.find_canary(Some(email), None)?))?.is_some()
        {
            let report = super::CanaryReport {
                address: email.to_string(),
                from: post.client_addr.as_ref().map(|a| format!("a web-to-lead form post from {a}")),
                subject: None,
                via: "web-to-lead form".into(),
            };
            self.canary_hit(&Actor::scheduler(), &report)?;
            return Ok(Submitted::Received { redirect_url: form.redirect_url });
        }
        self.db.write(|tx| {
            // Counted only while the form takes posts (an admin may archive it meanwhile).
            if !tx.count_lead_form_post(form_id, now)? {
                return Err(CoreError::not_found("lead form", form_id));
            }
            let (_captured, events) = self.capture_in(tx, &actor, changes, Door::Form(form_id))?;
            append_events(tx, events)?;
            Ok(())
        })?;
        Ok(Submitted::Received { redirect_url: form.redirect_url })
    }

    /// Imports leads from a CSV file (ours, HubSpot's or Salesforce's lead export): every row
    /// goes through the same capture as a form post (matched, scored, routed when no owner is
    /// named), all in one transaction — or rehearsed and rolled back for a dry run.
    pub fn import_leads(
        &self,
        actor: &Actor,
        input: impl std::io::Read,
        options: &super::ImportOptions,
    ) -> Result<LeadImportReport, CoreError> {
        let mut reader = csv::ReaderBuilder::new().flexible(true).trim(csv::Trim::All).from_reader(input);
        let headers = reader
            .headers()
            .map_err(|e| CoreError::invalid("file", format!("the first line must be column names: {e}")))?
            .clone();
        let map: Vec<Option<&'static str>> = headers.iter().map(lead_column).collect();
        let mut report = LeadImportReport { dry_run: options.dry_run, ..Default::default() };
        report.columns =
            headers.iter().zip(&map).filter_map(|(h, f)| f.map(|f| (h.to_string(), f.to_string()))).collect();
        if !map.contains(&Some("first_name")) || !map.contains(&Some("email")) {
            return Err(CoreError::invalid(
                "file",
                "the file needs a first name column and an email column (e.g. \"First Name\", \"Email\")",
            ));
        }
        let mut rows = Vec::new();
        for (i, row) in reader.records().enumerate() {
            let line = i as u64 + 2;
            let row = row.map_err(|e| CoreError::invalid("file", format!("line {line} cannot be read: {e}")))?;
            let mut fields = serde_json::Map::new();
            let mut owner = None;
            for (cell, field) in row.iter().zip(&map) {
                let (Some(field), false) = (field, cell.is_empty()) else { continue };
                match *field {
                    "owner" => owner = Some(cell.to_lowercase()),
                    "source" => {
                        fields.insert("source".into(), json!(source_word(cell)));
                    }
                    "status" => {
                        fields.insert("status".into(), json!(status_word(cell)));
                    }
                    "company_size" => {
                        let digits: String = cell.chars().filter(char::is_ascii_digit).collect();
                        fields.insert("company_size".into(), json!(digits));
                    }
                    f => {
                        fields.insert(f.into(), json!(cell));
                    }
                }
            }
            rows.push((line, Json::Object(fields), owner));
        }
        report.rows = rows.len() as u64;
        let run = |tx: &mut dyn Tx| -> Result<LeadImportReport, CoreError> {
            let mut report = report.clone();
            tx.expect_many_changes()?;
            let rules = self.settings_in(tx)?.lead_rules.clone();
            let mut events = Vec::new();
            let mut ids = Vec::new();
            let mut given: BTreeMap<Uuid, (Uuid, usize)> = BTreeMap::new();
            for (line, mut fields, owner) in rows.clone() {
                if let Some(email) = &owner {
                    match tx.get_coworker_by_email(email)? {
                        Some(c) if c.status == Status::Active && !rules.away.contains(&c.id) => {
                            fields["owner_id"] = json!(c.id.to_string())
                        }
                        _ => {
                            report.rejected.push(super::RejectedRow {
                                row: line,
                                reason: format!("owner {email} is not an active co-worker (or is away)"),
                            });
                            continue;
                        }
                    }
                }
                let changes = match parse_changes(&LEADS, &fields, true) {
                    Ok(c) => c,
                    Err(CoreError::Invalid(errs)) => {
                        let reason =
                            errs.iter().map(|e| format!("{}: {}", e.field, e.reason)).collect::<Vec<_>>().join("; ");
                        report.rejected.push(super::RejectedRow { row: line, reason });
                        continue;
                    }
                    Err(e) => return Err(e),
                };
                if changes.fields.get("email").is_none_or(Value::is_null) {
                    report.rejected.push(super::RejectedRow { row: line, reason: "email: is required".into() });
                    continue;
                }
                let (captured, evs) = self.capture_in(tx, actor, changes, Door::Import)?;
                events.extend(evs);
                ids.push(captured.lead.id);
                if !captured.repeat
                    && let Some(owner) = captured.lead.owner(&LEADS).filter(|o| Some(*o) != actor.id())
                {
                    given.entry(owner).or_insert((captured.lead.id, 0)).1 += 1;
                }
                if captured.repeat {
                    report.updated += 1;
                } else {
                    report.created += 1;
                    report.linked_to_contacts += u64::from(!captured.lead.get("contact_id").is_null());
                    report.flagged_duplicates += u64::from(!captured.lead.get("duplicate_of").is_null());
                    report.routed += u64::from(captured.routed.is_some());
                }
            }
            for (owner, (first, n)) in given {
                let summary = format!(
                    "{n} imported lead{} {} yours{}.",
                    if n == 1 { "" } else { "s" },
                    if n == 1 { "is" } else { "are" },
                    options.source.as_deref().map(|s| format!(" (from {s})")).unwrap_or_default()
                );
                self.notify_in(tx, owner, "lead.imported", first, summary, self.now())?;
            }
            events.push(
                NewEvent::by(actor, self.now(), action::IMPORT)
                    .object_type("lead")
                    .rows(ids.len())
                    .detail("source", json!(options.source))
                    .detail("dry_run", json!(options.dry_run))
                    .detail("created", json!(report.created))
                    .detail("updated", json!(report.updated))
                    .detail("rejected", json!(report.rejected.len()))
                    .detail("ids", json!(ids)),
            );
            append_events(tx, events)?;
            Ok(report)
        };
        if options.dry_run { self.db.rehearse(run) } else { self.db.write(run) }
    }
}

fn lines(reasons: &[String]) -> Value {
    if reasons.is_empty() { Value::Null } else { Value::Text(reasons.join("\n")) }
}

fn door_words(door: &str) -> &'static str {
    match door {
        "form" => "web form",
        "api" => "API",
        "import" => "CSV import",
        _ => "typed in",
    }
}
