//! Relationship reports beside the exposure page: every account by coverage (weakest first, the
//! accounts list's Coverage column sorted), and the renewal calendar (contracts renewing in the
//! next 30, 90 or 180 days with the customer's fiscal year end, coverage and last senior contact).

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use holdfast_core::service::{CoverageRow, RenewalRow};
use holdfast_core::time::{MICROS_PER_DAY, date_of, parse_timestamp};
use uuid::Uuid;

use super::error::PageResult;
use super::session::PageUser;
use super::view::{Choice, Me, encode, money, render};
use crate::state::AppState;

const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

pub(crate) struct CoverageLine {
    pub(crate) id: Uuid,
    pub(crate) name: String,
    pub(crate) tier: String,
    pub(crate) owner: String,
    pub(crate) score: i64,
    pub(crate) reason: String,
    pub(crate) value: String,
    pub(crate) senior: String,
    pub(crate) weak: bool,
    /// Who does most of the talking (the only one, on a single-threaded account).
    pub(crate) talker: String,
}

/// "12 days ago", or what the window could not see.
fn senior_text(last: Option<i64>, now: i64) -> String {
    match last {
        Some(t) => format!("{} days ago", (now - t) / MICROS_PER_DAY),
        None => "none in 180 days".into(),
    }
}

pub(crate) fn coverage_line(r: &CoverageRow, owners: &HashMap<Uuid, String>, now: i64) -> CoverageLine {
    let mut reason = r.coverage.reason.clone();
    if let Some(first) = reason.get(..1) {
        reason = first.to_uppercase() + &reason[1..];
    }
    CoverageLine {
        id: r.coverage.account,
        name: r.name.clone(),
        tier: r.tier.clone().unwrap_or_default().replace('_', " "),
        owner: r.owner.and_then(|o| owners.get(&o).cloned()).unwrap_or_default(),
        score: r.coverage.score,
        reason,
        value: money(r.annual_value),
        senior: senior_text(r.coverage.last_senior_contact, now),
        weak: r.coverage.score < 50,
        talker: r.coverage.coworkers.first().map(|c| c.1.clone()).unwrap_or_default(),
    }
}

#[derive(Template)]
#[template(path = "coverage_accounts.html")]
struct CoveragePage {
    me: Option<Me>,
    rows: Vec<CoverageLine>,
    total: usize,
    tiers: Vec<Choice>,
    tier: String,
    only: String,
    shown: String,
    next: Option<String>,
    strongest_first: bool,
}

/// `GET /coverage/accounts?tier=&only=single|senior&sort=-score&offset=`: accounts by coverage.
pub async fn coverage_accounts(
    State(s): State<AppState>,
    user: PageUser,
    Query(q): Query<Vec<(String, String)>>,
) -> PageResult {
    let get = |k: &str| q.iter().rev().find(|(n, _)| n == k).map(|(_, v)| v.trim().to_string()).unwrap_or_default();
    let (tier, only, sort) = (get("tier"), get("only"), get("sort"));
    let offset: usize = get("offset").parse().unwrap_or(0);
    let (mut rows, owners, now) =
        user.call(&s, |s, actor| Ok((s.coverage_report(actor)?, s.coworker_names()?, s.now()))).await?;
    rows.retain(|r| tier.is_empty() || r.tier.as_deref() == Some(tier.as_str()));
    match only.as_str() {
        "single" => rows.retain(CoverageRow::single_threaded),
        "senior" => rows.retain(|r| r.senior_overdue(now)),
        _ => {}
    }
    let strongest_first = sort == "-score";
    if strongest_first {
        rows.reverse();
    }
    let total = rows.len();
    let page: Vec<CoverageLine> = rows.iter().skip(offset).take(100).map(|r| coverage_line(r, &owners, now)).collect();
    let next = (offset + 100 < total).then(|| {
        format!(
            "/coverage/accounts?tier={}&only={}&sort={}&offset={}",
            encode(&tier),
            encode(&only),
            encode(&sort),
            offset + 100
        )
    });
    let mut tiers = vec![Choice::new("", "Every tier")];
    tiers.extend(Choice::of_words(&["strategic", "enterprise", "mid_market", "smb"]));
    let page = CoveragePage {
        me: user.me(),
        shown: if total == 0 {
            "0".into()
        } else {
            format!("{}–{}", offset + 1, (offset + page.len()).max(offset + 1))
        },
        rows: page,
        total,
        tiers,
        tier,
        only,
        next,
        strongest_first,
    };
    Ok(render(&page, StatusCode::OK))
}

struct RenewalLine {
    contract: Uuid,
    name: String,
    account: Uuid,
    account_name: String,
    owner: String,
    value: String,
    date: String,
    days_left: i64,
    fiscal_year_end: String,
    score: i64,
    reason: String,
    senior: String,
    weak: bool,
}

#[derive(Template)]
#[template(path = "renewals.html")]
struct RenewalsPage {
    me: Option<Me>,
    days: i64,
    windows: Vec<(i64, bool)>,
    rows: Vec<RenewalLine>,
    total_value: String,
    weak: usize,
}

/// `GET /renewals?days=30|90|180`: the renewal calendar.
pub async fn renewals(State(s): State<AppState>, user: PageUser, Query(q): Query<Vec<(String, String)>>) -> PageResult {
    let days = q.iter().find(|(k, _)| k == "days").and_then(|(_, v)| v.parse::<i64>().ok()).unwrap_or(90).clamp(1, 730);
    let (rows, owners, now) =
        user.call(&s, move |s, actor| Ok((s.renewals(actor, days)?, s.coworker_names()?, s.now()))).await?;
    let midnight = |date: &str| parse_timestamp(&format!("{date}T00:00:00Z")).ok();
    let today = midnight(&date_of(now)).unwrap_or(now);
    let line = |r: &RenewalRow| {
        let rn = &r.renewal;
        let mut reason = r.coverage.reason.clone();
        if let Some(first) = reason.get(..1) {
            reason = first.to_uppercase() + &reason[1..];
        }
        RenewalLine {
            contract: rn.contract,
            name: rn.name.clone(),
            account: rn.account,
            account_name: rn.account_name.clone(),
            owner: rn.account_owner.and_then(|o| owners.get(&o).cloned()).unwrap_or_default(),
            value: money(rn.value),
            days_left: midnight(&rn.date).map(|d| (d - today) / MICROS_PER_DAY).unwrap_or(0),
            date: rn.date.clone(),
            fiscal_year_end: rn
                .fiscal_year_end_month
                .and_then(|m| MONTHS.get(usize::try_from(m - 1).ok()?))
                .map(|m| (*m).to_string())
                .unwrap_or_default(),
            score: r.coverage.score,
            reason,
            senior: senior_text(r.coverage.last_senior_contact, now),
            weak: r.coverage.score < 50,
        }
    };
    let lines: Vec<RenewalLine> = rows.iter().map(line).collect();
    let page = RenewalsPage {
        me: user.me(),
        days,
        windows: [30, 90, 180].iter().map(|d| (*d, *d == days)).collect(),
        total_value: money(rows.iter().map(|r| r.renewal.value).sum()),
        weak: lines.iter().filter(|l| l.weak).count(),
        rows: lines,
    };
    Ok(render(&page, StatusCode::OK))
}

#[derive(Template)]
#[template(path = "digest.html")]
struct DigestPage {
    me: Option<Me>,
    newly_single: Vec<CoverageLine>,
    senior: Vec<CoverageLine>,
    single_total: usize,
}

/// `GET /coverage/digest`: this week's coverage digest for whoever leads people (the same that is
/// mailed on Mondays where SMTP is set).
pub async fn digest(State(s): State<AppState>, user: PageUser) -> PageResult {
    let (d, owners, now) =
        user.call(&s, |s, actor| Ok((s.coverage_digest(actor)?, s.coworker_names()?, s.now()))).await?;
    let page = DigestPage {
        me: user.me(),
        newly_single: d.newly_single.iter().map(|r| coverage_line(r, &owners, now)).collect(),
        senior: d.senior_overdue.iter().map(|r| coverage_line(r, &owners, now)).collect(),
        single_total: d.single_total,
    };
    Ok(render(&page, StatusCode::OK))
}
