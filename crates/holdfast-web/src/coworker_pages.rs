//! Admin pages for co-workers: add one, change their role, team, manager and title, and reset a
//! forgotten password (a temporary one, shown once to the admin, that signs the co-worker out
//! everywhere). The services check that the actor is an admin; these pages only ask.

use std::collections::HashMap;

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use holdfast_core::CoreError;
use holdfast_core::coworker::{CoWorker, Role, Seniority};
use holdfast_core::secret;
use holdfast_core::service::{CoWorkerChanges, NewCoWorker};
use uuid::Uuid;

use crate::pages::{Me, PageUser, core_error, page_id, render};
use crate::{AppState, blocking};

pub fn routes(router: axum::Router<AppState>) -> axum::Router<AppState> {
    router
        .route("/coworkers/new", get(new_form).post(add))
        .route("/coworkers/{id}/edit", get(edit_form).post(update))
        .route("/coworkers/{id}/password", post(reset_password))
        .route("/coworkers/{id}/handover", post(handover))
}

const ROLES: [&str; 3] = ["rep", "manager", "admin"];
const SENIORITIES: [&str; 3] = ["individual", "manager", "executive"];

/// What the form shows: the values typed or stored, and each field's error.
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
    /// (email, name) of co-workers who can be a manager (or take over customers).
    managers: Vec<(String, String)>,
    /// What the co-worker owns, per kind (plural, count), for the handover.
    owns: Vec<(&'static str, i64)>,
    /// Their status, and when they acknowledged the current confidentiality notice.
    status: String,
    reaffirmed: Option<String>,
}

#[derive(Template)]
#[template(path = "coworker_handover.html")]
struct HandoverDone {
    me: Option<Me>,
    csrf: String,
    h: holdfast_core::service::Handover,
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

/// Teams and possible managers, for the form's choices.
fn choices(s: &AppState, actor: &holdfast_core::coworker::Actor) -> (Vec<String>, Vec<(String, String)>) {
    let mut teams: Vec<String> = s.list_teams().unwrap_or_default().into_iter().map(|t| t.name).collect();
    teams.sort();
    let mut managers: Vec<(String, String)> = s
        .list_coworkers(actor)
        .unwrap_or_default()
        .into_iter()
        .filter(|c| c.status.may_sign_in())
        .map(|c| (c.email, c.name))
        .collect();
    managers.sort_by(|a, b| a.1.cmp(&b.1));
    (teams, managers)
}

#[allow(clippy::too_many_arguments)]
fn show_form(
    user: &PageUser,
    extra: (String, Option<String>),
    owns: Vec<(&'static str, i64)>,
    teams: Vec<String>,
    managers: Vec<(String, String)>,
    heading: String,
    action: String,
    id: Option<Uuid>,
    v: Values,
    errors: HashMap<String, String>,
    status: StatusCode,
) -> Response {
    render(
        &CoworkerForm {
            me: user.me(),
            csrf: user.csrf(),
            heading,
            action,
            id,
            v,
            errors,
            roles: ROLES.to_vec(),
            seniorities: SENIORITIES.to_vec(),
            teams,
            managers,
            owns,
            status: extra.0,
            reaffirmed: extra.1,
        },
        status,
    )
}

/// Field errors, and a duplicate email (the one conflict adding a co-worker has) beside the email.
fn field_errors(e: &crate::ApiError) -> Option<HashMap<String, String>> {
    match e {
        crate::ApiError::Core(CoreError::Conflict(why)) => Some([("email".to_string(), why.clone())].into()),
        other => crate::forms::field_errors(other),
    }
}

fn values_of(form: &HashMap<String, String>) -> Values {
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

async fn new_form(State(s): State<AppState>, user: PageUser) -> Response {
    let actor = user.actor.clone();
    if !actor.is_admin() {
        return core_error(CoreError::forbidden("only an admin may add co-workers").into(), user.me());
    }
    let (teams, managers) = blocking(move || Ok(choices(&s, &actor))).await.unwrap_or_default();
    let v = Values { role: "rep".into(), ..Default::default() };
    show_form(
        &user,
        Default::default(),
        Vec::new(),
        teams,
        managers,
        "Add a co-worker".into(),
        "/coworkers/new".into(),
        None,
        v,
        HashMap::new(),
        StatusCode::OK,
    )
}

async fn add(State(s): State<AppState>, user: PageUser, Form(form): Form<HashMap<String, String>>) -> Response {
    if let Some(refused) = user.refuse_forged(&form) {
        return refused;
    }
    let v = values_of(&form);
    let mut errors = HashMap::new();
    let role = Role::parse(&v.role).map_err(|e| errors.insert("role".to_string(), e)).ok();
    let seniority = match v.seniority.as_str() {
        "" => None,
        other => Seniority::parse(other).map_err(|e| errors.insert("seniority".to_string(), e)).ok(),
    };
    let password = secret::new_password();
    let new = NewCoWorker {
        email: v.email.clone(),
        name: v.name.clone(),
        role: role.unwrap_or(Role::Rep),
        seniority,
        team: some(&v.team),
        manager: some(&v.manager),
        title: some(&v.title),
        password: Some(password.clone()),
    };
    let actor = user.actor.clone();
    let services = s.clone();
    let result = if errors.is_empty() {
        blocking(move || services.add_coworker(&actor, new)).await
    } else {
        Err(CoreError::Invalid(Vec::new()).into())
    };
    match result {
        Ok(c) => password_page(&user, c, password, true),
        Err(e) => match field_errors(&e) {
            Some(more) => {
                errors.extend(more);
                let actor = user.actor.clone();
                let (teams, managers) = blocking(move || Ok(choices(&s, &actor))).await.unwrap_or_default();
                show_form(
                    &user,
                    Default::default(),
                    Vec::new(),
                    teams,
                    managers,
                    "Add a co-worker".into(),
                    "/coworkers/new".into(),
                    None,
                    v,
                    errors,
                    StatusCode::UNPROCESSABLE_ENTITY,
                )
            }
            None => core_error(e, user.me()),
        },
    }
}

fn password_page(user: &PageUser, c: CoWorker, password: String, added: bool) -> Response {
    render(&PasswordShown { me: user.me(), name: c.name, email: c.email, password, added }, StatusCode::OK)
}

/// The co-worker and the form's values for them.
fn stored(s: &AppState, actor: &holdfast_core::coworker::Actor, id: Uuid) -> Result<(CoWorker, Values), CoreError> {
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

async fn edit_form(State(s): State<AppState>, user: PageUser, Path(id): Path<String>) -> Response {
    let id = match page_id(&id, "co-worker", user.me()) {
        Ok(id) => id,
        Err(not_found) => return *not_found,
    };
    let actor = user.actor.clone();
    if !actor.is_admin() {
        return core_error(CoreError::forbidden("only an admin may change co-workers").into(), user.me());
    }
    let loaded = blocking(move || {
        let (c, v) = stored(&s, &actor, id)?;
        let (teams, managers) = choices(&s, &actor);
        let owns = s
            .ownership(&actor, &id.to_string())?
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .map(|(k, n)| (k.plural, n))
            .collect();
        let reaffirmed = s.confidentiality_status(&actor, &id.to_string())?;
        Ok((c, v, teams, managers, owns, reaffirmed))
    })
    .await;
    match loaded {
        Ok((c, v, teams, mut managers, owns, reaffirmed)) => {
            managers.retain(|m| m.0 != c.email);
            let when = reaffirmed.map(|t| {
                holdfast_core::time::format_timestamp(t).chars().take(16).collect::<String>().replace('T', " ")
            });
            show_form(
                &user,
                (c.status.as_str().to_string(), when),
                owns,
                teams,
                managers,
                format!("Edit {}", c.name),
                format!("/coworkers/{id}/edit"),
                Some(id),
                v,
                HashMap::new(),
                StatusCode::OK,
            )
        }
        Err(e) => core_error(e, user.me()),
    }
}

async fn update(
    State(s): State<AppState>,
    user: PageUser,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if let Some(refused) = user.refuse_forged(&form) {
        return refused;
    }
    let id = match page_id(&id, "co-worker", user.me()) {
        Ok(id) => id,
        Err(not_found) => return *not_found,
    };
    let v = values_of(&form);
    let mut errors = HashMap::new();
    let role = Role::parse(&v.role).map_err(|e| errors.insert("role".to_string(), e)).ok();
    let seniority = Seniority::parse(&v.seniority).map_err(|e| errors.insert("seniority".to_string(), e)).ok();
    let changes = CoWorkerChanges {
        name: Some(v.name.clone()),
        role,
        seniority,
        team: Some(some(&v.team)),
        manager: Some(some(&v.manager)),
        title: Some(some(&v.title)),
        ..Default::default()
    };
    let actor = user.actor.clone();
    let services = s.clone();
    let result = if errors.is_empty() {
        blocking(move || services.update_coworker(&actor, &id.to_string(), changes)).await
    } else {
        Err(CoreError::Invalid(Vec::new()).into())
    };
    match result {
        Ok(_) => Redirect::to("/coworkers").into_response(),
        Err(e) => match field_errors(&e) {
            Some(more) => {
                errors.extend(more);
                let actor = user.actor.clone();
                let (teams, managers) = blocking(move || Ok(choices(&s, &actor))).await.unwrap_or_default();
                show_form(
                    &user,
                    Default::default(),
                    Vec::new(),
                    teams,
                    managers,
                    format!("Edit {}", v.name),
                    format!("/coworkers/{id}/edit"),
                    Some(id),
                    v,
                    errors,
                    StatusCode::UNPROCESSABLE_ENTITY,
                )
            }
            None => core_error(e, user.me()),
        },
    }
}

/// "Forgot password": the admin sets a temporary one, shown once; the co-worker's sessions and
/// tokens end at once, so whoever knew the old password is out.
async fn reset_password(
    State(s): State<AppState>,
    user: PageUser,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if let Some(refused) = user.refuse_forged(&form) {
        return refused;
    }
    let id = match page_id(&id, "co-worker", user.me()) {
        Ok(id) => id,
        Err(not_found) => return *not_found,
    };
    let password = secret::new_password();
    let changes = CoWorkerChanges { password: Some(password.clone()), ..Default::default() };
    let actor = user.actor.clone();
    match blocking(move || s.update_coworker(&actor, &id.to_string(), changes)).await {
        Ok(c) => password_page(&user, c, password, false),
        Err(e) => core_error(e, user.me()),
    }
}

/// Hands everything a co-worker owns to another in one step; the page offers the undo.
async fn handover(
    State(s): State<AppState>,
    user: PageUser,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if let Some(refused) = user.refuse_forged(&form) {
        return refused;
    }
    let id = match page_id(&id, "co-worker", user.me()) {
        Ok(id) => id,
        Err(not_found) => return *not_found,
    };
    let to = form.get("to").cloned().unwrap_or_default();
    let actor = user.actor.clone();
    match blocking(move || s.handover(&actor, &id.to_string(), &to)).await {
        Ok(h) => render(&HandoverDone { me: user.me(), csrf: user.csrf(), h }, StatusCode::OK),
        Err(e) => core_error(e, user.me()),
    }
}
