//! The web app: server-rendered pages (askama templates, auto-escaped) over the same services as
//! the API, so opening a contact in the browser writes the same `record.read` event as the API.
//!
//! One file per area; the page kit is `session.rs` (who is signed in, CSRF-checked forms),
//! `error.rs` (error pages), `view.rs` (rendering and formatting) and `charts.rs` (SVG). Every
//! page route is in [`routes`].

mod accounts;
mod approvals;
mod assets;
mod bulk;
mod charts;
mod confidentiality;
mod contacts;
mod coworker_admin;
mod coworkers;
mod departures;
mod error;
mod exposure;
mod forms;
mod guard;
mod history;
mod home;
mod leads;
mod leak_tracing;
mod lists;
mod password;
mod renewals;
mod search;
mod session;
mod settings;
mod sign_in;
mod two_factor;
mod view;

use axum::Router;
use axum::routing::{get, post};

use crate::state::AppState;

/// Every page route.
pub fn routes(router: Router<AppState>) -> Router<AppState> {
    let router = lists::routes(forms::routes(router));
    router
        .route("/", get(home::home))
        .route("/login", get(sign_in::login_page).post(sign_in::login_submit))
        .route("/login/code", get(sign_in::code_page).post(sign_in::code_submit))
        .route("/two-factor", get(two_factor::show))
        .route("/two-factor/begin", post(two_factor::begin))
        .route("/two-factor/confirm", post(two_factor::confirm))
        .route("/coworkers/{id}/two-factor/reset", post(two_factor::reset))
        .route("/login/sso", get(sign_in::single_sign_on))
        .route(sign_in::SSO_CALLBACK, get(sign_in::single_sign_on_callback))
        .route("/logout", post(sign_in::logout))
        .route("/setup", post(sign_in::setup_submit))
        .route("/accounts/{id}", get(accounts::account))
        .route("/accounts/{id}/activities", post(accounts::log_activity))
        .route("/accounts/{id}/deals", post(accounts::create_deal))
        .route("/accounts/{id}/check-in", post(accounts::check_in))
        .route("/accounts/{id}/team", post(accounts::add_to_team))
        .route("/accounts/{id}/history", get(history::account_history))
        .route("/deals/{id}/stage", post(accounts::move_deal))
        .route("/leads/{id}", get(leads::lead))
        .route("/leads/{id}/activities", post(leads::log_touch))
        .route("/leads/{id}/status", post(leads::set_status))
        .route("/leads/{id}/merge", post(leads::merge))
        .route("/leads/{id}/not-a-duplicate", post(leads::not_a_duplicate))
        .route("/leads/metrics", get(leads::metrics))
        .route("/leads/queue", get(leads::queue))
        .route("/leads/duplicates", get(leads::duplicates))
        .route("/settings/lead-forms", get(leads::forms).post(leads::create_form))
        .route("/settings/lead-forms/{id}/archive", post(leads::archive_form))
        .route("/settings/lead-rules", post(leads::set_rules))
        .route("/settings/leak-tracing", get(leak_tracing::show).post(leak_tracing::save))
        .route(
            "/settings/leak-tracing/trace",
            post(leak_tracing::trace).layer(axum::extract::DefaultBodyLimit::max(crate::IMPORT_BODY_LIMIT)),
        )
        .route("/notifications", get(leads::notifications))
        .route("/notifications/read", post(leads::read_notifications))
        .route("/contacts/{id}", get(contacts::contact))
        .route("/contacts/{id}/activities", post(contacts::log_contact_activity))
        .route("/contacts/{id}/history", get(history::contact_history))
        .route("/coworkers", get(coworkers::coworkers))
        .route("/coworkers/new", get(coworker_admin::new_form).post(coworker_admin::add))
        .route("/coworkers/{id}/edit", get(coworker_admin::edit_form).post(coworker_admin::update))
        .route("/coworkers/{id}/password", post(coworker_admin::reset_password))
        .route("/coworkers/{id}/handover", post(coworker_admin::handover))
        .route("/coworkers/{id}/events", get(coworkers::coworker_events))
        .route("/coworkers/{id}/status", post(coworkers::set_coworker_status))
        .route("/coworkers/{id}/departure", post(departures::start))
        .route("/departures", get(departures::departures).post(departures::start_picked))
        .route("/departures/{id}", get(departures::departure))
        .route("/departures/{id}/plan", post(departures::plan))
        .route("/departures/{id}/apply", post(departures::apply))
        .route("/departures/{id}/{action}", post(departures::act))
        .route("/bulk-operations", get(departures::bulk_operations))
        .route("/coverage", get(exposure::exposure))
        .route("/search", get(search::search))
        .route("/coverage/accounts", get(renewals::coverage_accounts))
        .route("/coverage/digest", get(renewals::digest))
        .route("/renewals", get(renewals::renewals))
        .route("/approvals", get(approvals::approvals).post(approvals::ask))
        .route("/approvals/{id}/decide", post(approvals::decide))
        .route("/password", get(password::password_form).post(password::change_password))
        .route("/settings", get(settings::settings).post(settings::save_settings))
        .route("/alerts", get(guard::alerts))
        .route("/alerts/{id}/state", post(guard::alert_state))
        .route("/exports", get(guard::exports))
        .route("/exports/{id}/decide", post(guard::decide))
        .route("/exports/{id}/file", get(guard::download))
        .route("/settings/confidentiality", post(settings::save_confidentiality_notice))
        .route("/settings/introduction", post(settings::save_introduction))
        .route("/settings/cadence", post(settings::save_cadence))
        .route("/settings/tokens", post(settings::create_token))
        .route("/settings/scim-tokens", post(settings::create_scim_token))
        .route("/settings/two-factor", post(settings::save_two_factor))
        .route("/settings/single-sign-on", post(settings::save_single_sign_on))
        .route("/settings/single-sign-on/off", post(settings::single_sign_on_off))
        .route("/settings/tokens/{id}/revoke", post(settings::revoke_token))
        .route(
            "/confidentiality",
            get(confidentiality::confidentiality).post(confidentiality::acknowledge_confidentiality),
        )
        .route("/static/app.css", get(assets::static_css))
        .route("/static/app.js", get(assets::static_js))
}
