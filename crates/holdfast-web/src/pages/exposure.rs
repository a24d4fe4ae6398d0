//! Walk-out exposure: who would take customers with them if they left today, ranked by the
//! annual value of the accounts where they hold the only live relationship; one co-worker's
//! exposed accounts under `?coworker=`.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use holdfast_core::service::COVERAGE_WINDOW_DAYS;

use super::error::PageResult;
use super::session::PageUser;
use super::view::{Me, money, render, short_time};
use crate::state::AppState;

struct Row {
    email: String,
    name: String,
    accounts: usize,
    value: String,
    pipeline: String,
    renewals: i64,
    /// Its share of the largest value at stake, for the bar.
    bar: i64,
}

struct AccountRow {
    id: String,
    name: String,
    value: String,
    pipeline: String,
    renewals: i64,
    last_touch: String,
}

#[derive(Template)]
#[template(path = "exposure.html")]
struct ExposurePage {
    me: Option<Me>,
    rows: Vec<Row>,
    window: i64,
    /// The co-worker picked, and their accounts.
    picked: Option<String>,
    accounts: Vec<AccountRow>,
    total: String,
    /// The value at stake month by month, as an SVG chart.
    trend: String,
}

pub async fn exposure(State(s): State<AppState>, user: PageUser, Query(q): Query<Vec<(String, String)>>) -> PageResult {
    let picked = q.iter().find(|(k, _)| k == "coworker").map(|(_, v)| v.trim().to_lowercase());
    let (list, trend) = user.call(&s, |s, actor| Ok((s.exposure(actor)?, s.exposure_trend(actor, 6)?))).await?;
    let top = list.first().map_or(1, |e| e.value_at_stake.max(1));
    let rows = list
        .iter()
        .map(|e| Row {
            email: e.email.clone(),
            name: e.name.clone(),
            accounts: e.accounts.len(),
            value: money(e.value_at_stake),
            pipeline: money(e.open_pipeline),
            renewals: e.renewals,
            bar: e.value_at_stake * 100 / top,
        })
        .collect();
    let mine = picked.as_ref().and_then(|p| list.iter().find(|e| e.email.eq_ignore_ascii_case(p)));
    let accounts = mine
        .map(|e| {
            e.accounts
                .iter()
                .map(|a| AccountRow {
                    id: a.id.to_string(),
                    name: a.name.clone(),
                    value: money(a.annual_value),
                    pipeline: money(a.open_pipeline),
                    renewals: a.renewals,
                    last_touch: short_time(a.last_touch),
                })
                .collect()
        })
        .unwrap_or_default();
    let page = ExposurePage {
        me: user.me(),
        rows,
        window: COVERAGE_WINDOW_DAYS,
        picked: mine.map(|e| e.name.clone()),
        total: money(list.iter().map(|e| e.value_at_stake).sum()),
        accounts,
        trend: super::charts::trend_chart(&trend),
    };
    Ok(render(&page, StatusCode::OK))
}
