//! A transaction on either backend. The storage operations the services use are written once
//! over [`Conn`] for both backends, one file per area of core's `Tx`: `records.rs`, `reports.rs`,
//! `coworkers.rs`, `settings.rs` and `event_log.rs`, with row codecs in `codec.rs`. Backend
//! differences are marked where they are (`Backend::Sqlite` / `Backend::Postgres` matches).

use crate::conn::Conn;

/// A transaction on either backend.
pub struct SqlTx<C: Conn> {
    pub conn: C,
}
