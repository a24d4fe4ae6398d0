//! Holdfast over HTTP: the JSON API (`/api/v1`), its OpenAPI document, the web app's pages, and
//! health checks. Handlers are thin: they parse input, call `holdfast_core` services on a
//! blocking thread, and map results and errors (RFC 9457 problem+json, or an error page) back.
//! This file only builds the router.

mod api;
mod extract;
mod openapi;
mod pages;
mod problem;
mod query;
mod state;

use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use holdfast_core::CoreError;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

pub use problem::ApiError;
pub use state::{AppState, blocking};

/// JSON bodies larger than this are refused with 413.
pub const JSON_BODY_LIMIT: usize = 1024 * 1024;
/// CSV uploads larger than this are refused with 413.
pub const IMPORT_BODY_LIMIT: usize = 64 * 1024 * 1024;

/// The whole HTTP application.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/openapi.json", get(openapi_document))
        .route("/sessions", post(api::login))
        .route("/sessions/current", axum::routing::delete(api::logout))
        .route("/me", get(api::me))
        .route("/me/password", post(api::change_password))
        .route("/search", get(api::search))
        .route("/settings", get(api::settings).put(api::update_settings).patch(api::update_settings))
        .route("/events", get(api::all_events))
        .route("/coworkers", get(api::coworkers).post(api::add_coworker))
        .route("/coworkers/{id}", get(api::coworker).patch(api::update_coworker))
        .route("/coworkers/{id}/events", get(api::coworker_events))
        .route("/coworkers/{id}/handover", post(api::handover))
        .route("/coworkers/{id}/tokens", get(api::tokens).post(api::create_token))
        .route("/coworkers/{id}/tokens/{token}", axum::routing::delete(api::revoke_token))
        .route("/imports/contacts", post(api::import_contacts).layer(DefaultBodyLimit::max(IMPORT_BODY_LIMIT)))
        .route("/bulk-operations/{id}/undo", post(api::undo_bulk))
        .route("/leads/{id}/convert", post(api::convert_lead))
        .route("/{kind}/bulk/assign", post(api::bulk_assign))
        .route("/{kind}/export", get(api::export))
        .route("/{kind}", get(api::list).post(api::create))
        .route("/{kind}/{id}", get(api::get).patch(api::update).delete(api::delete))
        .route("/{kind}/{id}/restore", post(api::restore))
        .route("/{kind}/{id}/history", get(api::history))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(JSON_BODY_LIMIT));
    pages::routes(Router::new())
        .route("/healthz", get(healthz))
        .nest("/api/v1", api)
        .with_state(state)
        .layer(axum::middleware::map_response(security_headers))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, Duration::from_secs(120)))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}

/// Headers on every response: no framing (clickjacking a bulk hand-over), no content sniffing, no
/// script or style but our own files, forms post only here, and no referrer leaves the site.
async fn security_headers(mut resp: axum::response::Response) -> axum::response::Response {
    use axum::http::HeaderValue;
    let h = resp.headers_mut();
    h.insert(
        "content-security-policy",
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; object-src 'none'; \
             base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    h.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    // Pages and API answers carry customer data (and once, a temporary password): never cached.
    // Only the stylesheet and script say otherwise.
    if !h.contains_key(axum::http::header::CACHE_CONTROL) {
        h.insert(axum::http::header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

async fn not_found() -> ApiError {
    ApiError::Core(CoreError::NotFound { what: "route", id: "(see /api/v1/openapi.json for the API)".into() })
}

async fn healthz(State(s): State<AppState>) -> Result<axum::Json<serde_json::Value>, ApiError> {
    let h = blocking(move || s.health()).await?;
    Ok(axum::Json(serde_json::json!({"status": "ok", "backend": h.backend, "schema_version": h.schema_version})))
}

async fn openapi_document() -> axum::Json<serde_json::Value> {
    axum::Json(openapi::document())
}
