//! A departure case, and the transition plan that hands a leaver's book to colleagues.
//!
//! The plan is worked out here, without storage: given what the leaver owns and who may take it,
//! a rule says who gets each record. An account moves with what hangs under it that the leaver
//! owns (its contacts, deals, contracts and tasks), so no rule ever splits an account from its
//! records; leads and records with no account of the leaver's follow the rule on their own.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use serde_json::{Value as Json, json};
use uuid::Uuid;

use crate::record::{self, Kind, Record, RecordKind};
use crate::time::format_timestamp;

/// Why a co-worker leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    Resignation,
    /// Access ends at once when the case is recorded.
    Termination,
    Retirement,
    Other,
}

impl Reason {
    pub const ALL: [Reason; 4] = [Reason::Resignation, Reason::Termination, Reason::Retirement, Reason::Other];
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Resignation => "resignation",
            Reason::Termination => "termination",
            Reason::Retirement => "retirement",
            Reason::Other => "other",
        }
    }
    pub fn parse(s: &str) -> Result<Reason, String> {
        Reason::ALL.into_iter().find(|r| r.as_str() == s.trim().to_lowercase()).ok_or_else(|| {
            format!("'{}' is not a reason for leaving; use resignation, termination, retirement or other", s.trim())
        })
    }
}

/// Where a case stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseStatus {
    /// Being worked: the co-worker is departing, or has left with records still to hand over.
    Open,
    /// Access ended and nothing left to hand over.
    Closed,
    /// Called off: the co-worker stays.
    Cancelled,
}

impl CaseStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CaseStatus::Open => "open",
            CaseStatus::Closed => "closed",
            CaseStatus::Cancelled => "cancelled",
        }
    }
    pub fn parse(s: &str) -> Option<CaseStatus> {
        [CaseStatus::Open, CaseStatus::Closed, CaseStatus::Cancelled].into_iter().find(|c| c.as_str() == s)
    }
}

/// Who opened the case: a person in Holdfast, or the company's identity provider (SCIM).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Manual,
    IdentityProvider,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Manual => "manual",
            Source::IdentityProvider => "identity_provider",
        }
    }
    pub fn parse(s: &str) -> Option<Source> {
        [Source::Manual, Source::IdentityProvider].into_iter().find(|c| c.as_str() == s)
    }
}

/// The steps of a case, in the order they are usually done. The notice step is read from the
/// co-worker's acknowledgements; the others are kept on the case as they are done.
pub const STEPS: [(&str, &str); 6] = [
    ("notice", "Confidentiality notice acknowledged"),
    ("review", "Data reviewed (90-day report, alerts, evidence)"),
    ("plan", "Transition plan"),
    ("transfer", "Records handed over"),
    ("introductions", "Introductions to key contacts"),
    ("access", "Access ended"),
];

/// One step done: by whom, when, and what it produced.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct StepDone {
    /// The co-worker who did it; `None` for the operator or the scheduler.
    pub by: Option<Uuid>,
    pub at: i64,
    #[serde(default, skip_serializing_if = "Json::is_null")]
    pub detail: Json,
}

/// A departure case.
#[derive(Debug, Clone, PartialEq)]
pub struct Departure {
    pub id: Uuid,
    pub coworker_id: Uuid,
    pub status: CaseStatus,
    pub source: Source,
    pub reason: Reason,
    /// `YYYY-MM-DD`.
    pub notice_date: String,
    /// `YYYY-MM-DD`: the last day they work; access ends when it is over.
    pub last_day: String,
    /// When access ends (microseconds): the end of the last day, or at once for a termination.
    pub access_ends_at: i64,
    /// Where they go, if known (a competitor, a customer, retirement…).
    pub destination: Option<String>,
    pub good_terms: bool,
    pub opened_by: Option<Uuid>,
    pub opened_at: i64,
    /// Steps done, by name (see [`STEPS`]).
    pub steps: BTreeMap<String, StepDone>,
    pub closed_at: Option<i64>,
}

impl Departure {
    pub fn step(&self, name: &str) -> Option<&StepDone> {
        self.steps.get(name)
    }
    pub fn to_json(&self) -> Json {
        let steps: serde_json::Map<String, Json> = self
            .steps
            .iter()
            .map(|(k, s)| (k.clone(), json!({"by": s.by, "at": format_timestamp(s.at), "detail": s.detail})))
            .collect();
        json!({
            "id": self.id,
            "coworker_id": self.coworker_id,
            "status": self.status,
            "source": self.source,
            "reason": self.reason,
            "notice_date": self.notice_date,
            "last_day": self.last_day,
            "access_ends_at": format_timestamp(self.access_ends_at),
            "destination": self.destination,
            "good_terms": self.good_terms,
            "opened_by": self.opened_by,
            "opened_at": format_timestamp(self.opened_at),
            "steps": steps,
            "closed_at": self.closed_at.map(format_timestamp),
        })
    }
}

/// How a leaver's book is shared out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    /// Everything to one colleague.
    One(Uuid),
    /// Weighted by book size: each recipient takes as many accounts as fills the smaller books
    /// first (accounts owned, counting those this plan gives them; equal books alternate), and the
    /// accounts, most valuable first, go to whoever with room left has been given the least
    /// value, so counts and value are both spread evenly.
    RoundRobin,
    /// By the account's country: country (case-insensitive) to recipient, `*` for the rest.
    Territory(BTreeMap<String, Uuid>),
    /// Hand-picked account by account; everything not named goes to `rest`.
    Picked { accounts: HashMap<Uuid, Uuid>, rest: Option<Uuid> },
}

impl Rule {
    pub fn name(&self) -> &'static str {
        match self {
            Rule::One(_) => "one",
            Rule::RoundRobin => "round_robin",
            Rule::Territory(_) => "territory",
            Rule::Picked { .. } => "picked",
        }
    }
}

/// A colleague who may take records: their id and the accounts they already own.
#[derive(Debug, Clone, PartialEq)]
pub struct Recipient {
    pub id: Uuid,
    pub book: i64,
}

/// One record's move.
#[derive(Debug, Clone, Copy)]
pub struct Move {
    pub kind: &'static RecordKind,
    pub id: Uuid,
    pub to: Uuid,
}

/// Why a plan cannot be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanError {
    pub field: &'static str,
    pub message: String,
}

fn plan_error(field: &'static str, message: impl Into<String>) -> PlanError {
    PlanError { field, message: message.into() }
}

/// Works out who gets each record. `owned` is every live record the leaver owns, per kind;
/// `recipients` are the colleagues the rule may use (for `One`, `Territory` and `Picked` the
/// rule names them itself, and they must be among `recipients`).
pub fn plan(
    rule: &Rule,
    recipients: &[Recipient],
    owned: &[(&'static RecordKind, Vec<Record>)],
) -> Result<Vec<Move>, PlanError> {
    if recipients.is_empty() {
        return Err(plan_error("recipients", "name at least one active colleague to take over"));
    }
    let eligible = |id: Uuid, field: &'static str| {
        if recipients.iter().any(|r| r.id == id) {
            Ok(id)
        } else {
            Err(plan_error(field, "only active colleagues named as recipients may take over"))
        }
    };
    let accounts: Vec<&Record> =
        owned.iter().filter(|(k, _)| k.kind == Kind::Account).flat_map(|(_, rs)| rs.iter()).collect::<Vec<_>>();
    let mut sorted = accounts.clone();
    sorted.sort_by(|a, b| {
        let va = a.get("annual_value").as_int().unwrap_or(0);
        let vb = b.get("annual_value").as_int().unwrap_or(0);
        vb.cmp(&va).then_with(|| a.label(&record::ACCOUNTS).cmp(&b.label(&record::ACCOUNTS))).then(a.id.cmp(&b.id))
    });
    // Round-robin: how many accounts each recipient takes, filling the smaller book first (equal
    // books alternate); then the accounts, most valuable first, each to the recipient with room
    // left who has been given the least value so far, so the value is spread as evenly as the
    // counts are.
    let mut quota: Vec<i64> = vec![0; recipients.len()];
    if *rule == Rule::RoundRobin {
        let mut books: Vec<i64> = recipients.iter().map(|r| r.book).collect();
        for _ in 0..sorted.len() {
            let i = smallest(&books);
            books[i] += 1;
            quota[i] += 1;
        }
    }
    let mut given_value: Vec<i64> = vec![0; recipients.len()];
    let mut account_to: HashMap<Uuid, Uuid> = HashMap::new();
    let mut unplaced_countries: Vec<String> = Vec::new();
    for account in &sorted {
        let to = match rule {
            Rule::One(to) => eligible(*to, "to")?,
            Rule::RoundRobin => {
                let mut best: Option<usize> = None;
                for i in (0..recipients.len()).filter(|i| quota[*i] > 0) {
                    if best.is_none_or(|b| given_value[i] < given_value[b]) {
                        best = Some(i);
                    }
                }
                let Some(i) = best else { continue };
                quota[i] -= 1;
                given_value[i] += account.get("annual_value").as_int().unwrap_or(0);
                recipients[i].id
            }
            Rule::Territory(map) => {
                let country = account.get("country").as_text().unwrap_or("").trim().to_lowercase();
                match map.get(&country).or_else(|| map.get("*")) {
                    Some(to) => eligible(*to, "territories")?,
                    None => {
                        let shown = if country.is_empty() { "no country".to_string() } else { country };
                        if !unplaced_countries.contains(&shown) {
                            unplaced_countries.push(shown);
                        }
                        continue;
                    }
                }
            }
            Rule::Picked { accounts, rest } => match accounts.get(&account.id).or(rest.as_ref()) {
                Some(to) => eligible(*to, "accounts")?,
                None => {
                    return Err(plan_error(
                        "accounts",
                        format!(
                            "{} is not given to anyone; pick a colleague for it or name one for the rest",
                            account.label(&record::ACCOUNTS)
                        ),
                    ));
                }
            },
        };
        account_to.insert(account.id, to);
    }
    if !unplaced_countries.is_empty() {
        return Err(plan_error(
            "territories",
            format!("no colleague for accounts in {}; add them or a '*' for the rest", unplaced_countries.join(", ")),
        ));
    }
    // Records with no account of the leaver's: the rule on its own, per kind.
    let mut loose_turn: HashMap<&str, Vec<i64>> = HashMap::new();
    let mut moves = Vec::new();
    for (kind, records) in owned {
        for r in records {
            let to = match r.account(kind).and_then(|a| account_to.get(&a)) {
                Some(to) => *to,
                None => match rule {
                    Rule::One(to) => *to,
                    Rule::RoundRobin => {
                        let counts = loose_turn.entry(kind.name).or_insert_with(|| vec![0; recipients.len()]);
                        let i = smallest(counts);
                        counts[i] += 1;
                        recipients[i].id
                    }
                    Rule::Territory(map) => match map.get("*") {
                        Some(to) => eligible(*to, "territories")?,
                        None => {
                            return Err(plan_error(
                                "territories",
                                format!("{} with no account need a '*' colleague for the rest", kind.plural),
                            ));
                        }
                    },
                    Rule::Picked { rest, .. } => match rest {
                        Some(to) => eligible(*to, "rest")?,
                        None => {
                            return Err(plan_error(
                                "rest",
                                format!("{} with no account need a colleague for the rest", kind.plural),
                            ));
                        }
                    },
                },
            };
            moves.push(Move { kind, id: r.id, to });
        }
    }
    Ok(moves)
}

/// The index of the smallest number (the first of equals).
fn smallest(counts: &[i64]) -> usize {
    let mut best = 0;
    for (i, c) in counts.iter().enumerate() {
        if *c < counts[best] {
            best = i;
        }
    }
    best
}

/// Whether a deal is still being worked.
pub fn deal_is_open(r: &Record) -> bool {
    !matches!(r.get("stage").as_text(), Some("closed_won" | "closed_lost"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Value;

    fn record(_kind: &RecordKind, fields: &[(&'static str, Value)]) -> Record {
        let mut r = Record { id: crate::id::new_id(), ..Default::default() };
        for (k, v) in fields {
            r.fields.insert(k, v.clone());
        }
        r
    }
    fn account(value: i64, country: &str) -> Record {
        record(
            &record::ACCOUNTS,
            &[
                ("name", Value::Text(format!("A{value}"))),
                ("annual_value", Value::Int(value)),
                ("country", Value::Text(country.into())),
            ],
        )
    }
    fn under(kind: &RecordKind, a: &Record) -> Record {
        record(kind, &[(kind.account_field.unwrap_or("account_id"), Value::Text(a.id.to_string()))])
    }

    #[test]
    fn an_account_moves_with_its_records_and_round_robin_fills_the_smaller_book_first() {
        let accounts: Vec<Record> = (1..=6).map(|i| account(i * 100, "DE")).collect();
        let contacts: Vec<Record> = accounts.iter().map(|a| under(&record::CONTACTS, a)).collect();
        let deals: Vec<Record> = accounts.iter().map(|a| under(&record::DEALS, a)).collect();
        let lead = record(&record::LEADS, &[]);
        let (x, y) = (crate::id::new_id(), crate::id::new_id());
        let owned = vec![
            (&record::ACCOUNTS, accounts.clone()),
            (&record::CONTACTS, contacts.clone()),
            (&record::LEADS, vec![lead.clone()]),
            (&record::DEALS, deals.clone()),
        ];
        let moves = plan(&Rule::RoundRobin, &[Recipient { id: x, book: 2 }, Recipient { id: y, book: 0 }], &owned)
            .expect("plan");
        let to = |id: Uuid| moves.iter().find(|m| m.id == id).expect("moved").to;
        let to_x = accounts.iter().filter(|a| to(a.id) == x).count();
        assert_eq!((to_x, 6 - to_x), (2, 4), "the smaller book is filled first, then they alternate");
        let value = |who: Uuid| -> i64 {
            accounts.iter().filter(|a| to(a.id) == who).map(|a| a.get("annual_value").as_int().unwrap_or(0)).sum()
        };
        // Values 100…600: the biggest to x, the next two to y (less given so far), 300 to x, whose
        // room is then used up; x does not get the two biggest.
        assert_eq!((value(x), value(y)), (600 + 300, 500 + 400 + 200 + 100), "value is spread as counts allow");
        for (i, a) in accounts.iter().enumerate() {
            assert_eq!(to(contacts[i].id), to(a.id), "a contact follows its account");
            assert_eq!(to(deals[i].id), to(a.id), "a deal follows its account");
        }
        assert_eq!(moves.len(), 6 + 6 + 6 + 1);
        assert!([x, y].contains(&to(lead.id)));
    }

    #[test]
    fn territory_needs_a_colleague_for_every_country_and_picked_for_every_account() {
        let (de, us) = (account(1, "DE"), account(2, "US"));
        let owned = vec![(&record::ACCOUNTS, vec![de.clone(), us.clone()])];
        let (x, y) = (crate::id::new_id(), crate::id::new_id());
        let both = [Recipient { id: x, book: 0 }, Recipient { id: y, book: 0 }];
        let only_de = Rule::Territory([("de".to_string(), x)].into());
        let e = plan(&only_de, &both, &owned).expect_err("US has nobody");
        assert!(e.message.contains("us"), "{}", e.message);
        let with_rest = Rule::Territory([("de".to_string(), x), ("*".to_string(), y)].into());
        let moves = plan(&with_rest, &both, &owned).expect("plan");
        assert_eq!(moves.iter().find(|m| m.id == us.id).map(|m| m.to), Some(y));
        let picked = Rule::Picked { accounts: [(de.id, y)].into(), rest: None };
        assert_eq!(plan(&picked, &both, &owned).expect_err("US not picked").field, "accounts");
        let stranger = Rule::One(crate::id::new_id());
        assert_eq!(plan(&stranger, &both, &owned).expect_err("not a recipient").field, "to");
    }
}
