//! Holdfast over HTTP: the JSON API (`/api/v1`), its OpenAPI document, and health checks.
//! Handlers are thin: they parse input, call `holdfast_core` services on a blocking thread, and
//! map results and errors (RFC 9457 problem+json) back.

mod api;
mod coworker_pages;
mod extract;
mod forms;
mod lists;
mod openapi;
mod pages;
mod problem;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use holdfast_core::storage::Database;
use holdfast_core::{CoreError, Holdfast};
use holdfast_store::Store;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

pub use problem::ApiError;

/// The services the handlers call.
pub type AppState = Arc<Holdfast<Store>>;

/// JSON bodies larger than this are refused with 413.
pub const JSON_BODY_LIMIT: usize = 1024 * 1024;
/// CSV uploads larger than this are refused with 413.
pub const IMPORT_BODY_LIMIT: usize = 64 * 1024 * 1024;

/// Runs a service call on the blocking pool (services are synchronous and touch the database).
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, CoreError> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result.map_err(ApiError::from),
        Err(_) => Err(ApiError::Internal),
    }
}

/// The whole HTTP application.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/openapi.json", get(openapi_document))
        .route("/sessions", post(api::login))
        .route("/sessions/current", axum::routing::delete(api::logout))
        .route("/me", get(api::me))
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
    coworker_pages::routes(lists::routes(forms::routes(Router::new())))
        .route("/", get(pages::home))
        .route("/login", get(pages::login_page).post(pages::login_submit))
        .route("/logout", post(pages::logout))
        .route("/setup", post(pages::setup_submit))
        .route("/accounts/{id}", get(pages::account))
        .route("/accounts/{id}/activities", post(pages::log_activity))
        .route("/accounts/{id}/deals", post(pages::create_deal))
        .route("/deals/{id}/stage", post(pages::move_deal))
        .route("/contacts/{id}", get(pages::contact))
        .route("/contacts/{id}/activities", post(pages::log_contact_activity))
        .route("/contacts/{id}/history", get(pages::contact_history))
        .route("/accounts/{id}/history", get(pages::account_history))
        .route("/coworkers", get(pages::coworkers))
        .route("/coworkers/{id}/events", get(pages::coworker_events))
        .route("/coworkers/{id}/status", post(pages::set_coworker_status))
        .route("/settings", get(pages::settings).post(pages::save_settings))
        .route("/settings/confidentiality", post(pages::save_confidentiality_notice))
        .route("/confidentiality", get(pages::confidentiality).post(pages::acknowledge_confidentiality))
        .route("/settings/tokens", post(pages::create_token))
        .route("/settings/tokens/{id}/revoke", post(pages::revoke_token))
        .route("/static/app.css", get(pages::static_css))
        .route("/static/app.js", get(pages::static_js))
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
    resp
}

async fn not_found() -> ApiError {
    ApiError::Core(CoreError::NotFound { what: "route", id: "(see /api/v1/openapi.json for the API)".into() })
}

async fn healthz(State(s): State<AppState>) -> Result<axum::Json<serde_json::Value>, ApiError> {
    let backend = s.database().backend();
    let version = blocking(move || s.database().schema_version()).await?;
    Ok(axum::Json(serde_json::json!({"status": "ok", "backend": backend, "schema_version": version})))
}

async fn openapi_document() -> axum::Json<serde_json::Value> {
    axum::Json(openapi::document())
}
