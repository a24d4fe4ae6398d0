//! Holdfast over HTTP through the real router, on SQLite and on PostgreSQL: the JSON API
//! (`api_*`), the web pages (`pages_*`) and snapshots of representative API answers. One test
//! binary (so one throwaway PostgreSQL cluster), one file per area.

mod api_access;
mod api_bulk;
mod api_coverage;
mod api_departures;
mod api_guard;
mod api_records;
mod api_schema;
mod api_system;
mod leads;
mod leak_tracing;
mod pages_admin;
mod pages_lists;
mod pages_records;
mod pages_sign_in;
mod scim;
mod single_sign_on;
mod snapshots;
mod two_factor;

use std::sync::Arc;

use axum::http::StatusCode;
use holdfast_core::Holdfast;
use holdfast_core::coworker::{Actor, Role};
use holdfast_core::event::{EventFilter, GENESIS_HASH};
use holdfast_store::Store;
use holdfast_testing::web::{TestApp, escaped, hidden, id_of};
use holdfast_testing::{TestDb, add_named, each_backend, off_runtime};
use serde_json::{Value, json};

type App = TestApp;

/// The application with an admin and two reps ("rep Person", "other Person").
fn setup(db: TestDb) -> TestApp {
    let site = TestApp::new(db);
    site.with(|s| {
        for (email, role) in
            [("admin@example.com", Role::Admin), ("rep@example.com", Role::Rep), ("other@example.com", Role::Rep)]
        {
            add_named(s, email, &format!("{} Person", email.split('@').next().unwrap_or("x")), role, None, None);
        }
    });
    site
}
