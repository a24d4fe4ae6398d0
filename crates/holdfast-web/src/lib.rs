//! Holdfast over HTTP: the JSON API (`/api/v1`), its OpenAPI document, the web app's pages, and
//! health checks. Handlers are thin: they parse input, call `holdfast_core` services on a
//! blocking thread, and map results and errors (RFC 9457 problem+json, or an error page) back.
//! This file only builds the router.

mod alert_delivery;
mod api;
mod coverage_api;
mod departure_api;
mod extract;
mod guard_api;
mod lead_api;
mod leak_api;
mod mail_listener;
mod openapi;
mod pages;
mod problem;
mod query;
mod scim_api;
mod single_sign_on;
mod state;

use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::routing::{MethodFilter, MethodRouter, get, on};
use holdfast_core::CoreError;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

pub use alert_delivery::{
    HttpSender, deliver_alerts, end_due_departures, run_lead_clock, send_weekly_digests, sweep_detectors_daily,
};
pub use mail_listener::{MAIL_MAX_BYTES, MailReceiver, receive_mail};
pub use problem::ApiError;
pub use state::{AppState, blocking};

/// JSON bodies larger than this are refused with 413.
pub const JSON_BODY_LIMIT: usize = 1024 * 1024;
/// CSV uploads larger than this are refused with 413.
pub const IMPORT_BODY_LIMIT: usize = 64 * 1024 * 1024;

/// The whole HTTP application.
pub fn router(state: AppState) -> Router {
    let mut api = Router::new();
    for (path, router) in by_path(api_operations()) {
        api = api.route(path, router);
    }
    let api = api.fallback(not_found).layer(DefaultBodyLimit::max(JSON_BODY_LIMIT));
    pages::routes(Router::new())
        .route("/healthz", get(healthz))
        .merge(lead_api::public_routes())
        .nest("/api/v1", api)
        .nest("/scim/v2", scim_api::routes())
        .with_state(state)
        .layer(axum::middleware::map_response(security_headers))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, Duration::from_secs(120)))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}

/// One operation of the JSON API: its path under `/api/v1`, its method, and its handler.
pub(crate) struct Operation {
    pub path: &'static str,
    #[cfg_attr(not(test), allow(dead_code))]
    pub method: &'static str,
    router: MethodRouter<AppState>,
}

fn op<H, T>(path: &'static str, method: &'static str, handler: H) -> Operation
where
    H: axum::handler::Handler<T, AppState>,
    T: 'static,
{
    let filter = match method {
        "POST" => MethodFilter::POST,
        "PUT" => MethodFilter::PUT,
        "PATCH" => MethodFilter::PATCH,
        "DELETE" => MethodFilter::DELETE,
        _ => MethodFilter::GET,
    };
    Operation { path, method, router: on(filter, handler) }
}

/// Every operation of the JSON API, in one table: the router is built from it, and a test checks
/// the OpenAPI document against it, route by route, both ways.
pub(crate) fn api_operations() -> Vec<Operation> {
    let mut import = op("/imports/contacts", "POST", api::import_contacts);
    import.router = import.router.layer(DefaultBodyLimit::max(IMPORT_BODY_LIMIT));
    let mut import_leads = op("/imports/leads", "POST", lead_api::import);
    import_leads.router = import_leads.router.layer(DefaultBodyLimit::max(IMPORT_BODY_LIMIT));
    let mut mail_journal = op("/mail-journal", "POST", leak_api::mail_journal);
    mail_journal.router = mail_journal.router.layer(DefaultBodyLimit::max(IMPORT_BODY_LIMIT));
    let mut trace = op("/trace", "POST", leak_api::trace);
    trace.router = trace.router.layer(DefaultBodyLimit::max(IMPORT_BODY_LIMIT));
    vec![
        op("/openapi.json", "GET", openapi_document),
        op("/sessions", "POST", api::login),
        op("/sessions/current", "DELETE", api::logout),
        op("/me", "GET", api::me),
        op("/me/password", "POST", api::change_password),
        op("/me/confidentiality", "GET", guard_api::confidentiality),
        op("/me/confidentiality", "POST", guard_api::acknowledge),
        op("/exports", "POST", guard_api::request_export),
        op("/exports", "GET", guard_api::exports),
        op("/exports/{id}", "GET", guard_api::export),
        op("/exports/{id}/file", "GET", guard_api::export_file),
        op("/exports/{id}/approve", "POST", guard_api::approve_export),
        op("/exports/{id}/deny", "POST", guard_api::deny_export),
        op("/alerts", "GET", guard_api::alerts),
        op("/alerts/{id}/state", "POST", guard_api::alert_state),
        op("/alert-deliveries", "GET", guard_api::deliveries),
        op("/policies", "GET", guard_api::policies),
        op("/policies/{scope}/{name}", "PUT", guard_api::set_policy),
        op("/policies/{scope}/{name}", "DELETE", guard_api::remove_policy),
        op("/search", "GET", api::search),
        op("/settings", "GET", api::settings),
        op("/settings", "PUT", api::update_settings),
        op("/settings", "PATCH", api::update_settings),
        op("/settings/single-sign-on", "PUT", api::set_single_sign_on),
        op("/settings/single-sign-on", "DELETE", api::remove_single_sign_on),
        op("/events", "GET", api::all_events),
        op("/coworkers", "GET", api::coworkers),
        op("/coworkers", "POST", api::add_coworker),
        op("/coworkers/{id}", "GET", api::coworker),
        op("/coworkers/{id}", "PATCH", api::update_coworker),
        op("/coworkers/{id}/events", "GET", api::coworker_events),
        op("/coworkers/{id}/handover", "POST", departure_api::handover),
        op("/coworkers/{id}/departure", "POST", departure_api::start),
        op("/departures", "GET", departure_api::list),
        op("/departures/{id}", "GET", departure_api::one),
        op("/departures/{id}/review", "POST", departure_api::review),
        op("/departures/{id}/plan", "POST", departure_api::plan),
        op("/departures/{id}/introductions", "POST", departure_api::introductions),
        op("/departures/{id}/end-access", "POST", departure_api::end_access),
        op("/departures/{id}/cancel", "POST", departure_api::cancel),
        op("/bulk-operations", "GET", departure_api::bulk_operations),
        op("/coverage/exposure", "GET", coverage_api::exposure),
        op("/accounts/{id}/coverage", "GET", coverage_api::account_coverage),
        op("/coverage/accounts", "GET", coverage_api::coverage_accounts),
        op("/renewals", "GET", coverage_api::renewals),
        op("/contact-approvals", "GET", coverage_api::contact_approvals),
        op("/contact-approvals", "POST", coverage_api::request_contact_approval),
        op("/contact-approvals/{id}/approve", "POST", coverage_api::approve_contact_approval),
        op("/contact-approvals/{id}/deny", "POST", coverage_api::deny_contact_approval),
        op("/coworkers/{id}/two-factor/reset", "POST", api::reset_two_factor),
        op("/coworkers/{id}/tokens", "GET", api::tokens),
        op("/coworkers/{id}/tokens", "POST", api::create_token),
        op("/coworkers/{id}/tokens/{token}", "DELETE", api::revoke_token),
        import,
        import_leads,
        mail_journal,
        trace,
        op("/canaries/hits", "POST", leak_api::canary_hit),
        op("/exports/{id}/canaries", "GET", leak_api::export_canaries),
        op("/bulk-operations/{id}/undo", "POST", api::undo_bulk),
        op("/lead-forms", "GET", lead_api::forms),
        op("/lead-forms", "POST", lead_api::create_form),
        op("/lead-forms/{id}/archive", "POST", lead_api::archive_form),
        op("/leads/metrics", "GET", lead_api::metrics),
        op("/leads/duplicates", "GET", lead_api::duplicates),
        op("/leads/reengagement", "GET", lead_api::reengagement),
        op("/leads/{id}/merge", "POST", lead_api::merge),
        op("/leads/{id}/not-a-duplicate", "POST", lead_api::not_a_duplicate),
        op("/settings/leads", "GET", lead_api::rules),
        op("/settings/leads", "PUT", lead_api::set_rules),
        op("/notifications", "GET", lead_api::notifications),
        op("/notifications/read", "POST", lead_api::read_notifications),
        op("/leads/{id}/convert", "POST", api::convert_lead),
        op("/{kind}/bulk/assign", "POST", api::bulk_assign),
        op("/{kind}/export", "GET", api::export),
        op("/{kind}", "GET", api::list),
        op("/{kind}", "POST", api::create),
        op("/{kind}/{id}", "GET", api::get),
        op("/{kind}/{id}", "PATCH", api::update),
        op("/{kind}/{id}", "DELETE", api::delete),
        op("/{kind}/{id}/restore", "POST", api::restore),
        op("/{kind}/{id}/history", "GET", api::history),
    ]
}

/// The operations grouped by path, each path's methods merged into one router.
fn by_path(ops: Vec<Operation>) -> Vec<(&'static str, MethodRouter<AppState>)> {
    let mut paths: Vec<(&'static str, MethodRouter<AppState>)> = Vec::new();
    for o in ops {
        match paths.iter().position(|(p, _)| *p == o.path) {
            Some(i) => {
                let (p, existing) = paths.remove(i);
                paths.insert(i, (p, existing.merge(o.router)));
            }
            None => paths.push((o.path, o.router)),
        }
    }
    paths
}

/// Headers on every response: no framing (clickjacking a bulk hand-over), no content sniffing, no
/// script or style but our own files, forms post only here, and no referrer leaves the site.
async fn security_headers(mut resp: axum::response::Response) -> axum::response::Response {
    use axum::http::HeaderValue;
    let h = resp.headers_mut();
    // The public lead form sets its own (it may be framed by the company's site and send the
    // visitor on to the site's thank-you page); everything else is never framed.
    if !h.contains_key("content-security-policy") {
        h.insert(
            "content-security-policy",
            HeaderValue::from_static(
                "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; object-src 'none'; \
                 base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
            ),
        );
        h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    }
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
