//! Request extractors: the actor behind a request, and JSON bodies parsed with useful errors.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Path, Request};
use axum::http::header;
use axum::http::request::Parts;
use holdfast_core::CoreError;
use holdfast_core::coworker::Actor;
use holdfast_core::record::RecordKind;
use uuid::Uuid;

use crate::AppState;
use crate::problem::ApiError;

/// Client address and user agent of a request, for system events.
pub fn client_of(parts: &Parts) -> (Option<String>, Option<String>) {
    let addr = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string());
    let agent =
        parts.headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).map(|s| s.chars().take(300).collect());
    (addr, agent)
}

/// The signed-in co-worker, from `Authorization: Bearer <token>` (API tokens and session tokens).
pub struct Caller(pub Actor);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let header = parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        let token = match header {
            Some(h) if h.len() > 7 && h[..7].eq_ignore_ascii_case("bearer ") => h[7..].trim().to_string(),
            Some(_) => {
                return Err(CoreError::Unauthenticated("use the header 'Authorization: Bearer <token>'".into()).into());
            }
            None => {
                return Err(CoreError::Unauthenticated(
                    "no API token was sent; create one with `holdfast token create --coworker EMAIL` and send 'Authorization: Bearer <token>'".into(),
                )
                .into());
            }
        };
        let (addr, agent) = client_of(parts);
        let services = state.clone();
        let actor = crate::blocking(move || services.authenticate(&token, addr, agent)).await?;
        Ok(Caller(actor))
    }
}

/// A JSON body as a `serde_json::Value`, with problem+json errors for bad JSON and big bodies.
pub struct JsonBody(pub serde_json::Value);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_lowercase);
        if let Some(ct) = &content_type
            && !ct.starts_with("application/json")
            && !ct.contains("+json")
        {
            return Err(ApiError::UnsupportedMediaType("application/json"));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::TooLarge(crate::JSON_BODY_LIMIT)
            } else {
                ApiError::BadRequest(rejection.body_text())
            }
        })?;
        if bytes.is_empty() {
            return Err(ApiError::BadJson("the body is empty; send a JSON object".into()));
        }
        serde_json::from_slice(&bytes).map(JsonBody).map_err(|e| ApiError::BadJson(e.to_string()))
    }
}

/// Raw body bytes with the size limit mapped to a problem.
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        Bytes::from_request(req, state).await.map(RawBody).map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::TooLarge(crate::IMPORT_BODY_LIMIT)
            } else {
                ApiError::BadRequest(rejection.body_text())
            }
        })
    }
}

/// The kind of record a path names (`/api/v1/{kind}/…`), or 404 naming the collection.
pub struct KindPath(pub &'static RecordKind);

fn kind_of(plural: &str) -> Result<&'static RecordKind, ApiError> {
    RecordKind::by_plural(plural)
        .ok_or_else(|| ApiError::Core(CoreError::NotFound { what: "collection", id: format!("/api/v1/{plural}") }))
}

fn path_error(rejection: axum::extract::rejection::PathRejection) -> ApiError {
    ApiError::BadRequest(rejection.body_text())
}

impl<S: Send + Sync> FromRequestParts<S> for KindPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(params) = Path::<Vec<(String, String)>>::from_request_parts(parts, state).await.map_err(path_error)?;
        let plural = params.iter().find(|(name, _)| name == "kind").map(|(_, v)| v.as_str()).unwrap_or_default();
        Ok(KindPath(kind_of(plural)?))
    }
}

/// One record a path names (`/api/v1/{kind}/{id}/…`): its kind and id, or 404.
pub struct RecordPath(pub &'static RecordKind, pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for RecordPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path((plural, id)) =
            Path::<(String, String)>::from_request_parts(parts, state).await.map_err(path_error)?;
        let kind = kind_of(&plural)?;
        Ok(RecordPath(kind, crate::api::parse_id(kind.name, &id)?))
    }
}
