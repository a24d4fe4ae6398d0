//! Create and edit forms for customer records, generated from the record descriptors (the same
//! ones that validate API input), with each field's error shown beside it.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};
use holdfast_core::CoreError;
use holdfast_core::record::{self, FieldType, Kind, Record, RecordKind, Value};
use holdfast_core::service::ListRequest;
use holdfast_core::time::format_timestamp;
use serde_json::{Map, Value as Json};
use uuid::Uuid;

use crate::pages::{Me, PageUser, core_error, page_id, render};
use crate::{AppState, blocking};

pub struct FormField {
    name: &'static str,
    label: &'static str,
    /// text, email, tel, date, number, select or textarea
    input: &'static str,
    value: String,
    options: Vec<(String, String)>,
    required: bool,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "form.html")]
struct FormPage {
    me: Option<Me>,
    csrf: String,
    heading: String,
    action: String,
    cancel: String,
    fields: Vec<FormField>,
    has_errors: bool,
    /// For a lead not yet converted: where "Convert to a contact" posts.
    convert: Option<String>,
    /// For a saved record: where "Delete" posts.
    delete: Option<String>,
}

/// Adds `/{plural}/new` and `/{plural}/{id}/edit` for every kind with forms. Explicit per kind,
/// because `/accounts/{id}` would otherwise take `/accounts/new`.
pub fn routes(mut router: Router<AppState>) -> Router<AppState> {
    router = router.route("/leads/{id}/convert", axum::routing::post(convert_lead));
    for plural in FORM_KINDS {
        router = router.route(
            &format!("/{plural}/{{id}}/delete"),
            axum::routing::post(
                move |State(s): State<AppState>,
                      user: PageUser,
                      Path(id): Path<String>,
                      Form(f): Form<HashMap<String, String>>| { delete(s, user, plural, id, f) },
            ),
        );
    }
    for plural in FORM_KINDS {
        router = router
            .route(
                &format!("/{plural}/new"),
                get(move |State(s): State<AppState>, user: PageUser, Query(q): Query<HashMap<String, String>>| {
                    new_form(s, user, plural, q)
                })
                .post(
                    move |State(s): State<AppState>,
                          user: PageUser,
                          Query(q): Query<HashMap<String, String>>,
                          Form(f): Form<HashMap<String, String>>| { create(s, user, plural, q, f) },
                ),
            )
            .route(
                &format!("/{plural}/{{id}}/edit"),
                get(move |State(s): State<AppState>, user: PageUser, Path(id): Path<String>| {
                    edit_form(s, user, plural, id)
                })
                .post(
                    move |State(s): State<AppState>,
                          user: PageUser,
                          Path(id): Path<String>,
                          Form(f): Form<HashMap<String, String>>| {
                        update(s, user, plural, id, f)
                    },
                ),
            );
    }
    router
}

const FORM_KINDS: [&str; 7] = ["accounts", "contacts", "leads", "deals", "contracts", "activities", "tasks"];

/// The kinds with forms, by URL word.
fn kind_of(plural: &str) -> Option<&'static RecordKind> {
    RecordKind::by_plural(plural).filter(|k| FORM_KINDS.contains(&k.plural))
}

/// Where a saved record is shown: its own page, else its account's page, else its list.
fn where_to(kind: &RecordKind, id: Uuid, account: Option<&str>) -> String {
    match (kind.kind, account.filter(|a| !a.is_empty())) {
        (Kind::Account | Kind::Contact, _) => format!("/{}/{id}", kind.plural),
        (_, Some(account)) => format!("/accounts/{account}"),
        _ => format!("/{}", kind.plural),
    }
}

/// The choices a form offers for fields naming co-workers, contacts and deals (the last two
/// from the record's account).
#[derive(Default)]
struct Choices {
    coworkers: Vec<(String, String)>,
    contacts: Vec<(String, String)>,
    deals: Vec<(String, String)>,
}

impl Choices {
    /// Co-workers by name; the account's contacts and deals when there is an account. Reading the
    /// account's contacts and deals is a list read, recorded like any other.
    fn load(s: &AppState, actor: &holdfast_core::coworker::Actor, kind: &RecordKind, account: Option<&str>) -> Choices {
        let mut coworkers: Vec<(String, String)> =
            s.coworker_names().unwrap_or_default().into_iter().map(|(id, n)| (id.to_string(), n)).collect();
        coworkers.sort_by(|a, b| a.1.cmp(&b.1));
        let mut choices = Choices { coworkers, ..Default::default() };
        let Some(account) = account.filter(|a| Uuid::parse_str(a).is_ok()) else { return choices };
        let wants = |k: Kind| kind.fields.iter().any(|f| f.ty == FieldType::Ref(k));
        let of_account = |k: &'static RecordKind| {
            let req = ListRequest {
                filters: vec![("account_id".into(), account.to_string())],
                limit: Some(200),
                ..Default::default()
            };
            s.list_records(actor, k, &req)
                .map(|p| p.items.iter().map(|r| (r.id.to_string(), r.label(k))).collect())
                .unwrap_or_default()
        };
        if wants(Kind::Contact) {
            choices.contacts = of_account(&record::CONTACTS);
        }
        if wants(Kind::Deal) {
            choices.deals = of_account(&record::DEALS);
        }
        choices
    }
}

/// A moment from a `datetime-local` field: the browser sends local time converted to UTC by
/// app.js; without script the value has no zone and is taken as UTC.
fn moment(value: &str) -> String {
    let v = value.trim();
    if v.len() == 16 && v.as_bytes().get(10) == Some(&b'T') { format!("{v}:00Z") } else { v.to_string() }
}

fn stored_text(kind: &RecordKind, rec: &Record, field: &str) -> String {
    match (kind.field(field).map(|f| f.ty), rec.get(field)) {
        (_, Value::Null) => String::new(),
        (Some(FieldType::Timestamp), Value::Int(t)) => format_timestamp(*t).chars().take(16).collect(),
        (Some(FieldType::Money), Value::Int(c)) => {
            if c % 100 == 0 {
                (c / 100).to_string()
            } else {
                format!("{:.2}", *c as f64 / 100.0)
            }
        }
        (_, Value::Int(i)) => i.to_string(),
        (_, Value::Text(t)) => t.clone(),
    }
}

fn fields(
    kind: &RecordKind,
    values: &HashMap<String, String>,
    errors: &HashMap<String, String>,
    choices: &Choices,
) -> Vec<FormField> {
    kind.fields
        .iter()
        .filter_map(|f| {
            let (input, options) = match f.ty {
                FieldType::RefList(_) | FieldType::Ref(Kind::Account) => return None,
                FieldType::Ref(Kind::Contact) if choices.contacts.is_empty() => return None,
                FieldType::Ref(Kind::Deal) if choices.deals.is_empty() => return None,
                FieldType::Ref(Kind::Contact) => ("select", choices.contacts.clone()),
                FieldType::Ref(Kind::Deal) => ("select", choices.deals.clone()),
                FieldType::Ref(Kind::CoWorker) => ("select", choices.coworkers.clone()),
                FieldType::Email => ("email", Vec::new()),
                FieldType::Phone => ("tel", Vec::new()),
                FieldType::Date => ("date", Vec::new()),
                FieldType::Timestamp => ("datetime-local", Vec::new()),
                FieldType::Int { .. } | FieldType::Money => ("text", Vec::new()),
                FieldType::Text { max } if max > 1_000 => ("textarea", Vec::new()),
                FieldType::Choice(opts) => {
                    ("select", opts.iter().map(|o| (o.to_string(), o.replace('_', " "))).collect())
                }
                _ => ("text", Vec::new()),
            };
            Some(FormField {
                name: f.name,
                label: f.doc,
                input,
                value: values.get(f.name).cloned().unwrap_or_default(),
                options,
                required: f.required,
                error: errors.get(f.name).cloned(),
            })
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn form_page(
    me: Option<Me>,
    csrf: String,
    kind: &RecordKind,
    heading: String,
    action: String,
    cancel: String,
    values: &HashMap<String, String>,
    errors: &HashMap<String, String>,
    choices: &Choices,
    status: StatusCode,
) -> Response {
    let fields = fields(kind, values, errors, choices);
    // A saved lead (its form posts to /leads/{id}/edit) that is not converted yet can be.
    let convert =
        (kind.kind == Kind::Lead && action.ends_with("/edit") && values.get("status").is_none_or(|s| s != "converted"))
            .then(|| action.replace("/edit", "/convert"));
    let delete = action.ends_with("/edit").then(|| action.replace("/edit", "/delete"));
    render(
        &FormPage { me, csrf, heading, action, cancel, has_errors: !errors.is_empty(), fields, convert, delete },
        status,
    )
}

/// The submitted fields as API input: empty means "clear" (or, when creating, "leave out").
fn input_of(kind: &RecordKind, form: &HashMap<String, String>, creating: bool) -> Json {
    let mut map = Map::new();
    for f in kind.fields.iter().filter(|f| !matches!(f.ty, FieldType::RefList(_))) {
        match form.get(f.name) {
            Some(v) if !v.trim().is_empty() => {
                let v = if f.ty == FieldType::Timestamp { moment(v) } else { v.clone() };
                map.insert(f.name.into(), Json::String(v));
            }
            Some(_) if !creating && !f.required => {
                map.insert(f.name.into(), Json::Null);
            }
            _ => {}
        }
    }
    Json::Object(map)
}

/// A service's "these fields are wrong" as field name -> reason, for showing beside each field.
pub(crate) fn field_errors(e: &crate::ApiError) -> Option<HashMap<String, String>> {
    match e {
        crate::ApiError::Core(CoreError::Invalid(errors)) => {
            Some(errors.iter().map(|fe| (fe.field.clone(), fe.reason.clone())).collect())
        }
        _ => None,
    }
}

fn label(kind: &RecordKind) -> String {
    kind.name.to_string()
}

/// The account a new record is for (`?account_id=`), checked to be an id.
fn account_param(q: &HashMap<String, String>) -> Option<String> {
    q.get("account_id").filter(|a| Uuid::parse_str(a).is_ok()).cloned()
}

fn new_action(plural: &str, account: Option<&str>) -> String {
    match account {
        Some(a) => format!("/{plural}/new?account_id={a}"),
        None => format!("/{plural}/new"),
    }
}

/// For kinds that must belong to an account, the page saying where to start when none is given.
fn needs_account(kind: &RecordKind, account: Option<&str>, me: Option<Me>) -> Option<Response> {
    let required = kind.account_field.and_then(|f| kind.field(f)).is_some_and(|f| f.required);
    (required && account.is_none()).then(|| {
        crate::pages::page_error(
            StatusCode::NOT_FOUND,
            "Open the account first",
            &format!("A {} belongs to an account: open the account and add it from there.", kind.name),
            me,
        )
    })
}

pub async fn new_form(s: AppState, user: PageUser, plural: &'static str, q: HashMap<String, String>) -> Response {
    let Some(kind) = kind_of(plural) else { return crate::pages::not_found_page(user.me()) };
    let account = account_param(&q);
    if let Some(refused) = needs_account(kind, account.as_deref(), user.me()) {
        return refused;
    }
    let mut values = q.clone();
    if let Some(me) = user.actor.id() {
        values.entry(kind.owner_field.to_string()).or_insert(me.to_string());
    }
    for f in kind.fields {
        if let Some(d) = f.default {
            values.entry(f.name.to_string()).or_insert(d.to_string());
        }
        if f.ty == FieldType::Timestamp {
            values.entry(f.name.to_string()).or_insert(format_timestamp(s.now()).chars().take(16).collect());
        }
    }
    let (actor, me, csrf) = (user.actor.clone(), user.me(), user.csrf());
    let services = s.clone();
    let acc = account.clone();
    let choices =
        blocking(move || Ok(Choices::load(&services, &actor, kind, acc.as_deref()))).await.unwrap_or_default();
    form_page(
        me,
        csrf,
        kind,
        format!("New {}", label(kind)),
        new_action(plural, account.as_deref()),
        cancel_new(kind, account.as_deref()),
        &values,
        &HashMap::new(),
        &choices,
        StatusCode::OK,
    )
}

pub async fn create(
    s: AppState,
    user: PageUser,
    plural: &'static str,
    q: HashMap<String, String>,
    form: HashMap<String, String>,
) -> Response {
    let Some(kind) = kind_of(plural) else { return crate::pages::not_found_page(user.me()) };
    if let Some(refused) = user.refuse_forged(&form) {
        return refused;
    }
    let account = account_param(&q);
    if let Some(refused) = needs_account(kind, account.as_deref(), user.me()) {
        return refused;
    }
    let mut input = input_of(kind, &form, true);
    if let (Some(account), Some(field), Json::Object(map)) = (&account, kind.account_field, &mut input) {
        map.insert(field.into(), Json::String(account.clone()));
    }
    let (actor, me, csrf) = (user.actor.clone(), user.me(), user.csrf());
    let services = s.clone();
    let result = blocking(move || {
        let created = services.create_record(&actor, kind, &input);
        let choices = if created.is_err() {
            Choices::load(&services, &actor, kind, account.as_deref())
        } else {
            Choices::default()
        };
        Ok((created, choices, account))
    })
    .await;
    let (created, choices, account) = match result {
        Ok(r) => r,
        Err(e) => return core_error(e, me),
    };
    match created {
        Ok(rec) => Redirect::to(&where_to(kind, rec.id, account.as_deref())).into_response(),
        Err(e) => {
            let e = crate::ApiError::from(e);
            match field_errors(&e) {
                Some(errors) => form_page(
                    me,
                    csrf,
                    kind,
                    format!("New {}", label(kind)),
                    new_action(plural, account.as_deref()),
                    cancel_new(kind, account.as_deref()),
                    &form,
                    &errors,
                    &choices,
                    StatusCode::UNPROCESSABLE_ENTITY,
                ),
                None => core_error(e, me),
            }
        }
    }
}

pub async fn edit_form(s: AppState, user: PageUser, plural: &'static str, id: String) -> Response {
    let Some(kind) = kind_of(plural) else { return crate::pages::not_found_page(user.me()) };
    let id = match page_id(&id, kind.name, user.me()) {
        Ok(id) => id,
        Err(not_found) => return *not_found,
    };
    let actor = user.actor.clone();
    let services = s.clone();
    let loaded = blocking(move || {
        let rec = services.get_record(&actor, kind, id)?;
        let account = account_of(kind, &rec);
        let choices = Choices::load(&services, &actor, kind, account.as_deref());
        Ok((rec, account, choices))
    })
    .await;
    let (rec, account, choices) = match loaded {
        Ok(r) => r,
        Err(e) => return core_error(e, user.me()),
    };
    let values: HashMap<String, String> =
        kind.fields.iter().map(|f| (f.name.to_string(), stored_text(kind, &rec, f.name))).collect();
    form_page(
        user.me(),
        user.csrf(),
        kind,
        format!("Edit {}", rec.label(kind)),
        format!("/{plural}/{id}/edit"),
        where_to(kind, id, account.as_deref()),
        &values,
        &HashMap::new(),
        &choices,
        StatusCode::OK,
    )
}

pub async fn update(
    s: AppState,
    user: PageUser,
    plural: &'static str,
    id: String,
    form: HashMap<String, String>,
) -> Response {
    let Some(kind) = kind_of(plural) else { return crate::pages::not_found_page(user.me()) };
    if let Some(refused) = user.refuse_forged(&form) {
        return refused;
    }
    let id = match page_id(&id, kind.name, user.me()) {
        Ok(id) => id,
        Err(not_found) => return *not_found,
    };
    let input = input_of(kind, &form, false);
    let (actor, me, csrf) = (user.actor.clone(), user.me(), user.csrf());
    let services = s.clone();
    let result = blocking(move || match services.update_record(&actor, kind, id, &input) {
        Ok(rec) => Ok(Ok(account_of(kind, &rec))),
        Err(e) => {
            let account = services.get_record(&actor, kind, id).ok().and_then(|r| account_of(kind, &r));
            let choices = Choices::load(&services, &actor, kind, account.as_deref());
            Ok(Err((e, account, choices)))
        }
    })
    .await;
    match result {
        Err(e) => core_error(e, me),
        Ok(Ok(account)) => Redirect::to(&where_to(kind, id, account.as_deref())).into_response(),
        Ok(Err((e, account, choices))) => {
            let e = crate::ApiError::from(e);
            match field_errors(&e) {
                Some(errors) => form_page(
                    me,
                    csrf,
                    kind,
                    format!("Edit {}", label(kind)),
                    format!("/{plural}/{id}/edit"),
                    where_to(kind, id, account.as_deref()),
                    &form,
                    &errors,
                    &choices,
                    StatusCode::UNPROCESSABLE_ENTITY,
                ),
                None => core_error(e, me),
            }
        }
    }
}

fn account_of(kind: &RecordKind, rec: &Record) -> Option<String> {
    rec.account(kind).map(|a| a.to_string())
}

fn cancel_new(kind: &RecordKind, account: Option<&str>) -> String {
    match account {
        Some(a) => format!("/accounts/{a}"),
        None => format!("/{}", kind.plural),
    }
}

/// Converts a lead into a contact at an account and opens the contact.
async fn convert_lead(
    State(s): State<AppState>,
    user: PageUser,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if let Some(refused) = user.refuse_forged(&form) {
        return refused;
    }
    let id = match page_id(&id, "lead", user.me()) {
        Ok(id) => id,
        Err(not_found) => return *not_found,
    };
    let actor = user.actor.clone();
    match blocking(move || s.convert_lead(&actor, id, None)).await {
        Ok(done) => Redirect::to(&format!("/contacts/{}", done.contact_id)).into_response(),
        Err(e) => core_error(e, user.me()),
    }
}

/// Deletes a record (it can be restored by an admin) and goes back to its list.
async fn delete(
    s: AppState,
    user: PageUser,
    plural: &'static str,
    id: String,
    form: HashMap<String, String>,
) -> Response {
    let Some(kind) = kind_of(plural) else { return crate::pages::not_found_page(user.me()) };
    if let Some(refused) = user.refuse_forged(&form) {
        return refused;
    }
    let id = match page_id(&id, kind.name, user.me()) {
        Ok(id) => id,
        Err(not_found) => return *not_found,
    };
    let actor = user.actor.clone();
    let deleted = blocking(move || {
        let label = s.get_record(&actor, kind, id)?.label(kind);
        s.delete_record(&actor, kind, id)?;
        Ok(label)
    })
    .await;
    match deleted {
        Ok(label) => Redirect::to(&format!("/{plural}?removed={}", crate::pages::encode(&label))).into_response(),
        Err(e) => core_error(e, user.me()),
    }
}
