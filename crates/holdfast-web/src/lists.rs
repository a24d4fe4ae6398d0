//! List pages for accounts, contacts, leads, deals and tasks: search as you type, filters, sort,
//! paging, and bulk select (hand the picked records to a co-worker, or export them as CSV), with
//! an undo for a bulk change. Every list, export and bulk change goes through the services, so
//! each is a system event like its API twin.

use std::collections::HashMap;

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use holdfast_core::record::{self, FieldType, Kind, RecordKind};
use holdfast_core::service::{ExportScope, ListRequest};
use uuid::Uuid;

use crate::pages::{Me, PageUser, core_error, encode, not_found_page, page_id, render, safe_next, show};
use crate::{AppState, blocking};

/// Query parameters that steer the page, not the list.
const PAGE_PARAMS: [&str; 8] = ["handed", "n", "to", "undone", "skipped", "removed", "restored", "csrf_token"];

pub struct Column {
    label: &'static str,
    /// Where a click on the heading goes (sorts by this column), if it can sort.
    sort_href: Option<String>,
    arrow: &'static str,
}

pub struct Row {
    id: Uuid,
    /// Each cell's text and where it links to, if anywhere.
    cells: Vec<(String, Option<String>)>,
}

pub struct Filter {
    name: &'static str,
    label: String,
    value: String,
    options: Vec<(String, String)>,
}

/// A line above the list saying what a bulk change just did, with its undo.
pub struct Notice {
    text: String,
    undo: Option<String>,
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
    params: Vec<(String, String)>,
    columns: Vec<Column>,
    rows: Vec<Row>,
    first: Option<String>,
    next: Option<String>,
    coworkers: Vec<(String, String)>,
    notice: Option<Notice>,
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
                axum::routing::get(
                    move |State(s): State<AppState>,
                          user: PageUser,
                          headers: HeaderMap,
                          Query(q): Query<Vec<(String, String)>>| {
                        list_page(s, user, plural, headers, q)
                    },
                ),
            )
            .route(
                &format!("/{plural}/bulk"),
                post(move |State(s): State<AppState>, user: PageUser, Form(f): Form<Vec<(String, String)>>| {
                    bulk(s, user, plural, f)
                }),
            )
            .route(
                &format!("/{plural}/export"),
                post(move |State(s): State<AppState>, user: PageUser, Form(f): Form<Vec<(String, String)>>| {
                    export_matching(s, user, plural, f)
                }),
            );
    }
    router.route("/bulk/{id}/undo", post(undo))
}

const LIST_KINDS: [&str; 5] = ["accounts", "contacts", "leads", "deals", "tasks"];

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
            ("Owner", "owner_id"),
        ],
        Kind::Lead => vec![
            ("Name", ""),
            ("Company", "company"),
            ("Email", "email"),
            ("Status", "status"),
            ("Source", "source"),
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

fn query_string(params: &[(String, String)]) -> String {
    params.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect::<Vec<_>>().join("&")
}

fn href(path: &str, params: &[(String, String)]) -> String {
    if params.is_empty() { path.to_string() } else { format!("{path}?{}", query_string(params)) }
}

/// The list parameters of a request: page-only ones and empty values ("Anyone") left out.
fn list_params(q: &[(String, String)]) -> Vec<(String, String)> {
    q.iter().filter(|(k, v)| !v.trim().is_empty() && !PAGE_PARAMS.contains(&k.as_str())).cloned().collect()
}

fn title_case(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}

async fn list_page(
    s: AppState,
    user: PageUser,
    plural: &'static str,
    headers: HeaderMap,
    q: Vec<(String, String)>,
) -> Response {
    let Some(kind) = RecordKind::by_plural(plural) else { return not_found_page(user.me()) };
    let me = user.me();
    let params = list_params(&q);
    let req = match crate::api::list_request(params.clone()) {
        Ok(mut r) => {
            r.limit = Some(50);
            r
        }
        Err(e) => return core_error(e, me),
    };
    let actor = user.actor.clone();
    let services = s.clone();
    let listed = blocking(move || {
        let page = services.list_records(&actor, kind, &req)?;
        let accounts: Vec<Uuid> = page.items.iter().filter_map(|r| r.get_ref("account_id")).collect();
        let account_names = if kind.account_field.is_some() {
            services.labels(&actor, &record::ACCOUNTS, &accounts)?
        } else {
            HashMap::new()
        };
        Ok((page, account_names))
    })
    .await;
    let (page, account_names) = match listed {
        Ok(p) => p,
        Err(e) => return core_error(e, me),
    };
    let names = s.coworker_names().unwrap_or_default();
    let get = |name: &str| q.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default();
    let sort = get("sort");
    let path = format!("/{plural}");
    // Parameters without paging, and without the sort, for building links.
    let base: Vec<(String, String)> = params.iter().filter(|(k, _)| k != "cursor").cloned().collect();
    let unsorted: Vec<(String, String)> = base.iter().filter(|(k, _)| k != "sort").cloned().collect();
    let current_sort = if sort.is_empty() { kind.default_sort.to_string() } else { sort.clone() };
    let columns = columns_of(kind)
        .into_iter()
        .map(|(label, field)| {
            let by = sort_field(kind, field);
            let (sort_href, arrow) = match by {
                None => (None, ""),
                Some(by) => {
                    let (next, arrow) = if current_sort == by {
                        (format!("-{by}"), " ▲")
                    } else if current_sort == format!("-{by}") {
                        (by.to_string(), " ▼")
                    } else {
                        (by.to_string(), "")
                    };
                    let mut p = unsorted.clone();
                    p.push(("sort".into(), next));
                    (Some(href(&path, &p)), arrow)
                }
            };
            Column { label, sort_href, arrow }
        })
        .collect::<Vec<_>>();
    let rows = page
        .items
        .iter()
        .map(|r| {
            // Accounts and contacts have a page of their own; deals, tasks and leads open their form.
            let own = match kind.kind {
                Kind::Account | Kind::Contact => format!("/{plural}/{}", r.id),
                _ => format!("/{plural}/{}/edit", r.id),
            };
            let cells = columns_of(kind)
                .iter()
                .enumerate()
                .map(|(i, (_, f))| match *f {
                    "owner_id" => (r.owner(kind).and_then(|o| names.get(&o).cloned()).unwrap_or_default(), None),
                    "account_id" => match r.get_ref("account_id") {
                        Some(a) => (
                            account_names.get(&a).cloned().unwrap_or_else(|| "(account)".into()),
                            Some(format!("/accounts/{a}")),
                        ),
                        None => (String::new(), None),
                    },
                    f => {
                        let text = if f.is_empty() { r.label(kind) } else { show(kind, r, f) };
                        if i == 0 {
                            (if text.is_empty() { "(no name)".into() } else { text }, Some(own.clone()))
                        } else {
                            (text, None)
                        }
                    }
                })
                .collect();
            Row { id: r.id, cells }
        })
        .collect();
    let mut people: Vec<(String, String)> = names.iter().map(|(id, n)| (id.to_string(), n.clone())).collect();
    people.sort_by(|a, b| a.1.cmp(&b.1));
    let mut owner_options = vec![(String::new(), "Anyone".to_string())];
    if let Some(id) = user.actor.id() {
        owner_options.push((id.to_string(), "Me".into()));
    }
    owner_options.extend(people.iter().cloned());
    let mut filters =
        vec![Filter { name: "owner", label: "Owner".into(), value: get("owner"), options: owner_options }];
    for f in kind.fields {
        if let FieldType::Choice(opts) = f.ty {
            let mut options = vec![(String::new(), "Any".to_string())];
            options.extend(opts.iter().map(|o| (o.to_string(), o.replace('_', " "))));
            filters.push(Filter {
                name: f.name,
                label: title_case(&f.name.replace('_', " ")),
                value: get(f.name),
                options,
            });
        }
    }
    let notice = notice(&q, kind, &names);
    let search = get("q");
    let filtered = params.iter().any(|(k, _)| !matches!(k.as_str(), "q" | "sort" | "cursor" | "deleted"));
    let empty = match (search.trim().is_empty(), filtered) {
        _ if get("deleted") == "true" => format!("No deleted {plural}."),
        (true, false) => format!("No {plural} yet."),
        (true, true) => format!("No {plural} match these filters."),
        (false, false) => format!("No {plural} match “{search}”."),
        (false, true) => format!("No {plural} match “{search}” with these filters."),
    };
    let v = ListView {
        heading: if get("deleted") == "true" { format!("Deleted {plural}") } else { title_case(plural) },
        singular: kind.name,
        plural,
        path: path.clone(),
        csrf: user.csrf(),
        searchable: kind.searchable(),
        creatable: matches!(kind.kind, Kind::Account | Kind::Contact | Kind::Lead | Kind::Task),
        q: get("q"),
        sort,
        filters,
        params: unsorted.clone(),
        columns,
        rows,
        first: params.iter().any(|(k, _)| k == "cursor").then(|| href(&path, &base)),
        next: page.next_cursor.map(|c| {
            let mut p = base.clone();
            p.push(("cursor".into(), c));
            href(&path, &p)
        }),
        coworkers: people,
        notice,
        empty,
        metered: page.counted_as_export,
        deleted: get("deleted") == "true",
        admin: user.actor.is_admin(),
    };
    if headers.get("x-holdfast-partial").is_some() {
        render(&ListResults { v }, StatusCode::OK)
    } else {
        render(&ListPage { me, v }, StatusCode::OK)
    }
}

/// What the last bulk change on this list did, from the redirect's parameters.
fn notice(q: &[(String, String)], kind: &RecordKind, names: &HashMap<Uuid, String>) -> Option<Notice> {
    let get = |name: &str| q.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let n: usize = get("n").and_then(|n| n.parse().ok()).unwrap_or(0);
    let skipped: usize = get("skipped").and_then(|n| n.parse().ok()).unwrap_or(0);
    let records = |n: usize| if n == 1 { kind.name.to_string() } else { format!("{n} {}", kind.plural) };
    let also = if skipped > 0 {
        format!(" {} left as they were (already so, or changed by someone since).", records(skipped))
    } else {
        String::new()
    };
    if let Some(op) = get("handed").and_then(|o| Uuid::parse_str(o).ok()) {
        let to = get("to").and_then(|t| Uuid::parse_str(t).ok()).and_then(|t| names.get(&t).cloned());
        return Some(Notice {
            text: format!("Handed {} to {}.{also}", records(n), to.unwrap_or_else(|| "the new owner".into())),
            undo: Some(op.to_string()),
        });
    }
    if let Some(label) = get("removed") {
        return Some(Notice {
            text: format!("Deleted “{label}”. An admin can bring it back from Deleted {}.", kind.plural),
            undo: None,
        });
    }
    if get("restored").is_some() {
        return Some(Notice { text: format!("Restored {}.", records(n)), undo: None });
    }
    get("undone").map(|_| Notice { text: format!("Undone: put back {}.{also}", records(n)), undo: None })
}

fn values<'a>(form: &'a [(String, String)], name: &str) -> impl Iterator<Item = &'a str> {
    form.iter().filter(move |(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn csv_download(export: holdfast_core::service::Export) -> Response {
    let disposition = format!("attachment; filename=\"{}\"", export.file_name);
    let mut resp = (StatusCode::OK, [(header::CONTENT_TYPE, "text/csv; charset=utf-8")], export.csv).into_response();
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        resp.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    resp
}

/// The bulk bar: hand the picked records to a co-worker, or export them.
async fn bulk(s: AppState, user: PageUser, plural: &'static str, form: Vec<(String, String)>) -> Response {
    let Some(kind) = RecordKind::by_plural(plural) else { return not_found_page(user.me()) };
    if let Some(refused) = user.refuse_forged_pairs(&form) {
        return refused;
    }
    let me = user.me();
    let mut ids = Vec::new();
    for id in values(&form, "ids") {
        match page_id(id, kind.name, user.me()) {
            Ok(id) => ids.push(id),
            Err(not_found) => return *not_found,
        }
    }
    let actor = user.actor.clone();
    match values(&form, "action").next() {
        Some("export") => match blocking(move || s.export_records(&actor, kind, &ExportScope::Picked(ids))).await {
            Ok(export) => csv_download(export),
            Err(e) => core_error(e, me),
        },
        Some("assign") => {
            let owner = values(&form, "new_owner").next().unwrap_or_default().to_string();
            let to = owner.clone();
            match blocking(move || s.bulk_assign(&actor, kind, &ids, &owner)).await {
                Ok(done) => Redirect::to(&format!(
                    "/{plural}?handed={}&n={}&skipped={}&to={}",
                    done.operation,
                    done.changed,
                    done.skipped,
                    encode(&to)
                ))
                .into_response(),
                Err(e) => core_error(e, me),
            }
        }
        Some("restore") => match blocking(move || s.restore_records(&actor, kind, &ids)).await {
            Ok(done) => Redirect::to(&format!("/{plural}?deleted=true&restored=1&n={}", done.len())).into_response(),
            Err(e) => core_error(e, me),
        },
        _ => core_error(
            crate::ApiError::field("action", "choose what to do with the picked records: hand over or export"),
            me,
        ),
    }
}

/// "Export all matching": the list's search and filters, every page.
async fn export_matching(s: AppState, user: PageUser, plural: &'static str, form: Vec<(String, String)>) -> Response {
    let Some(kind) = RecordKind::by_plural(plural) else { return not_found_page(user.me()) };
    if let Some(refused) = user.refuse_forged_pairs(&form) {
        return refused;
    }
    let me = user.me();
    let mut req: ListRequest = match crate::api::list_request(list_params(&form)) {
        Ok(r) => r,
        Err(e) => return core_error(e, me),
    };
    req.cursor = None;
    let actor = user.actor.clone();
    match blocking(move || s.export_records(&actor, kind, &ExportScope::Matching(req))).await {
        Ok(export) => csv_download(export),
        Err(e) => core_error(e, me),
    }
}

async fn undo(
    State(s): State<AppState>,
    user: PageUser,
    Path(id): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    if let Some(refused) = user.refuse_forged_pairs(&form) {
        return refused;
    }
    let me = user.me();
    let operation = match page_id(&id, "bulk change", user.me()) {
        Ok(id) => id,
        Err(not_found) => return *not_found,
    };
    let back = safe_next(values(&form, "back").next().unwrap_or("/")).to_string();
    let actor = user.actor.clone();
    match blocking(move || s.undo_bulk(&actor, operation)).await {
        Ok(done) => {
            let sep = if back.contains('?') { '&' } else { '?' };
            Redirect::to(&format!("{back}{sep}undone=1&n={}&skipped={}", done.changed, done.skipped)).into_response()
        }
        Err(e) => core_error(e, me),
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
                assert!(field.is_empty() || kind.field(field).is_some(), "{plural} has no {field}");
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
