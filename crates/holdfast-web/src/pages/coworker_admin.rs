//! Admin pages for co-workers: add one, change their role, team, manager and title, reset a
//! forgotten password (a temporary one, shown once to the admin, that signs the co-worker out
//! everywhere), and hand everything they own to a colleague. The services check that the actor is
//! an admin; these pages only ask.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use holdfast_core::coworker::{Actor, CoWorker, Role, Seniority};
use holdfast_core::service::{CoWorkerChanges, Handover, NewCoWorker};
use holdfast_core::time::format_timestamp;
use holdfast_core::{CoreError, Holdfast, secret};
use holdfast_store::Store;
use uuid::Uuid;

use super::error::{PageError, PageResult};
use super::session::{PageUser, SignedForm};
use super::view::{Choice, Me, go, render};
use crate::problem::ApiError;
use crate::state::AppState;

/// What the form shows: the values typed or stored.
#[derive(Default)]
pub struct Values {
    email: String,
    name: String,
    role: String,
    seniority: String,
    team: String,
    manager: String,
    title: String,
}

/// How many records of one kind a co-worker still owns.
struct Owned {
    plural: &'static str,
    count: i64,
}

/// Teams and the co-workers who can be a manager (or take over customers), for the form.
#[derive(Default)]
struct Choices {
    teams: Vec<String>,
    /// Email and name.
    managers: Vec<Choice>,
}

#[derive(Template)]
#[template(path = "coworker_form.html")]
struct CoworkerForm {
    me: Option<Me>,
    csrf: String,
    heading: String,
    action: String,
    /// `None` when adding.
    id: Option<Uuid>,
    v: Values,
    errors: HashMap<String, String>,
    roles: Vec<&'static str>,
    seniorities: Vec<&'static str>,
    teams: Vec<String>,
    managers: Vec<Choice>,
    /// What the co-worker owns, for the handover.
    owns: Vec<Owned>,
    /// Their status, and when they acknowledged the current confidentiality notice.
    status: String,
    reaffirmed: Option<String>,
    /// Their open departure case.
    case: Option<Uuid>,
    /// Their acknowledgements of the confidentiality notice, newest first.
    acknowledgements: Vec<String>,
    /// Today, the default notice date.
    today: String,
    /// Whether they sign in with a second factor (an admin may reset it).
    two_factor: bool,
}

impl CoworkerForm {
    fn new(user: &PageUser, heading: String, id: Option<Uuid>, v: Values, choices: Choices) -> CoworkerForm {
        CoworkerForm {
            me: user.me(),
            csrf: user.csrf(),
            heading,
            action: id.map(|id| format!("/coworkers/{id}/edit")).unwrap_or_else(|| "/coworkers/new".into()),
            id,
            v,
            errors: HashMap::new(),
            roles: Role::ALL.iter().map(|r| r.as_str()).collect(),
            seniorities: Seniority::ALL.iter().map(|s| s.as_str()).collect(),
            teams: choices.teams,
            managers: choices.managers,
            owns: Vec::new(),
            status: String::new(),
            reaffirmed: None,
            case: None,
            acknowledgements: Vec::new(),
            today: String::new(),
            two_factor: false,
        }
    }
}

#[derive(Template)]
#[template(path = "coworker_handover.html")]
struct HandoverDone {
    me: Option<Me>,
    csrf: String,
    h: Handover,
}

#[derive(Template)]
#[template(path = "coworker_password.html")]
struct PasswordShown {
    me: Option<Me>,
    name: String,
    email: String,
    password: String,
    added: bool,
}

fn choices(s: &Holdfast<Store>, actor: &Actor) -> Choices {
    let mut teams: Vec<String> = s.list_teams().unwrap_or_default().into_iter().map(|t| t.name).collect();
    teams.sort();
    let mut managers: Vec<Choice> = s
        .list_coworkers(actor)
        .unwrap_or_default()
        .into_iter()
        .filter(|c| c.status.may_sign_in())
        .map(|c| Choice::new(c.email, c.name))
        .collect();
    managers.sort_by(|a, b| a.label.cmp(&b.label));
    Choices { teams, managers }
}

/// Field errors, and a duplicate email (the one conflict adding a co-worker has) beside the email.
fn field_errors(e: &ApiError) -> Option<HashMap<String, String>> {
    match e {
        ApiError::Core(CoreError::Conflict(why)) => Some([("email".to_string(), why.clone())].into()),
        other => super::forms::field_errors(other),
    }
}

fn values_of(form: &SignedForm) -> Values {
    let get = |k: &str| form.get(k).map(|v| v.trim().to_string()).unwrap_or_default();
    Values {
        email: get("email"),
        name: get("name"),
        role: get("role"),
        seniority: get("seniority"),
        team: get("team"),
        manager: get("manager"),
        title: get("title"),
    }
}

fn some(v: &str) -> Option<String> {
    Some(v.to_string()).filter(|v| !v.is_empty())
}

fn admin_only(user: &PageUser, what: &str) -> Result<(), PageError> {
    if user.actor.is_admin() {
        Ok(())
    } else {
        Err(user.fail(CoreError::forbidden(format!("only an admin may {what}"))))
    }
}

/// Shows the form again with what was typed and what is wrong, or the error page when the
/// failure is not about a field.
async fn show_again(
    s: &AppState,
    form: SignedForm,
    heading: String,
    id: Option<Uuid>,
    mut errors: HashMap<String, String>,
    e: ApiError,
) -> PageResult {
    let Some(more) = field_errors(&e) else { return Err(form.user.fail(e)) };
    errors.extend(more);
    let choices = form.user.call(s, |s, actor| Ok(choices(s, actor))).await.unwrap_or_default();
    let mut page = CoworkerForm::new(&form.user, heading, id, values_of(&form), choices);
    page.errors = errors;
    Ok(render(&page, StatusCode::UNPROCESSABLE_ENTITY))
}

pub async fn new_form(State(s): State<AppState>, user: PageUser) -> PageResult {
    admin_only(&user, "add co-workers")?;
    let choices = user.call(&s, |s, actor| Ok(choices(s, actor))).await.unwrap_or_default();
    let v = Values { role: "rep".into(), ..Default::default() };
    Ok(render(&CoworkerForm::new(&user, "Add a co-worker".into(), None, v, choices), StatusCode::OK))
}

pub async fn add(State(s): State<AppState>, form: SignedForm) -> PageResult {
    let v = values_of(&form);
    let mut errors = HashMap::new();
    let role = Role::parse(&v.role).map_err(|e| errors.insert("role".to_string(), e)).ok();
    let seniority = match v.seniority.as_str() {
        "" => None,
        other => Seniority::parse(other).map_err(|e| errors.insert("seniority".to_string(), e)).ok(),
    };
    let password = secret::new_password();
    let new = NewCoWorker {
        email: v.email,
        name: v.name,
        role: role.unwrap_or(Role::Rep),
        seniority,
        team: some(&v.team),
        manager: some(&v.manager),
        title: some(&v.title),
        password: Some(password.clone()),
        password_must_change: true,
    };
    let added = if errors.is_empty() {
        form.user.attempt(&s, move |s, actor| s.add_coworker(actor, new)).await
    } else {
        Err(CoreError::Invalid(Vec::new()).into())
    };
    match added {
        Ok(c) => Ok(password_page(&form.user, c, password, true)),
        Err(e) => show_again(&s, form, "Add a co-worker".into(), None, errors, e).await,
    }
}

fn password_page(user: &PageUser, c: CoWorker, password: String, added: bool) -> Response {
    render(&PasswordShown { me: user.me(), name: c.name, email: c.email, password, added }, StatusCode::OK)
}

/// The co-worker and the form's values for them.
fn stored(s: &Holdfast<Store>, actor: &Actor, id: Uuid) -> Result<(CoWorker, Values), CoreError> {
    let c = s.get_coworker(actor, &id.to_string())?;
    let team = match c.team_id {
        Some(t) => s.list_teams()?.into_iter().find(|x| x.id == t).map(|x| x.name).unwrap_or_default(),
        None => String::new(),
    };
    let manager = match c.manager_id {
        Some(m) => s.get_coworker(actor, &m.to_string()).map(|m| m.email).unwrap_or_default(),
        None => String::new(),
    };
    let v = Values {
        email: c.email.clone(),
        name: c.name.clone(),
        role: c.role.as_str().into(),
        seniority: c.seniority.as_str().into(),
        team,
        manager,
        title: c.title.clone().unwrap_or_default(),
    };
    Ok((c, v))
}

/// Everything the profile tab shows about a co-worker.
struct Profile {
    c: CoWorker,
    v: Values,
    choices: Choices,
    owns: Vec<Owned>,
    reaffirmed: Option<i64>,
    case: Option<Uuid>,
    acknowledgements: Vec<String>,
    two_factor: bool,
}

fn profile(s: &Holdfast<Store>, actor: &Actor, id: Uuid) -> Result<Profile, CoreError> {
    let (c, v) = stored(s, actor, id)?;
    let owns = s
        .ownership(actor, &id.to_string())?
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(k, count)| Owned { plural: k.plural, count })
        .collect();
    let reaffirmed = s.confidentiality_status(actor, &id.to_string())?;
    let case = s.open_departure_of(actor, id)?.map(|d| d.id);
    let acknowledgements = s
        .confidentiality_acknowledgements(actor, &id.to_string())?
        .into_iter()
        .map(|a| {
            format!(
                "{} UTC: version {} ({}, while {}){}",
                format_timestamp(a.at).chars().take(16).collect::<String>().replace('T', " "),
                a.version.map_or_else(|| "?".into(), |v| v.to_string()),
                a.sha256.chars().take(12).collect::<String>(),
                a.status,
                a.client_addr.map(|c| format!(" from {c}")).unwrap_or_default()
            )
        })
        .collect();
    let two_factor = s.two_factor_of(id)?.is_some();
    Ok(Profile { c, v, choices: choices(s, actor), owns, reaffirmed, case, acknowledgements, two_factor })
}

pub async fn edit_form(State(s): State<AppState>, user: PageUser, Path(id): Path<String>) -> PageResult {
    let id = user.id(&id, "co-worker")?;
    admin_only(&user, "change co-workers")?;
    let mut p = user.call(&s, move |s, actor| profile(s, actor, id)).await?;
    p.choices.managers.retain(|m| m.value != p.c.email);
    let mut page = CoworkerForm::new(&user, format!("Edit {}", p.c.name), Some(id), p.v, p.choices);
    page.owns = p.owns;
    page.status = p.c.status.as_str().to_string();
    page.reaffirmed = p.reaffirmed.map(|t| format_timestamp(t).chars().take(16).collect::<String>().replace('T', " "));
    page.case = p.case;
    page.acknowledgements = p.acknowledgements;
    page.two_factor = p.two_factor;
    page.today = holdfast_core::time::date_of(s.now());
    Ok(render(&page, StatusCode::OK))
}

pub async fn update(State(s): State<AppState>, Path(id): Path<String>, form: SignedForm) -> PageResult {
    let id = form.user.id(&id, "co-worker")?;
    let v = values_of(&form);
    let mut errors = HashMap::new();
    let role = Role::parse(&v.role).map_err(|e| errors.insert("role".to_string(), e)).ok();
    let seniority = Seniority::parse(&v.seniority).map_err(|e| errors.insert("seniority".to_string(), e)).ok();
    let changes = CoWorkerChanges {
        email: None,
        name: Some(v.name.clone()),
        role,
        seniority,
        team: Some(some(&v.team)),
        manager: Some(some(&v.manager)),
        title: Some(some(&v.title)),
        ..Default::default()
    };
    let changed = if errors.is_empty() {
        form.user.attempt(&s, move |s, actor| s.update_coworker(actor, &id.to_string(), changes)).await
    } else {
        Err(CoreError::Invalid(Vec::new()).into())
    };
    match changed {
        Ok(_) => Ok(go("/coworkers")),
        Err(e) => show_again(&s, form, format!("Edit {}", v.name), Some(id), errors, e).await,
    }
}

/// "Forgot password": the admin sets a temporary one, shown once; the co-worker's sessions and
/// tokens end at once, so whoever knew the old password is out.
pub async fn reset_password(State(s): State<AppState>, Path(id): Path<String>, form: SignedForm) -> PageResult {
    let id = form.user.id(&id, "co-worker")?;
    let password = secret::new_password();
    let changes =
        CoWorkerChanges { password: Some(password.clone()), password_must_change: true, ..Default::default() };
    let c = form.user.call(&s, move |s, actor| s.update_coworker(actor, &id.to_string(), changes)).await?;
    Ok(password_page(&form.user, c, password, false))
}

/// Hands everything a co-worker owns to another in one step; the page offers the undo.
pub async fn handover(State(s): State<AppState>, Path(id): Path<String>, form: SignedForm) -> PageResult {
    let id = form.user.id(&id, "co-worker")?;
    let to = form.text("to");
    let h = form.user.call(&s, move |s, actor| s.handover(actor, &id.to_string(), &to)).await?;
    Ok(render(&HandoverDone { me: form.user.me(), csrf: form.user.csrf(), h }, StatusCode::OK))
}
