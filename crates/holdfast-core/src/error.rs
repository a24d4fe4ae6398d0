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
    /// Reaching a contact breaks their protocol (see [`crate::protocol`]): the answer says whom
    /// to ask.
    #[error("{}", .0.describe())]
    Protocol(Box<ProtocolRefusal>),
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

/// Why an activity or task with a guarded contact was refused, and how to go ahead.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ProtocolRefusal {
    pub contact_id: String,
    /// The contact's name (and title).
    pub contact: String,
    /// `owner_only` or `escalation_only`.
    pub protocol: &'static str,
    /// The account's name, when the contact has one.
    pub account: Option<String>,
    /// Names of who may approve (the account owner, managers above them).
    pub approvers: Vec<String>,
}

impl ProtocolRefusal {
    pub fn describe(&self) -> String {
        let at = self.account.as_ref().map(|a| format!(" at {a}")).unwrap_or_default();
        let rule = if self.protocol == "owner_only" {
            "owner only: only the account owner and the managers above them reach out"
        } else {
            "escalation only: reaching out takes an approval first"
        };
        let ask = match self.approvers.as_slice() {
            [] => "an admin".to_string(),
            [one] => one.clone(),
            many => format!("{} or {}", many[..many.len() - 1].join(", "), many[many.len() - 1]),
        };
        format!(
            "{}{at} is {rule}. Ask {ask} for approval; if the conversation already happened, log it as \
             after the fact and the account owner will be told",
            self.contact
        )
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
