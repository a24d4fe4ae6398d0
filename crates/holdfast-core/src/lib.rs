//! Holdfast's domain: customer records, co-workers, system events, the rules of who may read
//! and change what, and the services every caller (HTTP API, web pages, CLI) goes through.
//!
//! Nothing here knows HTTP or SQL: storage is reached through the [`storage::Database`] trait,
//! which `holdfast-store` implements for SQLite and PostgreSQL.

pub mod access;
pub mod audit;
pub mod coverage;
pub mod coworker;
pub mod demo;
pub mod departure;
pub mod error;
pub mod event;
pub mod guard;
pub mod id;
pub mod lead;
pub mod leak;
pub mod operation;
pub mod private_files;
pub mod protocol;
pub mod record;
pub mod scim;
pub mod secret;
pub mod service;
pub mod storage;
pub mod time;

pub use error::{CoreError, FieldError, ProtocolRefusal, StorageError};
pub use service::Holdfast;
