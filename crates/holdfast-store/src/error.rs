use thiserror::Error;

/// Failures opening or preparing a database (query failures are `holdfast_core::StorageError`).
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("{0}")]
    Open(String),
    #[error("migrating the database failed at {migration}: {reason}")]
    Migration { migration: String, reason: String },
    #[error(
        "the database schema is version {found}, newer than this Holdfast knows ({known}); run a newer holdfast binary"
    )]
    TooNew { found: i64, known: i64 },
}
