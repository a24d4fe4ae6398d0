//! Leads: the rules an admin sets for them (fit scoring, routing, the speed-to-lead clock) and
//! the pure parts of working them out — who a new lead matches, what it scores and why, when its
//! first touch is due in business hours. The service layer (`service/leads.rs`) runs these inside
//! the transaction that captures, routes or touches a lead.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{CoreError, FieldError};
use crate::record::{Record, normalize_email, phone_digits};

/// The settings key the lead rules are kept under (JSON).
pub const LEAD_RULES_SETTING: &str = "lead_rules";

const MINUTE: i64 = 60 * 1_000_000;
const DAY_MINUTES: i64 = 24 * 60;

/// Email domains that say nothing about the company.
pub const FREE_MAIL: &[&str] = &[
    "gmail.com",
    "googlemail.com",
    "yahoo.com",
    "hotmail.com",
    "outlook.com",
    "live.com",
    "icloud.com",
    "me.com",
    "aol.com",
    "proton.me",
    "protonmail.com",
    "gmx.com",
    "gmx.de",
    "web.de",
    "mail.com",
    "yandex.com",
];

/// Whether an email address is at a free-mail provider.
pub fn is_free_mail(email: &str) -> bool {
    email.rsplit_once('@').is_some_and(|(_, d)| FREE_MAIL.contains(&d.to_lowercase().as_str()))
}

/// The company domain of a work email address (none for free mail).
pub fn company_domain(email: &str) -> Option<String> {
    let (_, domain) = email.rsplit_once('@')?;
    let domain = domain.trim().to_lowercase();
    (!domain.is_empty() && !FREE_MAIL.contains(&domain.as_str())).then_some(domain)
}

/// How senior a job title reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Seniority {
    Staff,
    Manager,
    Director,
    Vp,
    CLevel,
}

impl Seniority {
    /// Reads a job title: "Chief Revenue Officer" and "CFO" are C-level, "SVP Sales" and "Head of
    /// IT" VP, "Director of Ops" director, "Sales Manager" and "Team Lead" manager.
    pub fn of_title(title: &str) -> Seniority {
        let t = format!(" {} ", title.to_lowercase().replace(|c: char| !c.is_alphanumeric(), " "));
        let has = |w: &str| t.contains(&format!(" {w} "));
        // "Owner" alone or of a business, not a product or process owner.
        let owner = has("owner") && !["product", "process", "account", "data", "service"].iter().any(|w| has(w));
        const C_LEVEL: [&str; 12] =
            ["chief", "ceo", "cfo", "cto", "coo", "cmo", "cio", "cro", "ciso", "founder", "cofounder", "president"];
        if (C_LEVEL.iter().any(|w| has(w)) || owner) && !has("vice") {
            Seniority::CLevel
        } else if has("vp") || has("svp") || has("evp") || t.contains(" vice president ") || t.contains(" head of ") {
            Seniority::Vp
        } else if has("director") {
            Seniority::Director
        } else if has("manager") || t.contains(" team lead ") || has("supervisor") {
            Seniority::Manager
        } else {
            Seniority::Staff
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Seniority::Staff => "staff",
            Seniority::Manager => "manager",
            Seniority::Director => "director",
            Seniority::Vp => "vp",
            Seniority::CLevel => "c_level",
        }
    }
}

/// One fit rule: a test on a field of the lead and the points it adds (or takes away).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FitRule {
    /// `industry`, `country`, `company_size`, `title` or `email`.
    pub field: String,
    /// The field is one of these (case does not matter).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub is: Vec<String>,
    /// The number is at least this (`company_size`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_least: Option<i64>,
    /// The title is this senior (`title`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seniority: Option<Seniority>,
    /// The address is at a free-mail provider (`email`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub free_mail: Option<bool>,
    pub points: i64,
    /// What the reason says, e.g. "VP title".
    pub reason: String,
}

impl FitRule {
    fn matches(&self, lead: &Record) -> bool {
        let text = |f: &str| lead.get(f).as_text().map(str::to_string);
        match self.field.as_str() {
            "company_size" => {
                lead.get("company_size").as_int().zip(self.at_least).is_some_and(|(n, min)| n >= min)
                    || (!self.is.is_empty()
                        && lead.get("company_size").as_int().is_some_and(|n| self.is.contains(&n.to_string())))
            }
            "title" => match (text("title"), self.seniority) {
                (Some(t), Some(s)) => Seniority::of_title(&t) == s,
                (Some(t), None) => one_of(&t, &self.is),
                _ => false,
            },
            "email" => match (text("email"), self.free_mail) {
                (Some(e), Some(free)) => is_free_mail(&e) == free,
                (Some(e), None) => company_domain(&e).is_some_and(|d| one_of(&d, &self.is)),
                _ => false,
            },
            field => text(field).is_some_and(|v| one_of(&v, &self.is)),
        }
    }

    fn check(&self, at: usize, errors: &mut Vec<FieldError>) {
        let name = format!("fit[{at}]");
        let tests = usize::from(!self.is.is_empty())
            + usize::from(self.at_least.is_some())
            + usize::from(self.seniority.is_some())
            + usize::from(self.free_mail.is_some());
        match self.field.as_str() {
            "industry" | "country" if self.is.is_empty() || tests != 1 => {
                errors.push(FieldError::new(&name, format!("a rule on {} needs \"is\": [values]", self.field)))
            }
            "company_size" if tests != 1 => {
                errors.push(FieldError::new(&name, "a rule on company_size needs \"at_least\": N"))
            }
            "title" if tests != 1 || (self.seniority.is_none() && self.is.is_empty()) => errors.push(FieldError::new(
                &name,
                "a rule on title needs \"seniority\" (staff, manager, director, vp, c_level) or \"is\": [titles]",
            )),
            "email" if tests != 1 || (self.free_mail.is_none() && self.is.is_empty()) => errors
                .push(FieldError::new(&name, "a rule on email needs \"free_mail\": true/false or \"is\": [domains]")),
            "industry" | "country" | "company_size" | "title" | "email" => {}
            other => errors.push(FieldError::new(
                &name,
                format!("'{other}' cannot be scored; use industry, country, company_size, title or email"),
            )),
        }
        if !(-100..=100).contains(&self.points) {
            errors.push(FieldError::new(&name, "points must be between -100 and 100"));
        }
        if self.reason.trim().is_empty() || self.reason.chars().count() > 80 {
            errors.push(FieldError::new(&name, "give a reason of 1 to 80 characters (it is shown beside the score)"));
        }
    }
}

fn one_of(value: &str, options: &[String]) -> bool {
    let v = value.trim().to_lowercase();
    options.iter().any(|o| o.trim().to_lowercase() == v)
}

/// One routing rule: leads that match every test given go to the rule's co-workers, in turn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteRule {
    pub name: String,
    /// Countries (names or codes, as the form asks them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub country: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub industry: Vec<String>,
    /// Named accounts: company names or web domains.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub companies: Vec<String>,
    /// Who gets the leads, in turn.
    pub to: Vec<Uuid>,
}

impl RouteRule {
    pub fn matches(&self, lead: &Record) -> bool {
        let text = |f: &str| lead.get(f).as_text().unwrap_or_default().to_string();
        let company_hit = || {
            let company = text("company");
            let domain = company_domain(&text("email")).unwrap_or_default();
            self.companies.iter().any(|c| {
                let c = c.trim().to_lowercase();
                (!company.is_empty() && c == company.trim().to_lowercase()) || (!domain.is_empty() && c == domain)
            })
        };
        (self.country.is_empty() || one_of(&text("country"), &self.country))
            && (self.industry.is_empty() || one_of(&text("industry"), &self.industry))
            && (self.companies.is_empty() || company_hit())
    }
}

/// A co-worker in the round-robin, with a weight (2 gets twice the leads of 1) and a cap on the
/// open leads they may hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolMember {
    pub coworker_id: Uuid,
    #[serde(default = "one")]
    pub weight: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cap: Option<i64>,
}

fn one() -> i64 {
    1
}

/// When the clock runs: hours of the day and days of the week, at a fixed offset from UTC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BusinessHours {
    /// Minutes from midnight the day starts and ends (9:00 is 540).
    pub start_minute: i64,
    pub end_minute: i64,
    /// ISO weekdays the clock runs on, Monday = 1 … Sunday = 7.
    pub days: Vec<u8>,
    /// The company's offset from UTC, in minutes (Berlin in winter is 60).
    pub utc_offset_minutes: i64,
}

impl Default for BusinessHours {
    fn default() -> Self {
        BusinessHours { start_minute: 9 * 60, end_minute: 17 * 60, days: vec![1, 2, 3, 4, 5], utc_offset_minutes: 0 }
    }
}

impl BusinessHours {
    fn open_on(&self, day: i64) -> bool {
        // 1970-01-01 was a Thursday (ISO weekday 4).
        let weekday = (day + 3).rem_euclid(7) + 1;
        self.days.contains(&(weekday as u8))
    }

    /// The moment `minutes` of business time after `from` (UTC microseconds).
    pub fn add(&self, from: i64, minutes: i64) -> i64 {
        if self.days.is_empty() || self.end_minute <= self.start_minute {
            return from + minutes * MINUTE;
        }
        let offset = self.utc_offset_minutes * MINUTE;
        let local = from + offset;
        let first = local.div_euclid(DAY_MINUTES * MINUTE);
        let mut at = local.rem_euclid(DAY_MINUTES * MINUTE); // micros into the day
        let mut left = minutes * MINUTE;
        // Ten years of days at most (an hour a week would take that long to run out).
        for day in first..first + 3660 {
            let start = self.start_minute * MINUTE;
            let end = self.end_minute * MINUTE;
            if self.open_on(day) && at < end {
                let begin = at.max(start);
                if begin + left <= end {
                    return day * DAY_MINUTES * MINUTE + begin + left - offset;
                }
                left -= end - begin;
            }
            at = 0;
        }
        from + minutes * MINUTE
    }

    /// Business minutes between two moments (0 when `until` is not after `from`).
    pub fn minutes_between(&self, from: i64, until: i64) -> i64 {
        if until <= from {
            return 0;
        }
        if self.days.is_empty() || self.end_minute <= self.start_minute {
            return (until - from) / MINUTE;
        }
        let offset = self.utc_offset_minutes * MINUTE;
        let (from, until) = (from + offset, until + offset);
        let day_len = DAY_MINUTES * MINUTE;
        let mut total = 0;
        let mut day = from.div_euclid(day_len);
        let last = until.div_euclid(day_len);
        while day <= last && day - from.div_euclid(day_len) < 3660 {
            if self.open_on(day) {
                let open = day * day_len + self.start_minute * MINUTE;
                let close = day * day_len + self.end_minute * MINUTE;
                let a = open.max(from);
                let b = close.min(until);
                if b > a {
                    total += b - a;
                }
            }
            day += 1;
        }
        total / MINUTE
    }
}

/// Everything an admin sets about leads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LeadRules {
    /// Business minutes a new lead may wait for its first touch before it escalates.
    pub sla_minutes: i64,
    /// Business minutes after which an untouched lead goes to someone else.
    pub reroute_minutes: i64,
    pub business_hours: BusinessHours,
    /// Fit rules; the engagement part of the score is built in.
    pub fit: Vec<FitRule>,
    /// A lead whose company is an account goes to that account's owner first.
    pub route_to_account_owner: bool,
    /// Routing rules, first match wins.
    pub routing: Vec<RouteRule>,
    /// Everyone else's leads go round these co-workers (empty: every active rep, weight 1).
    pub round_robin: Vec<PoolMember>,
    /// Co-workers marked away: never given a lead while here.
    pub away: Vec<Uuid>,
}

impl Default for LeadRules {
    fn default() -> Self {
        let rule = |field: &str, points, reason: &str| FitRule {
            field: field.into(),
            is: Vec::new(),
            at_least: None,
            seniority: None,
            free_mail: None,
            points,
            reason: reason.into(),
        };
        LeadRules {
            sla_minutes: 5,
            reroute_minutes: 60,
            business_hours: BusinessHours::default(),
            fit: vec![
                FitRule { seniority: Some(Seniority::CLevel), ..rule("title", 25, "C-level title") },
                FitRule { seniority: Some(Seniority::Vp), ..rule("title", 20, "VP title") },
                FitRule { seniority: Some(Seniority::Director), ..rule("title", 15, "Director title") },
                FitRule { seniority: Some(Seniority::Manager), ..rule("title", 5, "Manager title") },
                FitRule { at_least: Some(200), ..rule("company_size", 10, "200+ employees") },
                FitRule { free_mail: Some(true), ..rule("email", -10, "free-mail address") },
            ],
            route_to_account_owner: true,
            routing: Vec::new(),
            round_robin: Vec::new(),
            away: Vec::new(),
        }
    }
}

impl LeadRules {
    /// Reads the stored rules (the defaults when none or unreadable).
    pub fn parse(text: &str) -> Result<LeadRules, CoreError> {
        serde_json::from_str(text).map_err(|e| CoreError::invalid("lead_rules", e.to_string()))
    }

    /// Checks every rule, naming each one at fault.
    pub fn check(&self) -> Result<(), CoreError> {
        let mut errors = Vec::new();
        if !(1..=10_080).contains(&self.sla_minutes) {
            errors.push(FieldError::new("sla_minutes", "must be between 1 minute and 7 days (10080)"));
        }
        if self.reroute_minutes <= self.sla_minutes || self.reroute_minutes > 43_200 {
            errors.push(FieldError::new(
                "reroute_minutes",
                "must be longer than sla_minutes and at most 30 days (43200)",
            ));
        }
        let h = &self.business_hours;
        if !(0..DAY_MINUTES).contains(&h.start_minute)
            || !(1..=DAY_MINUTES).contains(&h.end_minute)
            || h.end_minute <= h.start_minute
        {
            errors.push(FieldError::new("business_hours", "the day must start before it ends, within 0–1440 minutes"));
        }
        if h.days.iter().any(|d| !(1..=7).contains(d)) {
            errors.push(FieldError::new("business_hours.days", "days are 1 (Monday) to 7 (Sunday)"));
        }
        if !(-14 * 60..=14 * 60).contains(&h.utc_offset_minutes) {
            errors.push(FieldError::new("business_hours.utc_offset_minutes", "must be between -840 and 840"));
        }
        if self.fit.len() > 100 || self.routing.len() > 100 || self.round_robin.len() > 1000 {
            errors
                .push(FieldError::new("lead_rules", "keep to 100 fit rules, 100 routing rules and 1000 pool members"));
        }
        for (i, r) in self.fit.iter().enumerate() {
            r.check(i, &mut errors);
        }
        for (i, r) in self.routing.iter().enumerate() {
            if r.name.trim().is_empty() || r.name.chars().count() > 80 {
                errors.push(FieldError::new(format!("routing[{i}]"), "give the rule a name of 1 to 80 characters"));
            }
            if r.to.is_empty() {
                errors.push(FieldError::new(
                    format!("routing[{i}]"),
                    "name who gets the leads (\"to\": [co-worker ids])",
                ));
            }
            if r.country.is_empty() && r.industry.is_empty() && r.companies.is_empty() {
                errors.push(FieldError::new(
                    format!("routing[{i}]"),
                    "test at least one of country, industry, companies",
                ));
            }
        }
        for (i, m) in self.round_robin.iter().enumerate() {
            if !(1..=100).contains(&m.weight) {
                errors.push(FieldError::new(format!("round_robin[{i}]"), "weight must be between 1 and 100"));
            }
            if m.cap.is_some_and(|c| c < 1) {
                errors.push(FieldError::new(format!("round_robin[{i}]"), "a cap must be at least 1 open lead"));
            }
        }
        if errors.is_empty() { Ok(()) } else { Err(CoreError::Invalid(errors)) }
    }

    /// The lead's score and its reasons, e.g. `["+20 VP title", "-10 free-mail address"]`.
    /// `conversations` is how many calls and emails were logged against it.
    pub fn score(&self, lead: &Record, conversations: usize, now: i64) -> (i64, Vec<String>) {
        let mut total = 0;
        let mut reasons = Vec::new();
        let mut add = |points: i64, reason: String| {
            total += points;
            reasons.push(format!("{points:+} {reason}"));
        };
        for rule in &self.fit {
            if rule.matches(lead) {
                add(rule.points, rule.reason.clone());
            }
        }
        let submissions = lead.get("submissions").as_int().unwrap_or(1);
        if submissions > 1 {
            add(5 * (submissions - 1).min(3), format!("came in {submissions} times"));
        }
        if lead.get("last_submission_at").as_int().is_some_and(|t| now - t < 7 * DAY_MINUTES * MINUTE) {
            add(5, "came in this week".into());
        }
        if conversations > 0 {
            let n = conversations.min(2) as i64;
            add(
                5 * n,
                format!("{conversations} call{} or email{} logged", plural(conversations), plural(conversations)),
            );
        }
        (total, reasons)
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// What a new lead is matched on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Person {
    /// Normalised email (lower case).
    pub email: Option<String>,
    /// Phone digits.
    pub phone: Option<String>,
    pub name: String,
    pub company: String,
}

impl Person {
    pub fn of(lead: &Record) -> Person {
        let text = |f: &str| lead.get(f).as_text().unwrap_or_default().trim().to_string();
        Person {
            email: lead.get("email").as_text().and_then(|e| normalize_email(e).ok()),
            phone: lead.get("phone").as_text().map(phone_digits).filter(|d| d.len() >= 7),
            name: format!("{} {}", text("first_name"), text("last_name")).trim().to_lowercase(),
            company: text("company").to_lowercase(),
        }
    }
}

/// What a new lead turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeadMatch {
    /// The same email as this lead: it came in again.
    Repeat(Uuid),
    /// Probably the same person (same phone, or a similar name at a similar company) with
    /// another email: kept apart and marked for review.
    Duplicate(Uuid),
    New,
}

/// Whether two phone numbers (digits only, at least 7 each) are the same line: the same last
/// digits, as many as the shorter has (up to ten), so a country code or trunk zero does not matter.
fn same_phone(a: &str, b: &str) -> bool {
    let n = a.len().min(b.len()).min(10);
    n >= 7 && a[a.len() - n..] == b[b.len() - n..]
}

/// Matches a new lead against existing ones. A repeat is only ever the same normalised email;
/// without one, the same phone or a similar name (Jaro-Winkler ≥ 0.92) at a similar company
/// (≥ 0.88) marks a probable duplicate. Candidates are tried in the order given.
pub fn match_lead(new: &Person, candidates: &[(Uuid, Person)]) -> LeadMatch {
    if let Some(email) = &new.email
        && let Some((id, _)) = candidates.iter().find(|(_, c)| c.email.as_ref() == Some(email))
    {
        return LeadMatch::Repeat(*id);
    }
    if let Some(phone) = &new.phone
        && let Some((id, _)) = candidates.iter().find(|(_, c)| c.phone.as_deref().is_some_and(|p| same_phone(p, phone)))
    {
        return LeadMatch::Duplicate(*id);
    }
    if !new.name.is_empty() && !new.company.is_empty() {
        for (id, c) in candidates {
            if c.company.is_empty() || c.name.is_empty() {
                continue;
            }
            if strsim::jaro_winkler(&new.name, &c.name) >= 0.92
                && strsim::jaro_winkler(&new.company, &c.company) >= 0.88
            {
                return LeadMatch::Duplicate(*id);
            }
        }
    }
    LeadMatch::New
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Value;

    fn lead(fields: &[(&'static str, &str)]) -> Record {
        let mut r = Record::default();
        for (k, v) in fields {
            r.fields.insert(k, Value::Text((*v).into()));
        }
        r
    }

    #[test]
    fn titles_read_as_seniority() {
        assert_eq!(Seniority::of_title("Chief Revenue Officer"), Seniority::CLevel);
        assert_eq!(Seniority::of_title("VP, Sales"), Seniority::Vp);
        assert_eq!(Seniority::of_title("Vice President Marketing"), Seniority::Vp);
        assert_eq!(Seniority::of_title("Head of IT"), Seniority::Vp);
        assert_eq!(Seniority::of_title("Director of Operations"), Seniority::Director);
        assert_eq!(Seniority::of_title("Sales Manager"), Seniority::Manager);
        assert_eq!(Seniority::of_title("Accountant"), Seniority::Staff);
        assert_eq!(Seniority::of_title("Product Owner"), Seniority::Staff);
        assert_eq!(Seniority::of_title("Lead Developer"), Seniority::Staff);
        assert_eq!(Seniority::of_title("Owner"), Seniority::CLevel);
        assert_eq!(Seniority::of_title("Support Team Lead"), Seniority::Manager);
    }

    #[test]
    fn the_score_says_why() {
        let rules = LeadRules::default();
        let l = lead(&[("title", "VP Sales"), ("email", "ann@gmail.com")]);
        let (score, reasons) = rules.score(&l, 0, 0);
        assert_eq!(score, 10);
        assert_eq!(reasons, vec!["+20 VP title", "-10 free-mail address"]);
    }

    #[test]
    fn business_minutes_skip_nights_and_weekends() {
        let h = BusinessHours::default();
        // Friday 2026-11-27 16:58 UTC + 5 business minutes = Monday 2026-11-30 09:03.
        let fri = crate::time::parse_timestamp("2026-11-27T16:58:00Z").expect("time");
        let mon = crate::time::parse_timestamp("2026-11-30T09:03:00Z").expect("time");
        assert_eq!(h.add(fri, 5), mon);
        assert_eq!(h.minutes_between(fri, mon), 5);
        // Saturday 03:00 + 5 = Monday 09:05.
        let sat = crate::time::parse_timestamp("2026-11-28T03:00:00Z").expect("time");
        assert_eq!(h.add(sat, 5), mon + 2 * MINUTE);
    }

    #[test]
    fn similar_names_at_similar_companies_are_duplicates() {
        let a = Person { name: "mateus andersen".into(), company: "nordlys as".into(), ..Default::default() };
        let b = Person { name: "mateus anderson".into(), company: "nordlys a/s".into(), ..Default::default() };
        let id = Uuid::now_v7();
        assert_eq!(match_lead(&b, &[(id, a.clone())]), LeadMatch::Duplicate(id));
        let c = Person { name: "maria santos".into(), company: "nordlys as".into(), ..Default::default() };
        assert_eq!(match_lead(&c, &[(id, a)]), LeadMatch::New);
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    fn email() -> impl Strategy<Value = String> {
        ("[a-z]{1,6}(\\.[a-z]{1,3})?", "[a-z]{1,5}\\.(com|io|de)").prop_map(|(l, d)| format!("{l}@{d}"))
    }

    proptest! {
        /// A repeat is only ever the same normalised email, and the same email is always found,
        /// whatever else the candidates share (names, companies, phones).
        #[test]
        fn repeats_are_exactly_the_same_email(
            new_email in email(),
            others in proptest::collection::vec((email(), "[a-z ]{0,12}", "[0-9]{0,10}"), 0..8),
            same in any::<bool>(),
            name in "[a-z ]{0,12}",
            phone in "[0-9]{0,10}",
        ) {
            let mut candidates: Vec<(Uuid, Person)> = others
                .iter()
                .map(|(e, n, p)| (Uuid::now_v7(), Person {
                    email: Some(e.clone()),
                    phone: Some(p.clone()).filter(|p| p.len() >= 7),
                    name: n.clone(),
                    company: "acme".into(),
                }))
                .collect();
            if same {
                candidates.push((Uuid::now_v7(), Person { email: Some(new_email.to_uppercase().to_lowercase()), ..Default::default() }));
            }
            let new = Person { email: Some(new_email.clone()), phone: Some(phone).filter(|p| p.len() >= 7), name, company: "acme".into() };
            match match_lead(&new, &candidates) {
                LeadMatch::Repeat(id) => {
                    let hit = candidates.iter().find(|(c, _)| *c == id).map(|(_, p)| p.email.clone());
                    prop_assert_eq!(hit, Some(Some(new_email.clone())));
                }
                _ => prop_assert!(!candidates.iter().any(|(_, c)| c.email.as_ref() == Some(&new_email))),
            }
        }

        /// The clock never runs backwards and never stops: more minutes end later.
        #[test]
        fn business_time_moves_forward(from in 0i64..4_000_000_000_000_000, m in 1i64..5000) {
            let h = BusinessHours::default();
            let a = h.add(from, m);
            prop_assert!(a > from);
            prop_assert!(h.add(from, m + 1) > a);
            prop_assert_eq!(h.minutes_between(from, a), m);
        }
    }
}
