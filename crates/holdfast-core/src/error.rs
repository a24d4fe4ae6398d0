//! The domain's one error type. The web layer maps it to problem+json once; the CLI prints it.

use thiserror::Error;

/// A field and what is wrong with its value.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldError {
    pub field: String,
    pub reason: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        FieldError { field: field.into(), reason: reason.into() }
    }
}

/// What went wrong in a service call, in words a user can act on.
#[derive(Debug, Error)]
pub enum CoreError {
    #[error("invalid input: {}", describe(.0))]
    Invalid(Vec<FieldError>),
    #[error("{what} {id} was not found")]
    NotFound { what: &'static str, id: String },
    #[error("not signed in: {0}")]
    Unauthenticated(String),
    #[error("not allowed: {0}")]
    Forbidden(String),
    #[error("{0}")]
    Conflict(String),
    #[error("too many attempts: {0}")]
    TooManyAttempts(String),
    #[error("the file could not be read: {0}")]
    BadFile(String),
    #[error("storage failed: {0}")]
    Storage(#[from] StorageError),
}

fn describe(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(|e| if e.field.is_empty() { e.reason.clone() } else { format!("{} {}", e.field, e.reason) })
        .collect::<Vec<_>>()
        .join("; ")
}

impl CoreError {
    pub fn invalid(field: &str, reason: impl Into<String>) -> Self {
        CoreError::Invalid(vec![FieldError::new(field, reason)])
    }
    pub fn not_found(what: &'static str, id: impl ToString) -> Self {
        CoreError::NotFound { what, id: id.to_string() }
    }
    pub fn forbidden(why: impl Into<String>) -> Self {
        CoreError::Forbidden(why.into())
    }
}

/// A failure reported by the storage backend.
#[derive(Debug, Error)]
pub enum StorageError {
    /// A unique constraint refused the write (the constraint or column named).
    #[error("a record with the same {0} already exists")]
    Duplicate(String),
    /// The database is locked by another process beyond the busy timeout.
    #[error("the database is busy: {0}")]
    Busy(String),
    #[error("{0}")]
    Other(String),
}
