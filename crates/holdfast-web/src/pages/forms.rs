//! Create and edit forms for customer records, generated from the record descriptors (the same
//! ones that validate API input), with each field's error shown beside it and nothing saved until
//! every field is right; plus delete (soft) and lead conversion from a record's form.

use std::collections::HashMap;

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use holdfast_core::coworker::Actor;
use holdfast_core::record::{self, FieldType, Kind, Record, RecordKind, Value};
use holdfast_core::service::ListRequest;
use holdfast_core::time::format_timestamp;
use holdfast_core::{CoreError, Holdfast};
use holdfast_store::Store;
use serde_json::{Map, Value as Json};
use uuid::Uuid;

use super::error::{PageError, PageResult};
use super::session::{PageUser, SignedForm};
use super::view::{Choice, Me, encode, go, render};
use crate::problem::ApiError;
use crate::state::AppState;

pub struct FormField {
    name: &'static str,
    label: &'static str,
    /// text, email, tel, date, number, select or textarea
    input: &'static str,
    value: String,
    options: Vec<Choice>,
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

type Fields = HashMap<String, String>;

/// Adds `/{plural}/new`, `/{plural}/{id}/edit` and `/{plural}/{id}/delete` for every kind with
/// forms. Explicit per kind, because `/accounts/{id}` would otherwise take `/accounts/new`.
pub fn routes(mut router: Router<AppState>) -> Router<AppState> {
    router = router.route("/leads/{id}/convert", post(super::leads::convert));
    for plural in FORM_KINDS {
        router = router.route(
            &format!("/{plural}/{{id}}/delete"),
            post(move |State(s): State<AppState>, Path(id): Path<String>, form: SignedForm| {
                delete(s, plural, id, form)
            }),
        );
    }
    for plural in FORM_KINDS {
        router = router
            .route(
                &format!("/{plural}/new"),
                get(move |State(s): State<AppState>, user: PageUser, Query(q): Query<Fields>| {
                    new_form(s, user, plural, q)
                })
                .post(move |State(s): State<AppState>, Query(q): Query<Fields>, form: SignedForm| {
                    create(s, plural, q, form)
                }),
            )
            .route(
                &format!("/{plural}/{{id}}/edit"),
                get(move |State(s): State<AppState>, user: PageUser, Path(id): Path<String>| {
                    edit_form(s, user, plural, id)
                })
                .post(move |State(s): State<AppState>, Path(id): Path<String>, form: SignedForm| {
                    update(s, plural, id, form)
                }),
            );
    }
    router
}

const FORM_KINDS: [&str; 7] = ["accounts", "contacts", "leads", "deals", "contracts", "activities", "tasks"];

/// The kinds with forms, by URL word.
fn kind_of(plural: &str, user: &PageUser) -> Result<&'static RecordKind, PageError> {
    RecordKind::by_plural(plural)
        .filter(|k| FORM_KINDS.contains(&k.plural))
        .ok_or_else(|| user.fail(PageError::no_such_page()))
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
    coworkers: Vec<Choice>,
    contacts: Vec<Choice>,
    deals: Vec<Choice>,
}

impl Choices {
    /// Co-workers by name; the account's contacts and deals when there is an account. Reading the
    /// account's contacts and deals is a list read, recorded like any other.
    fn load(s: &Holdfast<Store>, actor: &Actor, kind: &RecordKind, account: Option<&str>) -> Choices {
        let mut coworkers: Vec<Choice> =
            s.coworker_names().unwrap_or_default().into_iter().map(|(id, n)| Choice::new(id.to_string(), n)).collect();
        coworkers.sort_by(|a, b| a.label.cmp(&b.label));
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
                .map(|p| p.items.iter().map(|r| Choice::new(r.id.to_string(), r.label(k))).collect())
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

fn fields(kind: &RecordKind, values: &Fields, errors: &Fields, choices: &Choices) -> Vec<FormField> {
    kind.inputs()
        .filter_map(|f| {
            let (input, options) = match f.ty {
                FieldType::RefList(_) | FieldType::Ref(Kind::Account) | FieldType::Ref(Kind::Lead) => return None,
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
                FieldType::Choice(opts) => ("select", Choice::of_words(opts)),
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

/// A record form: a new record (`id` none, perhaps for an account) or a saved one.
struct RecordForm {
    kind: &'static RecordKind,
    id: Option<Uuid>,
    account: Option<String>,
    heading: String,
}

impl RecordForm {
    fn action(&self) -> String {
        match (self.id, &self.account) {
            (Some(id), _) => format!("/{}/{id}/edit", self.kind.plural),
            (None, Some(a)) => format!("/{}/new?account_id={a}", self.kind.plural),
            (None, None) => format!("/{}/new", self.kind.plural),
        }
    }

    fn cancel(&self) -> String {
        match (self.id, &self.account) {
            (Some(id), account) => where_to(self.kind, id, account.as_deref()),
            (None, Some(a)) => format!("/accounts/{a}"),
            (None, None) => format!("/{}", self.kind.plural),
        }
    }

    fn page(
        &self,
        user: &PageUser,
        values: &Fields,
        errors: &Fields,
        choices: &Choices,
        status: StatusCode,
    ) -> PageResult {
        let saved = self.id.map(|id| format!("/{}/{id}", self.kind.plural));
        // A saved lead that is not converted yet can be.
        let convertible = self.kind.kind == Kind::Lead && values.get("status").is_none_or(|s| s != "converted");
        let page = FormPage {
            me: user.me(),
            csrf: user.csrf(),
            heading: self.heading.clone(),
            action: self.action(),
            cancel: self.cancel(),
            fields: fields(self.kind, values, errors, choices),
            has_errors: !errors.is_empty(),
            convert: saved.as_ref().filter(|_| convertible).map(|p| format!("{p}/convert")),
            delete: saved.map(|p| format!("{p}/delete")),
        };
        Ok(render(&page, status))
    }

    /// After a failed save: the form again with each field's error, or the error page when the
    /// failure is not about a field.
    fn again(&self, form: &SignedForm, e: ApiError, choices: &Choices) -> PageResult {
        match field_errors(&e) {
            Some(errors) => self.page(&form.user, &form.map(), &errors, choices, StatusCode::UNPROCESSABLE_ENTITY),
            None => Err(form.user.fail(e)),
        }
    }
}

/// The submitted fields as API input: empty means "clear" (or, when creating, "leave out").
fn input_of(kind: &RecordKind, form: &SignedForm, creating: bool) -> Json {
    let mut map = Map::new();
    for f in kind.fields.iter().filter(|f| !matches!(f.ty, FieldType::RefList(_))) {
        match form.get(f.name) {
            Some(v) if !v.trim().is_empty() => {
                let v = if f.ty == FieldType::Timestamp { moment(v) } else { v.to_string() };
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
pub(crate) fn field_errors(e: &ApiError) -> Option<Fields> {
    match e {
        ApiError::Core(CoreError::Invalid(errors)) => {
            Some(errors.iter().map(|fe| (fe.field.clone(), fe.reason.clone())).collect())
        }
        _ => None,
    }
}

/// The account a new record is for (`?account_id=`), checked to be an id.
fn account_param(q: &Fields) -> Option<String> {
    q.get("account_id").filter(|a| Uuid::parse_str(a).is_ok()).cloned()
}

/// For kinds that must belong to an account: refused, saying where to start, when none is given.
fn needs_account(kind: &RecordKind, account: Option<&str>, user: &PageUser) -> Result<(), PageError> {
    let required = kind.account_field.and_then(|f| kind.field(f)).is_some_and(|f| f.required);
    if required && account.is_none() {
        let why = format!("A {} belongs to an account: open the account and add it from there.", kind.name);
        return Err(user.fail(PageError::new(StatusCode::NOT_FOUND, "Open the account first", &why)));
    }
    Ok(())
}

async fn new_form(s: AppState, user: PageUser, plural: &'static str, q: Fields) -> PageResult {
    let kind = kind_of(plural, &user)?;
    let account = account_param(&q);
    needs_account(kind, account.as_deref(), &user)?;
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
    let acc = account.clone();
    let choices =
        user.call(&s, move |s, actor| Ok(Choices::load(s, actor, kind, acc.as_deref()))).await.unwrap_or_default();
    let form = RecordForm { kind, id: None, account, heading: format!("New {}", kind.name) };
    form.page(&user, &values, &HashMap::new(), &choices, StatusCode::OK)
}

async fn create(s: AppState, plural: &'static str, q: Fields, form: SignedForm) -> PageResult {
    let kind = kind_of(plural, &form.user)?;
    let account = account_param(&q);
    needs_account(kind, account.as_deref(), &form.user)?;
    let mut input = input_of(kind, &form, true);
    if let (Some(account), Some(field), Json::Object(map)) = (&account, kind.account_field, &mut input) {
        map.insert(field.into(), Json::String(account.clone()));
    }
    let acc = account.clone();
    let (created, choices) = form
        .user
        .call(&s, move |s, actor| {
            let created = s.create_record(actor, kind, &input);
            let choices =
                if created.is_err() { Choices::load(s, actor, kind, acc.as_deref()) } else { Choices::default() };
            Ok((created, choices))
        })
        .await?;
    let target = RecordForm { kind, id: None, account, heading: format!("New {}", kind.name) };
    match created {
        Ok(rec) => Ok(go(&where_to(kind, rec.id, target.account.as_deref()))),
        Err(e) => target.again(&form, e.into(), &choices),
    }
}

async fn edit_form(s: AppState, user: PageUser, plural: &'static str, id: String) -> PageResult {
    let kind = kind_of(plural, &user)?;
    let id = user.id(&id, kind.name)?;
    let (rec, account, choices) = user
        .call(&s, move |s, actor| {
            let rec = s.get_record(actor, kind, id)?;
            let account = account_of(kind, &rec);
            let choices = Choices::load(s, actor, kind, account.as_deref());
            Ok((rec, account, choices))
        })
        .await?;
    let values: Fields = kind.fields.iter().map(|f| (f.name.to_string(), stored_text(kind, &rec, f.name))).collect();
    let form = RecordForm { kind, id: Some(id), account, heading: format!("Edit {}", rec.label(kind)) };
    form.page(&user, &values, &HashMap::new(), &choices, StatusCode::OK)
}

async fn update(s: AppState, plural: &'static str, id: String, form: SignedForm) -> PageResult {
    let kind = kind_of(plural, &form.user)?;
    let id = form.user.id(&id, kind.name)?;
    let input = input_of(kind, &form, false);
    let result = form
        .user
        .call(&s, move |s, actor| match s.update_record(actor, kind, id, &input) {
            Ok(rec) => Ok(Ok(account_of(kind, &rec))),
            Err(e) => {
                let account = s.get_record(actor, kind, id).ok().and_then(|r| account_of(kind, &r));
                let choices = Choices::load(s, actor, kind, account.as_deref());
                Ok(Err((e, account, choices)))
            }
        })
        .await?;
    match result {
        Ok(account) => Ok(go(&where_to(kind, id, account.as_deref()))),
        Err((e, account, choices)) => {
            let target = RecordForm { kind, id: Some(id), account, heading: format!("Edit {}", kind.name) };
            target.again(&form, e.into(), &choices)
        }
    }
}

fn account_of(kind: &RecordKind, rec: &Record) -> Option<String> {
    rec.account(kind).map(|a| a.to_string())
}

/// Deletes a record (an admin can restore it) and goes back to its list.
async fn delete(s: AppState, plural: &'static str, id: String, form: SignedForm) -> PageResult {
    let kind = kind_of(plural, &form.user)?;
    let id = form.user.id(&id, kind.name)?;
    let label = form
        .user
        .call(&s, move |s, actor| {
            let label = s.get_record(actor, kind, id)?.label(kind);
            s.delete_record(actor, kind, id)?;
            Ok(label)
        })
        .await?;
    Ok(go(&format!("/{plural}?removed={}", encode(&label))))
}
