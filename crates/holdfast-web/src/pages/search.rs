//! The header search: accounts, contacts, leads and deals at once, grouped by kind; as you type,
//! the same results drop down under the box (the page asked for its results only).

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use holdfast_core::record::{self, Record, RecordKind};
use holdfast_core::service::SearchHit;

use super::error::PageResult;
use super::session::PageUser;
use super::view::{Me, encode, render, show};
use crate::state::AppState;

struct Hit {
    href: String,
    label: String,
    detail: String,
}

struct Group {
    title: &'static str,
    more: String,
    hits: Vec<Hit>,
}

#[derive(Template)]
#[template(path = "search.html")]
struct SearchPage {
    me: Option<Me>,
    q: String,
    groups: Vec<Group>,
}

#[derive(Template)]
#[template(path = "search_results.html")]
struct SearchResults {
    q: String,
    groups: Vec<Group>,
}

/// A line under a hit's name: what tells two "Acme"s apart.
fn detail(kind: &RecordKind, r: &Record) -> String {
    let fields: &[&str] = match kind.kind {
        record::Kind::Account => &["domain", "city", "tier"],
        record::Kind::Contact => &["title", "email"],
        record::Kind::Lead => &["company", "email", "status"],
        _ => &["stage", "amount", "close_date"],
    };
    fields.iter().map(|f| show(kind, r, f)).filter(|v| !v.is_empty()).collect::<Vec<_>>().join(" · ")
}

fn groups(hits: Vec<SearchHit>, q: &str) -> Vec<Group> {
    hits.into_iter()
        .filter(|h| !h.records.is_empty())
        .map(|h| {
            let kind = h.kind;
            let href = |r: &Record| match kind.kind {
                record::Kind::Account | record::Kind::Contact => format!("/{}/{}", kind.plural, r.id),
                _ => format!("/{}/{}/edit", kind.plural, r.id),
            };
            Group {
                title: match kind.kind {
                    record::Kind::Account => "Accounts",
                    record::Kind::Contact => "Contacts",
                    record::Kind::Lead => "Leads",
                    _ => "Deals",
                },
                more: format!("/{}?q={}", kind.plural, encode(q)),
                hits: h
                    .records
                    .iter()
                    .map(|r| Hit { href: href(r), label: r.label(kind), detail: detail(kind, r) })
                    .collect(),
            }
        })
        .collect()
}

/// `GET /search?q=`: the results page, or only the results when the header search asks.
pub async fn search(
    State(s): State<AppState>,
    user: PageUser,
    headers: HeaderMap,
    Query(params): Query<Vec<(String, String)>>,
) -> PageResult {
    let q = params.iter().find(|(k, _)| k == "q").map(|(_, v)| v.trim().to_string()).unwrap_or_default();
    let partial = headers.get("x-holdfast-partial").is_some();
    let groups = if record::search_words(&q).is_empty() {
        Vec::new()
    } else {
        let (query, per_kind) = (q.clone(), if partial { 5 } else { 20 });
        let hits = user.call(&s, move |s, actor| s.search(actor, &query, per_kind)).await?;
        groups(hits, &q)
    };
    if partial {
        return Ok(render(&SearchResults { q, groups }, StatusCode::OK));
    }
    Ok(render(&SearchPage { me: user.me(), q, groups }, StatusCode::OK))
}
