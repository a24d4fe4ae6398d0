//! The web app: server-rendered pages (askama templates, auto-escaped) over the same services as
//! the API, so opening a contact in the browser writes the same `record.read` event as the API.
//!
//! Sign-in uses a session cookie (HttpOnly, SameSite=Lax). Every form carries a CSRF token: on the
//! sign-in form a random value also set as a cookie (double submit), on signed-in forms a value
//! derived from the session secret.

use std::collections::{BTreeMap, HashMap};

use askama::Template;
use axum::Form;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use holdfast_core::coworker::Actor;
use holdfast_core::event::EventFilter;
use holdfast_core::record::{self, FieldType, Record, RecordKind, Value};
use holdfast_core::service::ListRequest;
use holdfast_core::storage::Database;
use holdfast_core::time::{MICROS_PER_DAY, format_timestamp};
use holdfast_core::{CoreError, secret};
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::extract::client_of;
use crate::{AppState, blocking};

const SESSION_COOKIE: &str = "holdfast_session";
const LOGIN_COOKIE: &str = "holdfast_login";

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

fn csrf_for(session: &str) -> String {
    hex::encode(Sha256::digest(format!("holdfast-csrf\0{session}").as_bytes()))[..40].to_string()
}

fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The signed-in co-worker of a page request; anyone else is sent to the sign-in page.
pub struct PageUser {
    pub(crate) actor: Actor,
    csrf: String,
}

impl PageUser {
    pub(crate) fn csrf(&self) -> String {
        self.csrf.clone()
    }

    pub(crate) fn me(&self) -> Option<Me> {
        let c = self.actor.coworker.as_ref()?;
        Some(Me { name: c.name.clone(), admin: self.actor.is_admin(), csrf: self.csrf.clone() })
    }
    /// `None` when the form carries this session's CSRF token, else the page refusing it.
    pub(crate) fn refuse_forged(&self, form: &HashMap<String, String>) -> Option<Response> {
        self.refuse_forged_token(form.get("csrf_token").map(String::as_str))
    }

    /// The same for a form read as a list of pairs (forms with repeated fields).
    pub(crate) fn refuse_forged_pairs(&self, form: &[(String, String)]) -> Option<Response> {
        self.refuse_forged_token(form.iter().find(|(k, _)| k == "csrf_token").map(|(_, v)| v.as_str()))
    }

    fn refuse_forged_token(&self, token: Option<&str>) -> Option<Response> {
        match token {
            Some(t) if same(t, &self.csrf) => None,
            _ => {
                Some(page_error(StatusCode::FORBIDDEN, "This form has expired", "Reload the page and try again.", None))
            }
        }
    }
}

impl FromRequestParts<AppState> for PageUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let next = parts.uri.path_and_query().map(|p| p.as_str().to_string()).unwrap_or_else(|| "/".into());
        let to_login = || Redirect::to(&format!("/login?next={}", encode(&next))).into_response();
        let Some(session) = cookie(&parts.headers, SESSION_COOKIE) else { return Err(to_login()) };
        let (addr, agent) = client_of(parts);
        let services = state.clone();
        let secret = session.clone();
        let actor = match blocking(move || services.authenticate(&secret, addr, agent)).await {
            Ok(actor) => actor,
            Err(_) => return Err(to_login()),
        };
        // A departing co-worker reads the confidentiality notice before anything else, once.
        let departing = actor.coworker.as_ref().is_some_and(|c| c.status == holdfast_core::coworker::Status::Departing);
        let exempt = ["/confidentiality", "/logout"].contains(&parts.uri.path());
        if departing && !exempt {
            let services = state.clone();
            let a = actor.clone();
            if let Ok(Some(_)) = blocking(move || services.pending_confidentiality(&a)).await {
                return Err(Redirect::to(&format!("/confidentiality?next={}", encode(&next))).into_response());
            }
        }
        Ok(PageUser { actor, csrf: csrf_for(&session) })
    }
}

/// The record id in a page's path, or the not-found page.
pub(crate) fn page_id(id: &str, what: &str, me: Option<Me>) -> Result<Uuid, Box<Response>> {
    Uuid::parse_str(id).map_err(|_| {
        Box::new(page_error(StatusCode::NOT_FOUND, "Not found", &format!("This {what} does not exist."), me))
    })
}

/// For a form post on a record: the CSRF check, then the record id.
fn form_target(user: &PageUser, form: &HashMap<String, String>, id: &str, what: &str) -> Result<Uuid, Box<Response>> {
    if let Some(refused) = user.refuse_forged(form) {
        return Err(Box::new(refused));
    }
    page_id(id, what, user.me())
}

/// Percent-encodes a query value.
pub(crate) fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Only same-site relative paths may be redirected to after sign-in.
pub(crate) fn safe_next(next: &str) -> &str {
    if next.starts_with('/') && !next.starts_with("//") && !next.starts_with("/\\") { next } else { "/" }
}

pub struct Me {
    pub(crate) name: String,
    pub(crate) admin: bool,
    pub(crate) csrf: String,
}

pub(crate) fn render(t: &impl Template, status: StatusCode) -> Response {
    match t.render() {
        Ok(html) => (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "rendering a page failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "The page could not be shown.").into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "problem.html")]
struct ProblemPage {
    me: Option<Me>,
    title: String,
    detail: String,
}

pub(crate) fn page_error(status: StatusCode, title: &str, detail: &str, me: Option<Me>) -> Response {
    render(&ProblemPage { me, title: title.into(), detail: detail.into() }, status)
}

pub(crate) fn not_found_page(me: Option<Me>) -> Response {
    page_error(StatusCode::NOT_FOUND, "Not found", "There is no such page.", me)
}

/// A service error as a page, in words a salesperson understands.
pub(crate) fn core_error(e: crate::ApiError, me: Option<Me>) -> Response {
    use crate::ApiError::Core;
    match e {
        Core(CoreError::NotFound { what, .. }) => {
            page_error(StatusCode::NOT_FOUND, "Not found", &format!("This {what} does not exist or was deleted."), me)
        }
        Core(CoreError::Forbidden(why)) => page_error(StatusCode::FORBIDDEN, "Not allowed", &why, me),
        Core(CoreError::Conflict(why)) => page_error(StatusCode::CONFLICT, "That cannot be done now", &why, me),
        Core(CoreError::Invalid(errors)) => {
            let detail = errors.iter().map(|e| format!("{} {}", e.field, e.reason)).collect::<Vec<_>>().join("; ");
            page_error(StatusCode::UNPROCESSABLE_ENTITY, "Please check what you entered", &detail, me)
        }
        other => {
            tracing::error!(error = %other, "page failed");
            page_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "Nothing was changed. Try again in a moment.",
                me,
            )
        }
    }
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    me: Option<Me>,
    csrf: String,
    next: String,
    email: String,
    error: Option<String>,
}

fn login_form(next: &str, email: &str, error: Option<String>, status: StatusCode) -> Response {
    let (token, _) = secret::new_token();
    let mut resp = render(
        &LoginPage { me: None, csrf: token.clone(), next: safe_next(next).into(), email: email.into(), error },
        status,
    );
    if let Ok(v) =
        HeaderValue::from_str(&format!("{LOGIN_COOKIE}={token}; Path=/login; HttpOnly; SameSite=Lax; Max-Age=3600"))
    {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

pub async fn login_page(State(s): State<AppState>, Query(q): Query<HashMap<String, String>>) -> Response {
    let services = s.clone();
    if let Ok(false) = blocking(move || services.has_coworkers()).await {
        return setup_form(None, StatusCode::OK);
    }
    login_form(q.get("next").map(String::as_str).unwrap_or("/"), "", None, StatusCode::OK)
}

#[derive(Template)]
#[template(path = "setup.html")]
struct SetupPage {
    me: Option<Me>,
    csrf: String,
    error: Option<String>,
}

fn setup_form(error: Option<String>, status: StatusCode) -> Response {
    let (token, _) = secret::new_token();
    let mut resp = render(&SetupPage { me: None, csrf: token.clone(), error }, status);
    if let Ok(v) =
        HeaderValue::from_str(&format!("{LOGIN_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age=3600"))
    {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

/// First run: creates the first admin (only while there are no co-workers), then signs them in.
pub async fn setup_submit(
    State(s): State<AppState>,
    parts: Parts,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let field = |k: &str| form.get(k).cloned().unwrap_or_default();
    let expected = cookie(&parts.headers, LOGIN_COOKIE).unwrap_or_default();
    if expected.is_empty() || !same(&expected, &field("csrf_token")) {
        return setup_form(Some("The form had expired. Please fill it in again.".into()), StatusCode::FORBIDDEN);
    }
    let (addr, agent) = client_of(&parts);
    let new = holdfast_core::service::NewCoWorker {
        email: field("email"),
        name: field("name"),
        role: holdfast_core::coworker::Role::Admin,
        seniority: None,
        team: None,
        manager: None,
        title: None,
        password: Some(field("password")),
    };
    let (email, password) = (field("email"), field("password"));
    let services = s.clone();
    let created = blocking(move || {
        services.create_first_admin(new, addr.clone(), agent.clone())?;
        services.login(&email, &password, addr, agent)
    })
    .await;
    match created {
        Ok((_, session)) => {
            let mut resp = Redirect::to("/").into_response();
            let c = format!(
                "{SESSION_COOKIE}={session}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}",
                holdfast_core::service::SESSION_DAYS * 86_400
            );
            if let Ok(v) = HeaderValue::from_str(&c) {
                resp.headers_mut().append(header::SET_COOKIE, v);
            }
            resp
        }
        Err(crate::ApiError::Core(CoreError::Invalid(errors))) => {
            let msg = errors.iter().map(|e| format!("{} {}", e.field, e.reason)).collect::<Vec<_>>().join("; ");
            setup_form(Some(format!("Please check: {msg}")), StatusCode::UNPROCESSABLE_ENTITY)
        }
        Err(crate::ApiError::Core(CoreError::Conflict(why))) => {
            page_error(StatusCode::CONFLICT, "Already set up", &why, None)
        }
        Err(e) => core_error(e, None),
    }
}

pub async fn login_submit(
    State(s): State<AppState>,
    parts: Parts,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let field = |k: &str| form.get(k).cloned().unwrap_or_default();
    let (email, password, next) = (field("email"), field("password"), field("next"));
    let expected = cookie(&parts.headers, LOGIN_COOKIE).unwrap_or_default();
    if expected.is_empty() || !same(&expected, &field("csrf_token")) {
        return login_form(
            &next,
            &email,
            Some("The sign-in form had expired. Please sign in again.".into()),
            StatusCode::FORBIDDEN,
        );
    }
    let (addr, agent) = client_of(&parts);
    let login_email = email.clone();
    match blocking(move || s.login(&login_email, &password, addr, agent)).await {
        Ok((_, session)) => {
            let mut resp = Redirect::to(safe_next(&next)).into_response();
            let days = holdfast_core::service::SESSION_DAYS;
            let secure = if std::env::var("HOLDFAST_SECURE_COOKIES").is_ok_and(|v| v == "1" || v == "true") {
                "; Secure"
            } else {
                ""
            };
            let c = format!(
                "{SESSION_COOKIE}={session}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
                days * 86_400
            );
            if let Ok(v) = HeaderValue::from_str(&c) {
                resp.headers_mut().append(header::SET_COOKIE, v);
            }
            if let Ok(v) = HeaderValue::from_str(&format!("{LOGIN_COOKIE}=; Path=/login; Max-Age=0")) {
                resp.headers_mut().append(header::SET_COOKIE, v);
            }
            resp
        }
        Err(crate::ApiError::Core(CoreError::TooManyAttempts(why))) => {
            login_form(&next, &email, Some(why), StatusCode::TOO_MANY_REQUESTS)
        }
        Err(_) => {
            login_form(&next, &email, Some("That email and password do not match.".into()), StatusCode::UNAUTHORIZED)
        }
    }
}

pub async fn logout(State(s): State<AppState>, user: PageUser, Form(form): Form<HashMap<String, String>>) -> Response {
    if let Some(refused) = user.refuse_forged(&form) {
        return refused;
    }
    let actor = user.actor;
    let _ = blocking(move || s.logout(&actor)).await;
    let mut resp = Redirect::to("/login").into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0")) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

/// Display text of a field.
pub(crate) fn show(kind: &RecordKind, rec: &Record, field: &str) -> String {
    let v = rec.get(field);
    match (kind.field(field).map(|f| f.ty), v) {
        (_, Value::Null) => String::new(),
        (Some(FieldType::Money), Value::Int(c)) => money(*c),
        (Some(FieldType::Timestamp), Value::Int(t)) => short_time(*t),
        (_, Value::Int(i)) => i.to_string(),
        (_, Value::Text(s)) => s.replace('_', " "),
    }
}

fn money(cents: i64) -> String {
    let whole = (cents / 100).to_string();
    let mut out = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn short_time(micros: i64) -> String {
    let t = format_timestamp(micros);
    t.get(..16).map(|s| s.replace('T', " ")).unwrap_or(t)
}

fn names(s: &AppState) -> HashMap<Uuid, String> {
    s.coworker_names().unwrap_or_default()
}

struct DealRow {
    id: Uuid,
    name: String,
    account: String,
    stage: String,
    amount: String,
    close_date: String,
    account_id: String,
}

fn deal_row(d: &Record) -> DealRow {
    let k = &record::DEALS;
    DealRow {
        id: d.id,
        name: show(k, d, "name"),
        account: String::new(),
        stage: show(k, d, "stage"),
        amount: show(k, d, "amount"),
        close_date: show(k, d, "close_date"),
        account_id: d.get_ref("account_id").map(|a| a.to_string()).unwrap_or_default(),
    }
}

struct TaskRow {
    title: String,
    due_date: String,
    overdue: bool,
    /// (id, name) of the related account.
    account: Option<(String, String)>,
}

/// When, type, summary and (id, name) of the account of one of a co-worker's activities.
type RecentRow = (String, String, String, Option<(String, String)>);

struct AccountRow {
    id: Uuid,
    name: String,
    tier: String,
    lifecycle: String,
    /// `YYYY-MM-DD` of the latest activity, empty when never.
    last_touch: String,
    /// Not talked to in 90 days.
    stale: bool,
}

struct OverdueRow {
    due: String,
    title: String,
    owner: String,
    /// (id, name) of the related account.
    account: Option<(String, String)>,
}

/// The team section of a manager's or admin's home page.
struct TeamSection {
    scope: String,
    chart: String,
    overdue: Vec<OverdueRow>,
    untouched: Vec<(Uuid, String, String)>,
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    me: Option<Me>,
    team: Option<TeamSection>,
    first_name: String,
    deals: Vec<DealRow>,
    tasks: Vec<TaskRow>,
    accounts: Vec<AccountRow>,
    /// The co-worker's latest activities.
    recent: Vec<RecentRow>,
    week_scope: &'static str,
    week_chart: String,
    my_pipeline: String,
}

fn list(
    s: &AppState,
    actor: &Actor,
    kind: &'static RecordKind,
    filters: &[(&str, String)],
    sort: &str,
    limit: u32,
) -> Result<Vec<Record>, CoreError> {
    let req = ListRequest {
        filters: filters.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
        sort: Some(sort.into()),
        limit: Some(limit),
        ..Default::default()
    };
    Ok(s.list_records(actor, kind, &req)?.items)
}

pub async fn home(State(s): State<AppState>, user: PageUser) -> Response {
    let me = user.me();
    let actor = user.actor.clone();
    let result = blocking(move || {
        let my = actor.id().map(|i| i.to_string()).unwrap_or_default();
        // Open deals, soonest close first (undated last).
        let mut open: Vec<(&str, String)> = vec![("owner_id", my.clone())];
        open.extend(
            record::DEAL_STAGES.iter().filter(|st| !st.starts_with("closed")).map(|st| ("stage", st.to_string())),
        );
        let deals = list(&s, &actor, &record::DEALS, &open, "close_date", 15)?;
        let tasks =
            list(&s, &actor, &record::TASKS, &[("owner_id", my.clone()), ("status", "open".into())], "due_date", 15)?;
        let recent = list(&s, &actor, &record::ACTIVITIES, &[("owner_id", my.clone())], "-occurred_at", 8)?;
        let accounts = list(&s, &actor, &record::ACCOUNTS, &[("owner_id", my)], "name", 50)?;
        let ids: Vec<Uuid> = accounts.iter().map(|a| a.id).collect();
        let report = s.home_report(&actor, &ids, 12)?;
        let team = if actor.is_admin() || !actor.manages.is_empty() { Some(s.team_overview(&actor)?) } else { None };
        // Names of the accounts the deals, tasks and activities shown belong to.
        let mut linked: Vec<Uuid> = Vec::new();
        for r in deals.iter().chain(&tasks).chain(&recent) {
            linked.extend(r.get_ref("account_id").filter(|a| !ids.contains(a)));
        }
        for t in team.iter().flat_map(|t| &t.overdue_tasks) {
            linked.extend(t.get_ref("account_id").filter(|a| !ids.contains(a)));
        }
        let mut account_names = s.labels(&actor, &record::ACCOUNTS, &linked)?;
        account_names.extend(accounts.iter().map(|a| (a.id, a.label(&record::ACCOUNTS))));
        Ok((deals, tasks, recent, accounts, report, s.now(), team, s.coworker_names()?, account_names))
    })
    .await;
    let (deals, tasks, recent, accounts, report, now, team, owners, account_names) = match result {
        Ok(r) => r,
        Err(e) => return core_error(e, me),
    };
    let account_of = |r: &Record| {
        r.get_ref("account_id")
            .map(|a| (a.to_string(), account_names.get(&a).cloned().unwrap_or_else(|| "account".into())))
    };
    let today = holdfast_core::time::date_of(now);
    let first_name = me.as_ref().map(|m| m.name.split(' ').next().unwrap_or("").to_string()).unwrap_or_default();
    let team = team.map(|t| TeamSection {
        scope: t.scope.into(),
        chart: pipeline_chart(&t.pipeline),
        overdue: t
            .overdue_tasks
            .iter()
            .map(|task| {
                let k = &record::TASKS;
                OverdueRow {
                    due: show(k, task, "due_date"),
                    title: show(k, task, "title"),
                    owner: task.owner(k).and_then(|o| owners.get(&o).cloned()).unwrap_or_default(),
                    account: account_of(task),
                }
            })
            .collect(),
        untouched: t
            .untouched_accounts
            .iter()
            .map(|a| {
                (
                    a.id,
                    a.label(&record::ACCOUNTS),
                    a.owner(&record::ACCOUNTS).and_then(|o| owners.get(&o).cloned()).unwrap_or_default(),
                )
            })
            .collect(),
    });
    render(
        &HomePage {
            me,
            team,
            first_name,
            deals: deals
                .iter()
                .map(|d| {
                    let mut row = deal_row(d);
                    row.account = account_of(d).map(|a| a.1).unwrap_or_default();
                    row
                })
                .collect(),
            tasks: tasks
                .iter()
                .map(|t| {
                    let due = show(&record::TASKS, t, "due_date");
                    TaskRow {
                        title: show(&record::TASKS, t, "title"),
                        overdue: !due.is_empty() && due < today,
                        due_date: due,
                        account: account_of(t),
                    }
                })
                .collect(),
            accounts: accounts
                .iter()
                .take(50)
                .map(|a| {
                    let touched = report.last_touch.get(&a.id).copied();
                    AccountRow {
                        id: a.id,
                        name: show(&record::ACCOUNTS, a, "name"),
                        tier: show(&record::ACCOUNTS, a, "tier"),
                        lifecycle: show(&record::ACCOUNTS, a, "lifecycle"),
                        last_touch: touched.map(|t| format_timestamp(t)[..10].to_string()).unwrap_or_default(),
                        stale: touched.is_none_or(|t| now - t > 90 * MICROS_PER_DAY),
                    }
                })
                .collect(),
            recent: recent
                .iter()
                .map(|a| {
                    let ak = &record::ACTIVITIES;
                    (
                        show(ak, a, "occurred_at"),
                        show(ak, a, "type"),
                        show(ak, a, "summary").chars().take(140).collect(),
                        account_of(a),
                    )
                })
                .collect(),
            week_scope: report.scope,
            my_pipeline: pipeline_chart(&report.my_pipeline),
            week_chart: week_chart(&report.per_week, now),
        },
        StatusCode::OK,
    )
}

struct ContactRow {
    id: Uuid,
    name: String,
    title: String,
    role: String,
    email: String,
    phone: String,
}

struct ActivityRow {
    id: Uuid,
    when: String,
    kind: String,
    who: String,
    summary: String,
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    me: Option<Me>,
    csrf: String,
    id: Uuid,
    name: String,
    lifecycle: String,
    facts: Vec<(&'static str, String)>,
    contacts: Vec<ContactRow>,
    deals: Vec<DealRow>,
    contracts: Vec<(Uuid, String, String, String, String)>,
    tasks: Vec<(Uuid, String, String, bool, String)>,
    activities: Vec<ActivityRow>,
    threads: Vec<(String, String, usize)>,
    /// Whether the relationship needs attention, and what to say about it.
    coverage: (bool, String),
    /// Where the log form posts, and the contacts it offers as "with whom".
    log_action: String,
    log_with: Vec<(Uuid, String)>,
    error: Option<String>,
    stages: Vec<&'static str>,
}

pub async fn account(
    State(s): State<AppState>,
    user: PageUser,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let me = user.me();
    let id = match page_id(&id, "account", user.me()) {
        Ok(id) => id,
        Err(not_found) => return *not_found,
    };
    let actor = user.actor.clone();
    let services = s.clone();
    let data = blocking(move || {
        let acc = services.get_record(&actor, &record::ACCOUNTS, id)?;
        let on = [("account_id", id.to_string())];
        let contacts = list(&services, &actor, &record::CONTACTS, &on, "last_name", 200)?;
        let deals = list(&services, &actor, &record::DEALS, &on, "-created_at", 50)?;
        let contracts = list(&services, &actor, &record::CONTRACTS, &on, "-created_at", 50)?;
        let activities = list(&services, &actor, &record::ACTIVITIES, &on, "-occurred_at", 100)?;
        let open = [("account_id", id.to_string()), ("status", "open".to_string())];
        let tasks = list(&services, &actor, &record::TASKS, &open, "due_date", 20)?;
        Ok((acc, contacts, deals, contracts, activities, tasks, services.now()))
    })
    .await;
    let (acc, contacts, deals, contracts, activities, tasks, now) = match data {
        Ok(d) => d,
        Err(e) => return core_error(e, me),
    };
    let owners = names(&s);
    let k = &record::ACCOUNTS;
    let mut facts = vec![("Owner", acc.owner(k).and_then(|o| owners.get(&o).cloned()).unwrap_or_default())];
    for (label, f) in [
        ("Domain", "domain"),
        ("Industry", "industry"),
        ("Tier", "tier"),
        ("Annual value", "annual_value"),
        ("Phone", "phone"),
        ("City", "city"),
        ("Country", "country"),
    ] {
        facts.push((label, show(k, &acc, f)));
    }
    let team: Vec<String> =
        acc.links.get("collaborator_ids").into_iter().flatten().filter_map(|c| owners.get(c).cloned()).collect();
    facts.push(("Account team", team.join(", ")));
    let contact_names: HashMap<Uuid, String> = contacts.iter().map(|c| (c.id, c.label(&record::CONTACTS))).collect();
    let mut pairs: BTreeMap<(String, String), usize> = BTreeMap::new();
    for a in &activities {
        let mut ours: Vec<Uuid> = a.owner(&record::ACTIVITIES).into_iter().collect();
        ours.extend(a.links.get("coworker_ids").into_iter().flatten());
        for c in a.links.get("contact_ids").into_iter().flatten() {
            for o in &ours {
                let key =
                    (owners.get(o).cloned().unwrap_or_default(), contact_names.get(c).cloned().unwrap_or_default());
                *pairs.entry(key).or_default() += 1;
            }
        }
    }
    let cover = holdfast_core::coverage::coverage(&activities, now - 365 * MICROS_PER_DAY);
    let people = |ids: &std::collections::BTreeSet<Uuid>, names: &HashMap<Uuid, String>| {
        ids.iter().filter_map(|i| names.get(i).cloned()).collect::<Vec<_>>().join(", ")
    };
    let coverage = match cover.level {
        holdfast_core::coverage::CoverageLevel::Silent => (
            true,
            "Nobody here has talked to this customer in the last year. Call them before a competitor does.".to_string(),
        ),
        holdfast_core::coverage::CoverageLevel::SingleThreaded => (
            true,
            format!(
                "Single-threaded: in the last year only {} talked with {}. If one of them leaves, the relationship \
                 goes too: bring a colleague to the next meeting, or meet another contact.",
                if cover.coworkers.is_empty() { "nobody".to_string() } else { people(&cover.coworkers, &owners) },
                if cover.contacts.is_empty() {
                    "no named contact".to_string()
                } else {
                    people(&cover.contacts, &contact_names)
                }
            ),
        ),
        holdfast_core::coverage::CoverageLevel::MultiThreaded => (
            false,
            format!(
                "Multi-threaded: {} co-workers have talked with {} contacts in the last year.",
                cover.coworkers.len(),
                cover.contacts.len()
            ),
        ),
    };
    let mut threads: Vec<(String, String, usize)> = pairs.into_iter().map(|((a, b), n)| (a, b, n)).collect();
    threads.sort_by_key(|t| std::cmp::Reverse(t.2));
    threads.truncate(15);
    let csrf = user.csrf.clone();
    render(
        &AccountPage {
            me,
            csrf,
            id,
            name: show(k, &acc, "name"),
            lifecycle: show(k, &acc, "lifecycle"),
            facts,
            contacts: contacts
                .iter()
                .map(|c| {
                    let ck = &record::CONTACTS;
                    ContactRow {
                        id: c.id,
                        name: c.label(ck),
                        title: show(ck, c, "title"),
                        role: show(ck, c, "buying_role"),
                        email: show(ck, c, "email"),
                        phone: show(ck, c, "phone"),
                    }
                })
                .collect(),
            deals: deals.iter().map(deal_row).collect(),
            contracts: contracts
                .iter()
                .map(|c| {
                    let ck = &record::CONTRACTS;
                    (
                        c.id,
                        show(ck, c, "name"),
                        show(ck, c, "status"),
                        show(ck, c, "value"),
                        show(ck, c, "renewal_date"),
                    )
                })
                .collect(),
            tasks: tasks
                .iter()
                .map(|t| {
                    let tk = &record::TASKS;
                    let due = show(tk, t, "due_date");
                    let today = holdfast_core::time::date_of(now);
                    let owner = t.owner(tk).and_then(|o| owners.get(&o).cloned()).unwrap_or_default();
                    (t.id, show(tk, t, "title"), due.clone(), !due.is_empty() && due < today, owner)
                })
                .collect(),
            activities: activities
                .iter()
                .map(|a| {
                    let ak = &record::ACTIVITIES;
                    ActivityRow {
                        id: a.id,
                        when: show(ak, a, "occurred_at"),
                        kind: show(ak, a, "type"),
                        who: a.owner(ak).and_then(|o| owners.get(&o).cloned()).unwrap_or_default(),
                        summary: show(ak, a, "summary"),
                    }
                })
                .collect(),
            threads,
            coverage,
            log_action: format!("/accounts/{id}/activities"),
            log_with: contacts.iter().map(|c| (c.id, c.label(&record::CONTACTS))).collect(),
            error: q.get("error").map(|e| match e.as_str() {
                "deal" => "Give the deal a name.".to_string(),
                _ => "Write what was said before logging it.".to_string(),
            }),
            stages: record::DEAL_STAGES.to_vec(),
        },
        StatusCode::OK,
    )
}

pub async fn log_activity(
    State(s): State<AppState>,
    user: PageUser,
    Path(id): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    if let Some(refused) = user.refuse_forged_pairs(&form) {
        return refused;
    }
    let account = match page_id(&id, "account", user.me()) {
        Ok(id) => id,
        Err(not_found) => return *not_found,
    };
    let one = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let contacts: Vec<String> = form.iter().filter(|(k, _)| k == "contact_ids").map(|(_, v)| v.clone()).collect();
    log(s, user, Some(account), contacts, one("type"), one("summary"), format!("/accounts/{account}")).await
}

/// Logs a call (email, meeting, note) with this contact, on their account, from the contact page.
pub async fn log_contact_activity(
    State(s): State<AppState>,
    user: PageUser,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let contact = match form_target(&user, &form, &id, "contact") {
        Ok(target) => target,
        Err(refused) => return *refused,
    };
    let actor = user.actor.clone();
    let services = s.clone();
    let account = match blocking(move || services.get_record(&actor, &record::CONTACTS, contact)).await {
        Ok(c) => c.get_ref("account_id"),
        Err(e) => return core_error(e, user.me()),
    };
    let (kind, summary) = (form.get("type").cloned(), form.get("summary").cloned());
    log(s, user, account, vec![contact.to_string()], kind, summary, format!("/contacts/{contact}")).await
}

/// Creates the activity, now, and goes back to the page it was logged from.
async fn log(
    s: AppState,
    user: PageUser,
    account: Option<Uuid>,
    contacts: Vec<String>,
    kind: Option<String>,
    summary: Option<String>,
    back: String,
) -> Response {
    let me = user.me();
    if summary.as_deref().is_none_or(|s| s.trim().is_empty()) {
        return Redirect::to(&format!("{back}?error=summary")).into_response();
    }
    let mut input = json!({
        "type": kind.unwrap_or_else(|| "call".into()),
        "summary": summary,
        "occurred_at": format_timestamp(s.now()),
        "contact_ids": contacts,
    });
    if let Some(a) = account {
        input["account_id"] = json!(a.to_string());
    }
    let actor = user.actor;
    match blocking(move || s.create_record(&actor, &record::ACTIVITIES, &input)).await {
        Ok(_) => Redirect::to(&back).into_response(),
        Err(e) => core_error(e, me),
    }
}

/// Creates a deal on the account from the account page.
pub async fn create_deal(
    State(s): State<AppState>,
    user: PageUser,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let account = match form_target(&user, &form, &id, "account") {
        Ok(target) => target,
        Err(refused) => return *refused,
    };
    let me = user.me();
    if form.get("name").is_none_or(|n| n.trim().is_empty()) {
        return Redirect::to(&format!("/accounts/{account}?error=deal")).into_response();
    }
    let mut input = serde_json::Map::new();
    input.insert("account_id".into(), json!(account.to_string()));
    for f in ["name", "amount", "close_date", "stage"] {
        if let Some(v) = form.get(f).filter(|v| !v.trim().is_empty()) {
            input.insert(f.into(), json!(v));
        }
    }
    let actor = user.actor;
    match blocking(move || s.create_record(&actor, &record::DEALS, &serde_json::Value::Object(input))).await {
        Ok(_) => Redirect::to(&format!("/accounts/{account}")).into_response(),
        Err(e) => core_error(e, me),
    }
}

/// Moves a deal to another stage.
pub async fn move_deal(
    State(s): State<AppState>,
    user: PageUser,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let deal = match form_target(&user, &form, &id, "deal") {
        Ok(target) => target,
        Err(refused) => return *refused,
    };
    let me = user.me();
    let stage = form.get("stage").cloned().unwrap_or_default();
    let actor = user.actor;
    match blocking(move || s.update_record(&actor, &record::DEALS, deal, &json!({"stage": stage}))).await {
        Ok(d) => {
            let back = d.get_ref("account_id").map(|a| format!("/accounts/{a}")).unwrap_or_else(|| "/".into());
            Redirect::to(&back).into_response()
        }
        Err(e) => core_error(e, me),
    }
}

#[derive(Template)]
#[template(path = "contact.html")]
struct ContactPage {
    me: Option<Me>,
    csrf: String,
    id: Uuid,
    name: String,
    account: Option<(Uuid, String)>,
    facts: Vec<(&'static str, String)>,
    activities: Vec<ActivityRow>,
    deals: Vec<DealRow>,
    /// (id, title, due date) of open tasks about this contact.
    tasks: Vec<(Uuid, String, String)>,
    /// The last log form was sent empty.
    error: bool,
    log_action: String,
    log_with: Vec<(Uuid, String)>,
}

pub async fn contact(
    State(s): State<AppState>,
    user: PageUser,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let me = user.me();
    let id = match page_id(&id, "contact", user.me()) {
        Ok(id) => id,
        Err(not_found) => return *not_found,
    };
    let actor = user.actor.clone();
    let services = s.clone();
    let data = blocking(move || {
        let c = services.get_record(&actor, &record::CONTACTS, id)?;
        let account = match c.get_ref("account_id") {
            Some(a) => Some(services.get_record(&actor, &record::ACCOUNTS, a)?),
            None => None,
        };
        let with = [("contact_ids", id.to_string())];
        let activities = list(&services, &actor, &record::ACTIVITIES, &with, "-occurred_at", 50)?;
        let deals =
            list(&services, &actor, &record::DEALS, &[("primary_contact_id", id.to_string())], "close_date", 20)?;
        let open = [("contact_id", id.to_string()), ("status", "open".to_string())];
        let tasks = list(&services, &actor, &record::TASKS, &open, "due_date", 20)?;
        Ok((c, account, activities, deals, tasks))
    })
    .await;
    let (c, account, activities, deals, tasks) = match data {
        Ok(d) => d,
        Err(e) => return core_error(e, me),
    };
    let k = &record::CONTACTS;
    let owners = names(&s);
    let mut facts: Vec<(&'static str, String)> =
        [("Title", "title"), ("Buying role", "buying_role"), ("Email", "email"), ("Phone", "phone")]
            .iter()
            .map(|(l, f)| (*l, show(k, &c, f)))
            .collect();
    facts.push(("Owner", c.owner(k).and_then(|o| owners.get(&o).cloned()).unwrap_or_default()));
    facts.push(("Notes", show(k, &c, "notes")));
    let ak = &record::ACTIVITIES;
    render(
        &ContactPage {
            me,
            csrf: user.csrf(),
            id: c.id,
            name: c.label(k),
            account: account.map(|a| (a.id, a.label(&record::ACCOUNTS))),
            facts,
            activities: activities
                .iter()
                .map(|a| ActivityRow {
                    id: a.id,
                    when: show(ak, a, "occurred_at"),
                    kind: show(ak, a, "type"),
                    who: a.owner(ak).and_then(|o| owners.get(&o).cloned()).unwrap_or_default(),
                    summary: show(ak, a, "summary"),
                })
                .collect(),
            deals: deals.iter().map(deal_row).collect(),
            tasks: tasks
                .iter()
                .map(|t| (t.id, show(&record::TASKS, t, "title"), show(&record::TASKS, t, "due_date")))
                .collect(),
            error: q.contains_key("error"),
            log_action: format!("/contacts/{}/activities", c.id),
            log_with: Vec::new(),
        },
        StatusCode::OK,
    )
}

struct CoworkerRow {
    id: Uuid,
    name: String,
    email: String,
    role: String,
    team: String,
    manager: String,
    status: String,
}

#[derive(Template)]
#[template(path = "coworkers.html")]
struct CoworkersPage {
    me: Option<Me>,
    admin: bool,
    csrf: String,
    statuses: Vec<String>,
    coworkers: Vec<CoworkerRow>,
}

pub async fn coworkers(State(s): State<AppState>, user: PageUser) -> Response {
    let me = user.me();
    let actor = user.actor.clone();
    let (admin, csrf) = (user.actor.is_admin(), user.csrf.clone());
    match blocking(move || Ok((s.list_coworkers(&actor)?, s.list_teams()?))).await {
        Ok((list, teams)) => {
            let names: HashMap<Uuid, String> = list.iter().map(|c| (c.id, c.name.clone())).collect();
            let teams: HashMap<Uuid, String> = teams.into_iter().map(|t| (t.id, t.name)).collect();
            render(
                &CoworkersPage {
                    me,
                    admin,
                    csrf,
                    statuses: ["active", "departing", "suspended", "departed"].iter().map(|s| s.to_string()).collect(),
                    coworkers: list
                        .into_iter()
                        .map(|c| CoworkerRow {
                            id: c.id,
                            name: c.name,
                            email: c.email,
                            role: c.role.as_str().into(),
                            team: c.team_id.and_then(|t| teams.get(&t).cloned()).unwrap_or_default(),
                            manager: c.manager_id.and_then(|m| names.get(&m).cloned()).unwrap_or_default(),
                            status: c.status.as_str().into(),
                        })
                        .collect(),
                },
                StatusCode::OK,
            )
        }
        Err(e) => core_error(e, me),
    }
}

struct EventRow {
    seq: i64,
    when: String,
    action: String,
    object: String,
    rows: i64,
    from: String,
}

#[derive(Template)]
#[template(path = "events.html")]
struct EventsPage {
    me: Option<Me>,
    /// The co-worker's id, for the tabs (Profile is for admins).
    id: Uuid,
    admin: bool,
    name: String,
    email: String,
    actions: Vec<String>,
    action: String,
    from: String,
    to: String,
    chart: String,
    summary: String,
    unusual: Vec<String>,
    older: Option<String>,
    events: Vec<EventRow>,
}

/// The pipeline as horizontal bars (amount per stage), inline SVG drawn on the server.
fn pipeline_chart(stages: &[(&str, i64, i64)]) -> String {
    let max = stages.iter().map(|s| s.2).max().unwrap_or(0).max(1) as f64;
    let row = 22.0;
    let height = row * stages.len() as f64;
    let mut svg =
        format!("<svg class=\"pipeline\" viewBox=\"0 0 400 {height}\" role=\"img\" aria-label=\"Pipeline by stage\">");
    for (i, (stage, deals, cents)) in stages.iter().enumerate() {
        let y = i as f64 * row;
        let w = (*cents as f64 / max) * 160.0;
        svg.push_str(&format!(
            "<text x=\"0\" y=\"{:.1}\">{}</text><rect x=\"110\" y=\"{:.1}\" width=\"{w:.1}\" height=\"14\"></rect><text x=\"{:.1}\" y=\"{:.1}\">{} · {deals}</text>",
            y + 15.0,
            stage.replace('_', " "),
            y + 4.0,
            115.0 + w,
            y + 15.0,
            money(*cents),
        ));
    }
    svg.push_str("</svg>");
    svg
}

/// Daily bars as inline SVG, drawn on the server.
/// Activities per week as an SVG bar chart, the current week last, each bar labelled with its
/// count and the date its week starts.
fn week_chart(per_week: &[i64], now: i64) -> String {
    let max = per_week.iter().copied().max().unwrap_or(0).max(1) as f64;
    let n = per_week.len().max(1);
    let (width, top, height) = (600.0, 16.0, 100.0);
    let slot = width / n as f64;
    let mut svg = format!(
        "<svg class=\"weeks\" viewBox=\"0 0 {width} {}\" role=\"img\" aria-label=\"Activities per week\">",
        top + height + 18.0
    );
    for (i, count) in per_week.iter().enumerate() {
        let h = (*count as f64 / max) * height;
        let x = i as f64 * slot;
        let start = now - (n - i) as i64 * 7 * MICROS_PER_DAY;
        let day = &format_timestamp(start)[5..10];
        svg.push_str(&format!(
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{h:.1}\"><title>week from {day}: {count}</title></rect>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{count}</text>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" class=\"axis\">{day}</text>",
            x + slot * 0.15,
            top + height - h,
            slot * 0.7,
            x + slot / 2.0,
            top + height - h - 3.0,
            x + slot / 2.0,
            top + height + 13.0,
        ));
    }
    svg.push_str("</svg>");
    svg
}

/// "1 record", "3 records".
fn count(n: i64, word: &str) -> String {
    if n == 1 { format!("1 {word}") } else { format!("{n} {word}s") }
}

/// Daily reading (records opened plus rows listed) and exporting as stacked SVG bars, exports on
/// top in the warning colour, so a day of bulk reading or exporting stands out.
fn volume_chart(days: &[(String, i64, i64)]) -> String {
    let max = days.iter().map(|d| d.1 + d.2).max().unwrap_or(0).max(1) as f64;
    let w = 100.0 / days.len().max(1) as f64;
    let mut svg = String::from(
        "<svg class=\"chart\" viewBox=\"0 0 100 50\" preserveAspectRatio=\"none\" role=\"img\" \
         aria-label=\"Rows read and exported per day\">",
    );
    let clean = |d: &str| d.chars().filter(|c| c.is_ascii_digit() || *c == '-').collect::<String>();
    for (i, (date, read, exported)) in days.iter().enumerate() {
        let hr = (*read as f64 / max) * 45.0;
        let he = (*exported as f64 / max) * 45.0;
        let x = i as f64 * w + w * 0.1;
        let title = format!("{}: {read} read, {exported} exported", clean(date));
        svg.push_str(&format!(
            "<rect x=\"{x:.2}\" y=\"{:.2}\" width=\"{:.2}\" height=\"{hr:.2}\"><title>{title}</title></rect>",
            48.0 - hr,
            w * 0.8
        ));
        if *exported > 0 {
            svg.push_str(&format!(
                "<rect class=\"export\" x=\"{x:.2}\" y=\"{:.2}\" width=\"{:.2}\" height=\"{he:.2}\"><title>{title}</title></rect>",
                48.0 - hr - he,
                w * 0.8
            ));
        }
    }
    svg.push_str("</svg>");
    if let (Some(first), Some(last)) = (days.first(), days.last()) {
        svg.push_str(&format!(
            "<p class=\"muted\">{} to {}; the tallest day is {} rows. <span class=\"key read\">read</span> \
             <span class=\"key export\">exported</span>. Hover a bar for its day.</p>",
            clean(&first.0),
            clean(&last.0),
            max as i64
        ));
    }
    svg
}

pub async fn coworker_events(
    State(s): State<AppState>,
    user: PageUser,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let me = user.me();
    let get = |k: &str| q.get(k).map(|v| v.trim().to_string()).unwrap_or_default();
    let (action, from, to) = (get("action"), get("from"), get("to"));
    // Dates are whole UTC days: `to` includes its day.
    let mut problems = Vec::new();
    let mut day = |name: &str, text: &str| -> Option<i64> {
        if text.is_empty() {
            return None;
        }
        holdfast_core::time::parse_timestamp(text).map_err(|e| problems.push(format!("{name}: {e}"))).ok()
    };
    let since = day("From", &from);
    let until = day("To", &to).map(|t| t + MICROS_PER_DAY);
    if !problems.is_empty() {
        return core_error(
            CoreError::Invalid(problems.iter().map(|p| holdfast_core::FieldError::new("", p.clone())).collect()).into(),
            me,
        );
    }
    let before_seq = q.get("before").and_then(|b| b.parse::<i64>().ok());
    let filter = EventFilter {
        action: Some(action.clone()).filter(|a| !a.is_empty()),
        since,
        until,
        before_seq,
        limit: 200,
        ..Default::default()
    };
    let actor = user.actor.clone();
    let target_id = id.clone();
    let data = blocking(move || {
        let target = s.coworker_for_review(&actor, &target_id)?;
        let events = s.coworker_events(&actor, &target_id, filter)?;
        let now = s.now();
        // The chart covers the chosen dates (at most 92 days), else the last 30 days.
        let end = until.unwrap_or(now + 1).min(now + 1);
        let start = since.unwrap_or(end - 30 * MICROS_PER_DAY).max(end - 92 * MICROS_PER_DAY);
        let report = s.activity_report(&actor, &target_id, start, end - 1)?;
        Ok((target, events, report))
    })
    .await;
    let (target, events, report) = match data {
        Ok(d) => d,
        Err(e) => return core_error(e, me),
    };
    let days: Vec<(String, i64, i64)> =
        report.days.iter().map(|d| (d.date.clone(), d.viewed + d.searched, d.exported)).collect();
    let older = (events.len() == 200).then(|| {
        let last = events.last().map(|e| e.seq).unwrap_or_default();
        format!(
            "/coworkers/{}/events?action={}&from={}&to={}&before={last}",
            target.id,
            encode(&action),
            encode(&from),
            encode(&to)
        )
    });
    let baseline = &report.own_baseline;
    render(
        &EventsPage {
            me,
            id: target.id,
            admin: user.actor.is_admin(),
            name: target.name,
            email: target.email,
            actions: [
                "record.read",
                "list.read",
                "search",
                "report.read",
                "export.create",
                "record.create",
                "record.update",
                "record.delete",
                "bulk.update",
                "bulk.undo",
                "bulk.import",
                "auth.login",
                "auth.login_failed",
                "auth.logout",
                "token.create",
            ]
            .iter()
            .map(|a| a.to_string())
            .collect(),
            action,
            from,
            to,
            chart: volume_chart(&days),
            summary: format!(
                "{} to {}: {} opened, {} listed or searched, {} exported, {}. \
                 Their usual day in the 90 days before: {:.0} opened, {:.0} listed, {:.0} exported.",
                report.since.get(..10).unwrap_or(""),
                report.until.get(..10).unwrap_or(""),
                count(report.totals.viewed, "record"),
                count(report.totals.searched, "row"),
                count(report.totals.exported, "row"),
                count(report.totals.changed, "change"),
                baseline.viewed,
                baseline.searched,
                baseline.exported
            ),
            unusual: report.unusual_days.clone(),
            older,
            events: events
                .iter()
                .map(|e| EventRow {
                    seq: e.seq,
                    when: format_timestamp(e.event.at).get(..19).unwrap_or("").replace('T', " "),
                    action: e.event.action.clone(),
                    object: format!(
                        "{} {}",
                        e.event.object_type.as_deref().unwrap_or(""),
                        e.event.object_id.as_deref().unwrap_or("")
                    ),
                    rows: e.event.row_count,
                    from: e.event.client_addr.clone().unwrap_or_default(),
                })
                .collect(),
        },
        StatusCode::OK,
    )
}

pub async fn static_css() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")],
        include_str!("../static/app.css"),
    )
        .into_response()
}

pub async fn static_js() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")],
        include_str!("../static/app.js"),
    )
        .into_response()
}

/// Changes a co-worker's status (admins): suspending or marking departed revokes their sessions
/// and tokens at once.
pub async fn set_coworker_status(
    State(s): State<AppState>,
    user: PageUser,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let target = match form_target(&user, &form, &id, "co-worker") {
        Ok(target) => target,
        Err(refused) => return *refused,
    };
    let me = user.me();
    let status = match holdfast_core::coworker::Status::parse(form.get("status").map(String::as_str).unwrap_or("")) {
        Ok(st) => st,
        Err(why) => return page_error(StatusCode::UNPROCESSABLE_ENTITY, "Please check what you entered", &why, me),
    };
    let back = safe_next(form.get("back").map(String::as_str).unwrap_or("/coworkers")).to_string();
    let actor = user.actor;
    let changes = holdfast_core::service::CoWorkerChanges { status: Some(status), ..Default::default() };
    match blocking(move || s.update_coworker(&actor, &target.to_string(), changes)).await {
        Ok(_) => Redirect::to(&back).into_response(),
        Err(e) => core_error(e, me),
    }
}

struct TokenRow {
    id: Uuid,
    name: String,
    created: String,
    used: String,
    live: bool,
}

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage {
    me: Option<Me>,
    admin: bool,
    csrf: String,
    policy: String,
    saved: bool,
    tokens: Vec<TokenRow>,
    new_token: Option<String>,
    /// The confidentiality notice departing co-workers acknowledge.
    notice: String,
    export_policy: String,
    bulk_read_limit: i64,
    /// The signed-in co-worker's id, for "what Holdfast records about you".
    my_id: String,
}

async fn settings_page(s: AppState, user: PageUser, saved: bool, new_token: Option<String>) -> Response {
    let me = user.me();
    let actor = user.actor.clone();
    let data = blocking(move || {
        let who = actor.id().map(|i| i.to_string()).unwrap_or_default();
        let policy = s.read_policy_setting()?;
        let tokens = s.list_credentials(&actor, &who)?;
        let notice = s.confidentiality_notice()?.text;
        let export = s.export_settings()?;
        Ok((policy, tokens, notice, who, export))
    })
    .await;
    let (policy, tokens, notice, my_id, export) = match data {
        Ok(d) => d,
        Err(e) => return core_error(e, me),
    };
    render(
        &SettingsPage {
            me,
            admin: user.actor.is_admin(),
            csrf: user.csrf.clone(),
            policy: policy.as_str().into(),
            saved,
            tokens: tokens
                .iter()
                .filter(|t| t.kind == "api")
                .map(|t| TokenRow {
                    id: t.id,
                    name: t.name.clone(),
                    created: short_time(t.created_at),
                    used: t.last_used_at.map(short_time).unwrap_or_else(|| "never".into()),
                    live: t.revoked_at.is_none(),
                })
                .collect(),
            new_token,
            notice,
            my_id,
            export_policy: export.policy.as_str().into(),
            bulk_read_limit: export.bulk_read_limit,
        },
        StatusCode::OK,
    )
}

pub async fn settings(State(s): State<AppState>, user: PageUser, Query(q): Query<HashMap<String, String>>) -> Response {
    settings_page(s, user, q.contains_key("saved"), None).await
}

pub async fn save_settings(
    State(s): State<AppState>,
    user: PageUser,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if let Some(refused) = user.refuse_forged(&form) {
        return refused;
    }
    let me = user.me();
    let policy = form.get("read_policy").cloned().unwrap_or_default();
    let export = form.get("export_policy").cloned();
    let limit = form.get("bulk_read_limit").cloned();
    let actor = user.actor;
    let saved = blocking(move || {
        let limit = match limit {
            Some(l) => Some(
                l.trim()
                    .replace(',', "")
                    .parse::<i64>()
                    .map_err(|_| CoreError::invalid("bulk_read_limit", "must be a whole number of rows"))?,
            ),
            None => None,
        };
        s.change_settings(&actor, Some(&policy), export.as_deref(), limit)
    });
    match saved.await {
        Ok(_) => Redirect::to("/settings?saved=1").into_response(),
        Err(e) => core_error(e, me),
    }
}

pub async fn create_token(
    State(s): State<AppState>,
    user: PageUser,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if let Some(refused) = user.refuse_forged(&form) {
        return refused;
    }
    let me = user.me();
    let name = form.get("name").cloned().unwrap_or_default();
    let actor = user.actor.clone();
    let services = s.clone();
    match blocking(move || services.create_token(&actor, &actor.id().map(|i| i.to_string()).unwrap_or_default(), &name))
        .await
    {
        // Shown once, on this response only; never stored or redirected with.
        Ok(t) => settings_page(s, user, false, Some(t.secret)).await,
        Err(e) => core_error(e, me),
    }
}

pub async fn revoke_token(
    State(s): State<AppState>,
    user: PageUser,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let token = match form_target(&user, &form, &id, "token") {
        Ok(target) => target,
        Err(refused) => return *refused,
    };
    let me = user.me();
    let actor = user.actor;
    match blocking(move || s.revoke_token(&actor, &actor.id().map(|i| i.to_string()).unwrap_or_default(), token)).await
    {
        Ok(()) => Redirect::to("/settings").into_response(),
        Err(e) => core_error(e, me),
    }
}

struct HistoryEntry {
    when: String,
    who: String,
    action: String,
    /// (field, from, to)
    changes: Vec<(String, String, String)>,
}

#[derive(Template)]
#[template(path = "history.html")]
struct HistoryPage {
    me: Option<Me>,
    name: String,
    back: String,
    entries: Vec<HistoryEntry>,
}

fn plain(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Who changed which field of a record, when, from what to what.
pub async fn history(s: AppState, user: PageUser, kind: &'static RecordKind, id: String) -> Response {
    let me = user.me();
    let id = match page_id(&id, kind.name, user.me()) {
        Ok(id) => id,
        Err(not_found) => return *not_found,
    };
    let actor = user.actor.clone();
    let services = s.clone();
    let data = blocking(move || {
        let events = services.record_history(&actor, kind, id)?;
        let rec = services.database().read(|tx| Ok(tx.get_record(kind, id)?))?;
        Ok((events, rec))
    })
    .await;
    let (events, rec) = match data {
        Ok(d) => d,
        Err(e) => return core_error(e, me),
    };
    let owners = names(&s);
    let entries = events
        .iter()
        .map(|e| {
            let who =
                e.event.coworker_id.and_then(|c| owners.get(&c).cloned()).unwrap_or_else(|| "the operator".into());
            let mut changes: Vec<(String, String, String)> = Vec::new();
            if let Some(serde_json::Value::Object(map)) = e.event.details.get("changes") {
                for (field, ch) in map {
                    changes.push((field.replace('_', " "), plain(&ch["from"]), plain(&ch["to"])));
                }
            } else if let Some(serde_json::Value::Object(map)) = e.event.details.get("fields") {
                for (field, v) in map {
                    changes.push((field.replace('_', " "), String::new(), plain(v)));
                }
            }
            if changes.is_empty() {
                changes.push((String::new(), String::new(), String::new()));
            }
            HistoryEntry {
                when: short_time(e.event.at),
                who,
                action: e.event.action.trim_start_matches("record.").to_string(),
                changes,
            }
        })
        .collect();
    render(
        &HistoryPage {
            me,
            name: rec.map(|r| r.label(kind)).unwrap_or_default(),
            back: format!("/{}/{id}", kind.plural),
            entries,
        },
        StatusCode::OK,
    )
}

pub async fn account_history(State(s): State<AppState>, user: PageUser, Path(id): Path<String>) -> Response {
    history(s, user, &record::ACCOUNTS, id).await
}

pub async fn contact_history(State(s): State<AppState>, user: PageUser, Path(id): Path<String>) -> Response {
    history(s, user, &record::CONTACTS, id).await
}

#[derive(Template)]
#[template(path = "confidentiality.html")]
struct ConfidentialityPage {
    me: Option<Me>,
    csrf: String,
    text: String,
    sha256: String,
    next: String,
}

/// The confidentiality notice a departing co-worker is asked to acknowledge.
pub async fn confidentiality(
    State(s): State<AppState>,
    user: PageUser,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let actor = user.actor.clone();
    match blocking(move || s.pending_confidentiality(&actor)).await {
        Ok(Some(notice)) => render(
            &ConfidentialityPage {
                me: user.me(),
                csrf: user.csrf(),
                text: notice.text,
                sha256: notice.sha256,
                next: safe_next(q.get("next").map(String::as_str).unwrap_or("/")).to_string(),
            },
            StatusCode::OK,
        ),
        Ok(None) => Redirect::to("/").into_response(),
        Err(e) => core_error(e, user.me()),
    }
}

pub async fn acknowledge_confidentiality(
    State(s): State<AppState>,
    user: PageUser,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if let Some(refused) = user.refuse_forged(&form) {
        return refused;
    }
    let next = safe_next(form.get("next").map(String::as_str).unwrap_or("/")).to_string();
    let sha = form.get("sha256").cloned().unwrap_or_default();
    let actor = user.actor.clone();
    match blocking(move || s.acknowledge_confidentiality(&actor, &sha)).await {
        Ok(()) => Redirect::to(&next).into_response(),
        Err(e) => core_error(e, user.me()),
    }
}

pub async fn save_confidentiality_notice(
    State(s): State<AppState>,
    user: PageUser,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if let Some(refused) = user.refuse_forged(&form) {
        return refused;
    }
    let text = form.get("notice").cloned().unwrap_or_default();
    let actor = user.actor.clone();
    match blocking(move || s.set_confidentiality_notice(&actor, &text)).await {
        Ok(_) => Redirect::to("/settings?saved=1").into_response(),
        Err(e) => core_error(e, user.me()),
    }
}
