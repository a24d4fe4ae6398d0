//! RFC 9457 problem details: every error leaves the API as `application/problem+json`, mapped
//! from the domain's error in one place.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use holdfast_core::{CoreError, FieldError, StorageError};
use serde_json::json;

/// An API failure.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Core(#[from] CoreError),
    #[error("the request body is not valid JSON: {0}")]
    BadJson(String),
    #[error("the request body is larger than the {0} bytes this endpoint accepts")]
    TooLarge(usize),
    #[error("send the body as {0}")]
    UnsupportedMediaType(&'static str),
    #[error("{0}")]
    BadRequest(String),
    #[error("the server could not finish the request")]
    Internal,
}

impl ApiError {
    pub fn field(field: &str, reason: impl Into<String>) -> ApiError {
        ApiError::Core(CoreError::invalid(field, reason))
    }
}

fn problem(status: StatusCode, slug: &str, title: &str, detail: String) -> serde_json::Map<String, serde_json::Value> {
    let mut m = serde_json::Map::new();
    m.insert("type".into(), json!(format!("https://holdfast.dev/problems/{slug}")));
    m.insert("title".into(), json!(title));
    m.insert("status".into(), json!(status.as_u16()));
    m.insert("detail".into(), json!(detail));
    m
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let detail = self.to_string();
        let (status, body) = match self {
            ApiError::Core(CoreError::Invalid(errors)) => {
                let mut p = problem(StatusCode::UNPROCESSABLE_ENTITY, "validation", "The input is not valid", detail);
                p.insert("errors".into(), json!(errors));
                (StatusCode::UNPROCESSABLE_ENTITY, p)
            }
            ApiError::Core(CoreError::NotFound { .. }) => {
                (StatusCode::NOT_FOUND, problem(StatusCode::NOT_FOUND, "not-found", "Not found", detail))
            }
            ApiError::Core(CoreError::Unauthenticated(_)) => (
                StatusCode::UNAUTHORIZED,
                problem(StatusCode::UNAUTHORIZED, "unauthenticated", "Sign in or send a valid API token", detail),
            ),
            ApiError::Core(CoreError::Forbidden(_)) => {
                (StatusCode::FORBIDDEN, problem(StatusCode::FORBIDDEN, "forbidden", "Not allowed", detail))
            }
            ApiError::Core(CoreError::Conflict(_)) | ApiError::Core(CoreError::Storage(StorageError::Duplicate(_))) => {
                (
                    StatusCode::CONFLICT,
                    problem(StatusCode::CONFLICT, "conflict", "Conflicts with existing data", detail),
                )
            }
            ApiError::Core(CoreError::Protocol(refusal)) => {
                let mut p = problem(
                    StatusCode::CONFLICT,
                    "contact-protocol",
                    "The contact's protocol asks for an approval first",
                    detail,
                );
                p.insert("protocol".into(), json!(refusal.protocol));
                p.insert("contact_id".into(), json!(refusal.contact_id));
                p.insert("contact".into(), json!(refusal.contact));
                p.insert("account".into(), json!(refusal.account));
                p.insert("approvers".into(), json!(refusal.approvers));
                p.insert(
                    "ask".into(),
                    json!({"method": "POST", "href": "/api/v1/contact-approvals", "body": {"contact_id": refusal.contact_id, "reason": "…"}}),
                );
                (StatusCode::CONFLICT, p)
            }
            ApiError::Core(CoreError::TooManyAttempts(_)) => (
                StatusCode::TOO_MANY_REQUESTS,
                problem(StatusCode::TOO_MANY_REQUESTS, "too-many-attempts", "Too many attempts", detail),
            ),
            ApiError::Core(CoreError::BadFile(_)) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                problem(StatusCode::UNPROCESSABLE_ENTITY, "bad-file", "The file could not be imported", detail),
            ),
            ApiError::Core(CoreError::Storage(StorageError::Busy(_))) => (
                StatusCode::SERVICE_UNAVAILABLE,
                problem(StatusCode::SERVICE_UNAVAILABLE, "busy", "The database is busy; try again", detail),
            ),
            ApiError::Core(CoreError::Storage(StorageError::Other(msg))) => {
                tracing::error!(error = %msg, "storage failure");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    problem(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "storage",
                        "Storage failed",
                        "the database could not complete the request; nothing was changed. The server log has the details".into(),
                    ),
                )
            }
            ApiError::BadJson(_) => {
                (StatusCode::BAD_REQUEST, problem(StatusCode::BAD_REQUEST, "malformed-json", "Malformed JSON", detail))
            }
            ApiError::TooLarge(_) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                problem(StatusCode::PAYLOAD_TOO_LARGE, "too-large", "Request body too large", detail),
            ),
            ApiError::UnsupportedMediaType(_) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                problem(StatusCode::UNSUPPORTED_MEDIA_TYPE, "media-type", "Unsupported media type", detail),
            ),
            ApiError::BadRequest(_) => {
                (StatusCode::BAD_REQUEST, problem(StatusCode::BAD_REQUEST, "bad-request", "Bad request", detail))
            }
            ApiError::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                problem(StatusCode::INTERNAL_SERVER_ERROR, "internal", "Internal error", detail),
            ),
        };
        let mut response = (status, axum::Json(serde_json::Value::Object(body))).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// Turns a serde error on a typed body into a field problem where the field can be named.
pub fn body_error(e: &serde_json::Error) -> ApiError {
    let msg = e.to_string();
    let field = msg.split('`').nth(1).unwrap_or("").to_string();
    if e.is_syntax() || e.is_eof() {
        ApiError::BadJson(msg)
    } else {
        ApiError::Core(CoreError::Invalid(vec![FieldError::new(field, msg)]))
    }
}
