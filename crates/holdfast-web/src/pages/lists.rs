//! List pages for accounts, contacts, leads, deals and tasks: search as you type, filters, sort,
//! paging, and the bulk bar (its actions are in `bulk.rs`). Every list goes through the services,
//! so each is a system event like its API twin.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use holdfast_core::record::{self, FieldType, Kind, Record, RecordKind};
use holdfast_core::service::Page;
use uuid::Uuid;

use super::bulk;
use super::error::{PageError, PageResult};
use super::session::{PageUser, SignedForm};
use super::view::{Choice, Me, encode, render, show, title_case};
use crate::query::list_request;
use crate::state::AppState;

/// Query parameters that steer the page, not the list.
const PAGE_PARAMS: [&str; 9] = ["handed", "n", "to", "undone", "skipped", "along", "removed", "restored", "csrf_token"];

/// The kinds with a list page, by URL word.
const LIST_KINDS: [&str; 6] = ["accounts", "contacts", "leads", "deals", "contracts", "tasks"];

pub struct Column {
    label: &'static str,
    /// Where a click on the heading goes (sorts by this column), if it can sort.
    sort_href: Option<String>,
    arrow: &'static str,
}

/// A cell's text and where it links to, if anywhere.
pub struct Cell {
    text: String,
    href: Option<String>,
}

pub struct Row {
    id: Uuid,
    cells: Vec<Cell>,
}

pub struct Filter {
    name: &'static str,
    label: String,
    value: String,
    options: Vec<Choice>,
}

/// A query parameter, carried by "export all matching".
pub struct Param {
    name: String,
    value: String,
}

pub struct ListView {
    heading: String,
    singular: &'static str,
    plural: &'static str,
    path: String,
    csrf: String,
    searchable: bool,
    creatable: bool,
    q: String,
    sort: String,
    filters: Vec<Filter>,
    /// The list's current parameters (search, filters, sort), for "export all matching".
    params: Vec<Param>,
    columns: Vec<Column>,
    rows: Vec<Row>,
    first: Option<String>,
    next: Option<String>,
    coworkers: Vec<Choice>,
    notice: Option<bulk::Notice>,
    /// What an empty list says.
    empty: String,
    /// The list was recorded as an export (the co-worker read past the bulk-read limit).
    metered: bool,
    /// Showing deleted records (admins), to restore.
    deleted: bool,
    admin: bool,
}

#[derive(Template)]
#[template(path = "list.html")]
struct ListPage {
    me: Option<Me>,
    v: ListView,
}

/// Only the results (table, pager), for search as you type.
#[derive(Template)]
#[template(path = "list.html", block = "results")]
struct ListResults {
    v: ListView,
}

/// The list pages and their bulk routes, one set per kind.
pub fn routes(mut router: axum::Router<AppState>) -> axum::Router<AppState> {
    for plural in LIST_KINDS {
        router = router
            .route(
                &format!("/{plural}"),
                get(move |State(s): State<AppState>, user: PageUser, headers: HeaderMap, Query(q): Query<Params>| {
                    list_page(s, user, plural, headers, q)
                }),
            )
            .route(
                &format!("/{plural}/bulk"),
                post(move |State(s): State<AppState>, form: SignedForm| bulk::bulk(s, plural, form)),
            )
            .route(
                &format!("/{plural}/export"),
                post(move |State(s): State<AppState>, form: SignedForm| bulk::export_matching(s, plural, form)),
            );
    }
    router.route("/bulk/{id}/undo", post(bulk::undo))
}

type Params = Vec<(String, String)>;

/// The columns of a kind's list: heading and field (`""` is the record's label).
fn columns_of(kind: &RecordKind) -> Vec<(&'static str, &'static str)> {
    match kind.kind {
        Kind::Account => vec![
            ("Name", "name"),
            ("Domain", "domain"),
            ("Tier", "tier"),
            ("Lifecycle", "lifecycle"),
            ("City", "city"),
            ("Annual value", "annual_value"),
            ("Coverage", "coverage"),
            ("Owner", "owner_id"),
        ],
        Kind::Lead => vec![
            ("Name", ""),
            ("Company", "company"),
            ("Email", "email"),
            ("Status", "status"),
            ("Score", "score"),
            ("Source", "source"),
            ("Came in", "routed_at"),
            ("Owner", "owner_id"),
        ],
        Kind::Deal => vec![
            ("Deal", "name"),
            ("Account", "account_id"),
            ("Stage", "stage"),
            ("Amount", "amount"),
            ("Close", "close_date"),
            ("Owner", "owner_id"),
        ],
        Kind::Contract => vec![
            ("Contract", "name"),
            ("Account", "account_id"),
            ("Value", "value"),
            ("Status", "status"),
            ("Renewal decided by", "renewal_date"),
            ("Ends", "end_date"),
            ("Owner", "owner_id"),
        ],
        Kind::Task => vec![
            ("Task", "title"),
            ("Account", "account_id"),
            ("Due", "due_date"),
            ("Status", "status"),
            ("Owner", "owner_id"),
        ],
        _ => vec![
            ("Name", ""),
            ("Account", "account_id"),
            ("Title", "title"),
            ("Email", "email"),
            ("Phone", "phone"),
            ("Owner", "owner_id"),
        ],
    }
}

/// What a column sorts by, if anything.
fn sort_field(kind: &RecordKind, field: &'static str) -> Option<&'static str> {
    let field = if field.is_empty() { "last_name" } else { field };
    kind.field(field).filter(|f| f.sortable).map(|f| f.name)
}

fn href(path: &str, params: &[(String, String)]) -> String {
    if params.is_empty() {
        return path.to_string();
    }
    let query: Vec<String> = params.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect();
    format!("{path}?{}", query.join("&"))
}

/// The list parameters of a request: page-only ones and empty values ("Anyone") left out.
pub(crate) fn list_params(q: &[(String, String)]) -> Params {
    q.iter().filter(|(k, v)| !v.trim().is_empty() && !PAGE_PARAMS.contains(&k.as_str())).cloned().collect()
}

pub(crate) fn kind_of(plural: &str, user: &PageUser) -> Result<&'static RecordKind, PageError> {
    RecordKind::by_plural(plural).ok_or_else(|| user.fail(PageError::no_such_page()))
}

/// One list request as a page: its parameters and what they found.
struct Listing<'a> {
    kind: &'static RecordKind,
    plural: &'static str,
    path: String,
    /// Every parameter of the request, page ones included.
    q: &'a [(String, String)],
    /// The list's parameters.
    params: Params,
    page: Page,
    account_names: HashMap<Uuid, String>,
    owners: HashMap<Uuid, String>,
    /// Accounts' coverage (the accounts list's column).
    coverage: HashMap<Uuid, holdfast_core::service::AccountCoverage>,
}

impl Listing<'_> {
    fn get(&self, name: &str) -> String {
        self.q.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default()
    }

    /// Parameters without paging, and without the sort, for building links.
    fn base(&self) -> Params {
        self.params.iter().filter(|(k, _)| k != "cursor").cloned().collect()
    }

    fn unsorted(&self) -> Params {
        self.base().into_iter().filter(|(k, _)| k != "sort").collect()
    }

    fn columns(&self) -> Vec<Column> {
        let sort = self.get("sort");
        let current = if sort.is_empty() { self.kind.default_sort.to_string() } else { sort };
        columns_of(self.kind)
            .into_iter()
            .map(|(label, field)| {
                if field == "coverage" {
                    // computed from activities, not stored: sorted on the coverage report
                    return Column { label, sort_href: Some("/coverage/accounts".into()), arrow: "" };
                }
                let Some(by) = sort_field(self.kind, field) else {
                    return Column { label, sort_href: None, arrow: "" };
                };
                let (next, arrow) = if current == by {
                    (format!("-{by}"), " ▲")
                } else if current == format!("-{by}") {
                    (by.to_string(), " ▼")
                } else {
                    (by.to_string(), "")
                };
                let mut p = self.unsorted();
                p.push(("sort".into(), next));
                Column { label, sort_href: Some(href(&self.path, &p)), arrow }
            })
            .collect()
    }

    fn cell(&self, r: &Record, first: bool, field: &str) -> Cell {
        match field {
            "coverage" => {
                Cell { text: self.coverage.get(&r.id).map(|c| c.score.to_string()).unwrap_or_default(), href: None }
            }
            "owner_id" => Cell {
                text: r.owner(self.kind).and_then(|o| self.owners.get(&o).cloned()).unwrap_or_default(),
                href: None,
            },
            "account_id" => match r.get_ref("account_id") {
                Some(a) => Cell {
                    text: self.account_names.get(&a).cloned().unwrap_or_else(|| "(account)".into()),
                    href: Some(format!("/accounts/{a}")),
                },
                None => Cell { text: String::new(), href: None },
            },
            f => {
                let text = if f.is_empty() { r.label(self.kind) } else { show(self.kind, r, f) };
                if !first {
                    return Cell { text, href: None };
                }
                // Accounts, contacts and leads have a page of their own; deals and tasks open their form.
                let own = match self.kind.kind {
                    Kind::Account | Kind::Contact | Kind::Lead => format!("/{}/{}", self.plural, r.id),
                    _ => format!("/{}/{}/edit", self.plural, r.id),
                };
                Cell { text: if text.is_empty() { "(no name)".into() } else { text }, href: Some(own) }
            }
        }
    }

    fn rows(&self) -> Vec<Row> {
        let columns = columns_of(self.kind);
        self.page
            .items
            .iter()
            .map(|r| Row {
                id: r.id,
                cells: columns.iter().enumerate().map(|(i, (_, f))| self.cell(r, i == 0, f)).collect(),
            })
            .collect()
    }

    fn people(&self) -> Vec<Choice> {
        let mut people: Vec<Choice> =
            self.owners.iter().map(|(id, n)| Choice::new(id.to_string(), n.clone())).collect();
        people.sort_by(|a, b| a.label.cmp(&b.label));
        people
    }

    fn filters(&self, me: Option<Uuid>) -> Vec<Filter> {
        let mut owner_options = vec![Choice::new("", "Anyone")];
        owner_options.extend(me.map(|id| Choice::new(id.to_string(), "Me")));
        owner_options.extend(self.people());
        let mut filters =
            vec![Filter { name: "owner", label: "Owner".into(), value: self.get("owner"), options: owner_options }];
        for f in self.kind.fields {
            if let FieldType::Choice(opts) = f.ty {
                let mut options = vec![Choice::new("", "Any")];
                options.extend(Choice::of_words(opts));
                filters.push(Filter {
                    name: f.name,
                    label: title_case(&f.name.replace('_', " ")),
                    value: self.get(f.name),
                    options,
                });
            }
        }
        filters
    }

    fn empty(&self) -> String {
        let (plural, search) = (self.plural, self.get("q"));
        let filtered = self.params.iter().any(|(k, _)| !matches!(k.as_str(), "q" | "sort" | "cursor" | "deleted"));
        match (search.trim().is_empty(), filtered) {
            _ if self.get("deleted") == "true" => format!("No deleted {plural}."),
            (true, false) => format!("No {plural} yet."),
            (true, true) => format!("No {plural} match these filters."),
            (false, false) => format!("No {plural} match “{search}”."),
            (false, true) => format!("No {plural} match “{search}” with these filters."),
        }
    }

    fn view(self, user: &PageUser) -> ListView {
        let deleted = self.get("deleted") == "true";
        ListView {
            heading: if deleted { format!("Deleted {}", self.plural) } else { title_case(self.plural) },
            singular: self.kind.name,
            plural: self.plural,
            csrf: user.csrf(),
            searchable: self.kind.searchable(),
            creatable: matches!(self.kind.kind, Kind::Account | Kind::Contact | Kind::Lead | Kind::Task),
            q: self.get("q"),
            sort: self.get("sort"),
            filters: self.filters(user.actor.id()),
            params: self.unsorted().into_iter().map(|(name, value)| Param { name, value }).collect(),
            columns: self.columns(),
            rows: self.rows(),
            first: self.params.iter().any(|(k, _)| k == "cursor").then(|| href(&self.path, &self.base())),
            next: self.page.next_cursor.as_ref().map(|c| {
                let mut p = self.base();
                p.push(("cursor".into(), c.clone()));
                href(&self.path, &p)
            }),
            coworkers: self.people(),
            notice: bulk::notice(self.q, self.kind, &self.owners),
            empty: self.empty(),
            metered: self.page.counted_as_export,
            deleted,
            admin: user.actor.is_admin(),
            path: self.path,
        }
    }
}

async fn list_page(s: AppState, user: PageUser, plural: &'static str, headers: HeaderMap, q: Params) -> PageResult {
    let kind = kind_of(plural, &user)?;
    let params = list_params(&q);
    let mut req = list_request(params.clone()).map_err(|e| user.fail(e))?;
    req.limit = Some(50);
    let (page, account_names, owners, coverage) = user
        .call(&s, move |s, actor| {
            let page = s.list_records(actor, kind, &req)?;
            let accounts: Vec<Uuid> = page.items.iter().filter_map(|r| r.get_ref("account_id")).collect();
            let names = if kind.account_field.is_some() {
                s.labels(actor, &record::ACCOUNTS, &accounts)?
            } else {
                HashMap::new()
            };
            let coverage = if kind.kind == Kind::Account && !req.deleted {
                s.coverage_scores(&page.items.iter().map(|r| r.id).collect::<Vec<_>>())?
            } else {
                HashMap::new()
            };
            Ok((page, names, s.coworker_names().unwrap_or_default(), coverage))
        })
        .await?;
    let listing =
        Listing { kind, plural, path: format!("/{plural}"), q: &q, params, page, account_names, owners, coverage };
    let v = listing.view(&user);
    if headers.get("x-holdfast-partial").is_some() {
        Ok(render(&ListResults { v }, StatusCode::OK))
    } else {
        Ok(render(&ListPage { me: user.me(), v }, StatusCode::OK))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_list_kind_has_columns_that_exist() {
        for plural in LIST_KINDS {
            let kind = RecordKind::by_plural(plural).expect("a kind");
            for (_, field) in columns_of(kind) {
                let computed = field == "coverage" && kind.kind == Kind::Account;
                assert!(field.is_empty() || computed || kind.field(field).is_some(), "{plural} has no {field}");
            }
        }
        assert_eq!(sort_field(&record::DEALS, "close_date"), Some("close_date"));
        assert_eq!(sort_field(&record::CONTACTS, ""), Some("last_name"));
        assert_eq!(sort_field(&record::CONTACTS, "email"), None);
    }

    #[test]
    fn page_parameters_stay_out_of_the_list_request() {
        let q = vec![
            ("q".to_string(), "acme".to_string()),
            ("owner".to_string(), String::new()),
            ("handed".to_string(), "x".to_string()),
            ("stage".to_string(), "proposal".to_string()),
        ];
        assert_eq!(
            list_params(&q),
            vec![("q".to_string(), "acme".to_string()), ("stage".to_string(), "proposal".to_string())]
        );
    }
}
