//! `/scim/v2`: the identity provider's door (RFC 7644). Handlers are thin: they authenticate the
//! bearer token, read the body and query, and call the provisioning services; every error leaves
//! as a SCIM error body (`application/scim+json`), never as a page or a problem+json.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use holdfast_core::coworker::{Actor, Channel};
use holdfast_core::scim::{self, ScimError};
use holdfast_core::service::ScimQuery;
use serde_json::Value as Json;

use crate::AppState;
use crate::extract::{bearer, client_of, public_base};

/// A SCIM answer or error, as `application/scim+json`.
pub struct Scim(StatusCode, Json, Option<String>);

impl IntoResponse for Scim {
    fn into_response(self) -> Response {
        let mut resp = (self.0, self.1.to_string()).into_response();
        let h = resp.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/scim+json"));
        if let Some(location) = self.2.and_then(|l| HeaderValue::from_str(&l).ok()) {
            h.insert(header::LOCATION, location);
        }
        resp
    }
}

/// A SCIM error response.
pub struct Refusal(ScimError);

impl From<ScimError> for Refusal {
    fn from(e: ScimError) -> Refusal {
        Refusal(e)
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut resp = Scim(status, self.0.to_json(), None).into_response();
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"holdfast-scim\""));
        }
        resp
    }
}

type Answer = Result<Scim, Refusal>;

/// Runs a provisioning call on the blocking pool.
async fn run<T: Send + 'static>(f: impl FnOnce() -> Result<T, ScimError> + Send + 'static) -> Result<T, Refusal> {
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result.map_err(Refusal),
        Err(_) => Err(Refusal(ScimError::status(500, "the server could not finish the request; nothing was changed"))),
    }
}

/// The identity provider behind a request: a SCIM token, or an admin's API token.
pub struct Provider {
    actor: Actor,
    /// `https://host/scim/v2`, for `meta.location`.
    base: String,
}

impl FromRequestParts<AppState> for Provider {
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = match bearer(parts) {
            Some(Some(t)) => t,
            _ => {
                return Err(Refusal(ScimError::unauthorized(
                    "send 'Authorization: Bearer <token>' with a SCIM token (holdfast token create --coworker ADMIN --scim) or an admin's API token",
                )));
            }
        };
        let (addr, agent) = client_of(parts);
        let services = state.clone();
        let actor = run(move || services.authenticate(&token, addr, agent).map_err(ScimError::from)).await?;
        // An admin's bearer session (`POST /api/v1/sessions`) is as good as their API token; the
        // services refuse everyone but admins.
        if !matches!(actor.channel, Channel::Scim | Channel::ApiToken | Channel::Session) {
            return Err(Refusal(ScimError::unauthorized("send a SCIM token or an admin's API token")));
        }
        // A session goes through the same gates as on the API: a password someone else set is
        // replaced, and an admin who must have a second factor has one, before anything else.
        if actor.channel == Channel::Session {
            let must_change = actor.coworker.as_ref().is_some_and(|c| c.password_must_change);
            let (services, a) = (state.clone(), actor.clone());
            let must_enrol = run(move || services.must_enrol_two_factor(&a).map_err(ScimError::from)).await?;
            if must_change || must_enrol {
                return Err(Refusal(ScimError::forbidden(
                    "this session must first choose its own password or set up two-factor sign-in; or send an API token",
                )));
            }
        }
        Ok(Provider { actor, base: format!("{}/scim/v2", public_base(parts)) })
    }
}

/// A SCIM request body: JSON (`application/scim+json` or `application/json`), at most 1 MiB.
pub struct ScimBody(Json);

impl<S: Send + Sync> FromRequest<S> for ScimBody {
    type Rejection = Refusal;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_lowercase);
        if let Some(ct) = &content_type
            && !ct.starts_with("application/json")
            && !ct.starts_with("application/scim+json")
        {
            return Err(Refusal(ScimError::status(415, "send the body as application/scim+json")));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                Refusal(ScimError::status(
                    413,
                    format!("the body is larger than the {} bytes /scim/v2 accepts", crate::JSON_BODY_LIMIT),
                ))
            } else {
                Refusal(ScimError::invalid_syntax(rejection.body_text()))
            }
        })?;
        let body: Json = serde_json::from_slice(&bytes)
            .map_err(|e| Refusal(ScimError::invalid_syntax(format!("the body is not valid JSON: {e}"))))?;
        Ok(ScimBody(body))
    }
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListParams {
    filter: Option<String>,
    start_index: Option<String>,
    count: Option<String>,
    attributes: Option<String>,
    excluded_attributes: Option<String>,
}

impl ListParams {
    fn query(self) -> Result<ScimQuery, Refusal> {
        let number = |name: &str, v: Option<String>| -> Result<Option<i64>, Refusal> {
            v.map(|n| {
                n.trim()
                    .parse::<i64>()
                    .map_err(|_| Refusal(ScimError::invalid_value(format!("{name} must be a number"))))
            })
            .transpose()
        };
        Ok(ScimQuery {
            filter: self.filter,
            start_index: number("startIndex", self.start_index)?,
            count: number("count", self.count)?,
            attributes: self.attributes,
            excluded_attributes: self.excluded_attributes,
        })
    }
}

/// The query string, with SCIM errors for a malformed one.
pub struct ListQuery(ScimQuery);

impl<S: Send + Sync> FromRequestParts<S> for ListQuery {
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Query(params) = Query::<ListParams>::from_request_parts(parts, state)
            .await
            .map_err(|e| Refusal(ScimError::invalid_value(e.body_text())))?;
        Ok(ListQuery(params.query()?))
    }
}

fn ok(v: Json) -> Answer {
    Ok(Scim(StatusCode::OK, v, None))
}

fn created(v: Json) -> Answer {
    let location = v["meta"]["location"].as_str().map(String::from);
    Ok(Scim(StatusCode::CREATED, v, location))
}

async fn users(State(s): State<AppState>, p: Provider, ListQuery(q): ListQuery) -> Answer {
    ok(run(move || s.scim_users(&p.actor, &q, &p.base)).await?.to_json())
}

async fn user(State(s): State<AppState>, p: Provider, Path(id): Path<String>, ListQuery(q): ListQuery) -> Answer {
    let mut u = run(move || s.scim_user(&p.actor, &id, &p.base)).await?;
    scim::project(&mut u, q.attributes.as_deref(), q.excluded_attributes.as_deref());
    ok(u)
}

async fn create_user(State(s): State<AppState>, p: Provider, ScimBody(body): ScimBody) -> Answer {
    created(run(move || s.scim_create_user(&p.actor, &body, &p.base)).await?)
}

async fn replace_user(
    State(s): State<AppState>,
    p: Provider,
    Path(id): Path<String>,
    ScimBody(body): ScimBody,
) -> Answer {
    ok(run(move || s.scim_replace_user(&p.actor, &id, &body, &p.base)).await?)
}

async fn patch_user(
    State(s): State<AppState>,
    p: Provider,
    Path(id): Path<String>,
    ScimBody(body): ScimBody,
) -> Answer {
    ok(run(move || s.scim_patch_user(&p.actor, &id, &body, &p.base)).await?)
}

async fn delete_user(State(s): State<AppState>, p: Provider, Path(id): Path<String>) -> Result<StatusCode, Refusal> {
    run(move || s.scim_delete_user(&p.actor, &id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn groups(State(s): State<AppState>, p: Provider, ListQuery(q): ListQuery) -> Answer {
    ok(run(move || s.scim_groups(&p.actor, &q, &p.base)).await?.to_json())
}

async fn group(State(s): State<AppState>, p: Provider, Path(id): Path<String>, ListQuery(q): ListQuery) -> Answer {
    ok(run(move || s.scim_group(&p.actor, &id, &q, &p.base)).await?)
}

async fn create_group(State(s): State<AppState>, p: Provider, ScimBody(body): ScimBody) -> Answer {
    created(run(move || s.scim_create_group(&p.actor, &body, &p.base)).await?)
}

async fn replace_group(
    State(s): State<AppState>,
    p: Provider,
    Path(id): Path<String>,
    ScimBody(body): ScimBody,
) -> Answer {
    ok(run(move || s.scim_replace_group(&p.actor, &id, &body, &p.base)).await?)
}

async fn patch_group(
    State(s): State<AppState>,
    p: Provider,
    Path(id): Path<String>,
    ScimBody(body): ScimBody,
) -> Answer {
    ok(run(move || s.scim_patch_group(&p.actor, &id, &body, &p.base)).await?)
}

async fn delete_group(State(s): State<AppState>, p: Provider, Path(id): Path<String>) -> Result<StatusCode, Refusal> {
    run(move || s.scim_delete_group(&p.actor, &id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn service_provider_config(p: Provider) -> Answer {
    ok(scim::service_provider_config(&p.base))
}

async fn resource_types(p: Provider) -> Answer {
    let all = scim::resource_types(&p.base);
    ok(scim::list_json(all.len(), 1, all))
}

async fn resource_type(p: Provider, Path(id): Path<String>) -> Answer {
    let found = scim::resource_types(&p.base).into_iter().find(|r| r["id"].as_str() == Some(id.as_str()));
    ok(found.ok_or_else(|| Refusal(ScimError::not_found("resource type", &id)))?)
}

async fn schemas(p: Provider) -> Answer {
    let all = scim::schemas(&p.base);
    ok(scim::list_json(all.len(), 1, all))
}

async fn schema(p: Provider, Path(id): Path<String>) -> Answer {
    let found = scim::schemas(&p.base).into_iter().find(|r| r["id"].as_str() == Some(id.as_str()));
    ok(found.ok_or_else(|| Refusal(ScimError::not_found("schema", &id)))?)
}

async fn no_route() -> Refusal {
    Refusal(ScimError::status(404, "no such SCIM endpoint; see /scim/v2/ResourceTypes"))
}

async fn no_method() -> Refusal {
    Refusal(ScimError::status(405, "this SCIM endpoint does not take that method"))
}

/// The `/scim/v2` routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/Users", get(users).post(create_user))
        .route("/Users/{id}", get(user).put(replace_user).patch(patch_user).delete(delete_user))
        .route("/Groups", get(groups).post(create_group))
        .route("/Groups/{id}", get(group).put(replace_group).patch(patch_group).delete(delete_group))
        .route("/ServiceProviderConfig", get(service_provider_config))
        .route("/ResourceTypes", get(resource_types))
        .route("/ResourceTypes/{id}", get(resource_type))
        .route("/Schemas", get(schemas))
        .route("/Schemas/{id}", get(schema))
        .fallback(no_route)
        .method_not_allowed_fallback(no_method)
        .layer(axum::extract::DefaultBodyLimit::max(crate::JSON_BODY_LIMIT))
}
