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
}

/// Adds `/{plural}/new` and `/{plural}/{id}/edit` for every kind with forms. Explicit per kind,
/// because `/accounts/{id}` would otherwise take `/accounts/new`.
pub fn routes(mut router: Router<AppState>) -> Router<AppState> {
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

const FORM_KINDS: [&str; 3] = ["accounts", "contacts", "leads"];

/// The kinds with forms, by URL word.
fn kind_of(plural: &str) -> Option<&'static RecordKind> {
    match plural {
        "accounts" => Some(&record::ACCOUNTS),
        "contacts" => Some(&record::CONTACTS),
        "leads" => Some(&record::LEADS),
        _ => None,
    }
}

fn where_to(kind: &RecordKind, id: Uuid) -> String {
    match kind.kind {
        Kind::Account | Kind::Contact => format!("/{}/{id}", kind.plural),
        _ => format!("/{}", kind.plural),
    }
}

fn stored_text(kind: &RecordKind, rec: &Record, field: &str) -> String {
    match (kind.field(field).map(|f| f.ty), rec.get(field)) {
        (_, Value::Null) => String::new(),
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
    coworkers: &HashMap<Uuid, String>,
) -> Vec<FormField> {
    let mut people: Vec<(String, String)> = coworkers.iter().map(|(id, n)| (id.to_string(), n.clone())).collect();
    people.sort_by(|a, b| a.1.cmp(&b.1));
    kind.fields
        .iter()
        .filter(|f| !matches!(f.ty, FieldType::RefList(_) | FieldType::Timestamp | FieldType::Ref(Kind::Account)))
        .map(|f| {
            let (input, options) = match f.ty {
                FieldType::Email => ("email", Vec::new()),
                FieldType::Phone => ("tel", Vec::new()),
                FieldType::Date => ("date", Vec::new()),
                FieldType::Int { .. } | FieldType::Money => ("text", Vec::new()),
                FieldType::Text { max } if max > 1_000 => ("textarea", Vec::new()),
                FieldType::Choice(opts) => {
                    ("select", opts.iter().map(|o| (o.to_string(), o.replace('_', " "))).collect())
                }
                FieldType::Ref(Kind::CoWorker) => ("select", people.clone()),
                _ => ("text", Vec::new()),
            };
            FormField {
                name: f.name,
                label: f.doc,
                input,
                value: values.get(f.name).cloned().unwrap_or_default(),
                options,
                required: f.required,
                error: errors.get(f.name).cloned(),
            }
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
    coworkers: &HashMap<Uuid, String>,
    status: StatusCode,
) -> Response {
    let fields = fields(kind, values, errors, coworkers);
    render(&FormPage { me, csrf, heading, action, cancel, has_errors: !errors.is_empty(), fields }, status)
}

/// The submitted fields as API input: empty means "clear" (or, when creating, "leave out").
fn input_of(kind: &RecordKind, form: &HashMap<String, String>, creating: bool) -> Json {
    let mut map = Map::new();
    for f in kind.fields.iter().filter(|f| !matches!(f.ty, FieldType::RefList(_) | FieldType::Timestamp)) {
        match form.get(f.name) {
            Some(v) if !v.trim().is_empty() => {
                map.insert(f.name.into(), Json::String(v.clone()));
            }
            Some(_) if !creating && !f.required => {
                map.insert(f.name.into(), Json::Null);
            }
            _ => {}
        }
    }
    Json::Object(map)
}

fn field_errors(e: &crate::ApiError) -> Option<HashMap<String, String>> {
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

pub async fn new_form(s: AppState, user: PageUser, plural: &'static str, q: HashMap<String, String>) -> Response {
    let Some(kind) = kind_of(plural) else { return crate::pages::not_found_page(user.me()) };
    let mut values = q.clone();
    if let Some(me) = user.actor.id() {
        values.entry(kind.owner_field.to_string()).or_insert(me.to_string());
    }
    for f in kind.fields {
        if let Some(d) = f.default {
            values.entry(f.name.to_string()).or_insert(d.to_string());
        }
    }
    let names = s.coworker_names().unwrap_or_default();
    let account = q.get("account_id").cloned().unwrap_or_default();
    let action =
        if account.is_empty() { format!("/{plural}/new") } else { format!("/{plural}/new?account_id={account}") };
    form_page(
        user.me(),
        user.csrf(),
        kind,
        format!("New {}", label(kind)),
        action,
        format!("/{plural}"),
        &values,
        &HashMap::new(),
        &names,
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
    let mut input = input_of(kind, &form, true);
    if let (Some(account), Some(field), Json::Object(map)) = (q.get("account_id"), kind.account_field, &mut input) {
        map.insert(field.into(), Json::String(account.clone()));
    }
    let (actor, me, csrf) = (user.actor.clone(), user.me(), user.csrf());
    let services = s.clone();
    match blocking(move || services.create_record(&actor, kind, &input)).await {
        Ok(rec) => Redirect::to(&where_to(kind, rec.id)).into_response(),
        Err(e) => match field_errors(&e) {
            Some(errors) => {
                let names = s.coworker_names().unwrap_or_default();
                let action = match q.get("account_id") {
                    Some(a) => format!("/{plural}/new?account_id={a}"),
                    None => format!("/{plural}/new"),
                };
                form_page(
                    me,
                    csrf,
                    kind,
                    format!("New {}", label(kind)),
                    action,
                    format!("/{plural}"),
                    &form,
                    &errors,
                    &names,
                    StatusCode::UNPROCESSABLE_ENTITY,
                )
            }
            None => core_error(e, me),
        },
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
    let rec = match blocking(move || services.get_record(&actor, kind, id)).await {
        Ok(r) => r,
        Err(e) => return core_error(e, user.me()),
    };
    let values: HashMap<String, String> =
        kind.fields.iter().map(|f| (f.name.to_string(), stored_text(kind, &rec, f.name))).collect();
    let names = s.coworker_names().unwrap_or_default();
    form_page(
        user.me(),
        user.csrf(),
        kind,
        format!("Edit {}", rec.label(kind)),
        format!("/{plural}/{id}/edit"),
        where_to(kind, id),
        &values,
        &HashMap::new(),
        &names,
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
    match blocking(move || services.update_record(&actor, kind, id, &input)).await {
        Ok(_) => Redirect::to(&where_to(kind, id)).into_response(),
        Err(e) => match field_errors(&e) {
            Some(errors) => {
                let names = s.coworker_names().unwrap_or_default();
                form_page(
                    me,
                    csrf,
                    kind,
                    format!("Edit {}", label(kind)),
                    format!("/{plural}/{id}/edit"),
                    where_to(kind, id),
                    &form,
                    &errors,
                    &names,
                    StatusCode::UNPROCESSABLE_ENTITY,
                )
            }
            None => core_error(e, me),
        },
    }
}
