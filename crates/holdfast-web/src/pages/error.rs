//! Error pages: a service's refusal or failure in words a salesperson understands, rendered with
//! the page's header, so handlers return `Result<Response, PageError>` and use `?`.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use holdfast_core::CoreError;

use super::view::{Me, render};
use crate::problem::ApiError;

#[derive(Template)]
#[template(path = "problem.html")]
struct ProblemPage {
    me: Option<Me>,
    title: String,
    detail: String,
}

/// A page that could not be shown as asked, and why.
pub struct PageError {
    status: StatusCode,
    title: String,
    detail: String,
    me: Option<Me>,
}

impl PageError {
    pub(crate) fn new(status: StatusCode, title: &str, detail: &str) -> PageError {
        PageError { status, title: title.into(), detail: detail.into(), me: None }
    }

    /// "This {what} does not exist."
    pub(crate) fn not_found(what: &str) -> PageError {
        PageError::new(StatusCode::NOT_FOUND, "Not found", &format!("This {what} does not exist."))
    }

    /// A path no page answers.
    pub(crate) fn no_such_page() -> PageError {
        PageError::new(StatusCode::NOT_FOUND, "Not found", "There is no such page.")
    }

    /// What was wrong, in words (to show beside a form).
    pub(crate) fn detail(&self) -> &str {
        &self.detail
    }

    /// Shows the error with the signed-in co-worker's header.
    pub(crate) fn for_user(mut self, me: Option<Me>) -> PageError {
        self.me = me;
        self
    }
}

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> PageError {
        let problem = |status, title: &str, detail: &str| PageError::new(status, title, detail);
        match e {
            ApiError::Core(CoreError::NotFound { what, .. }) => {
                problem(StatusCode::NOT_FOUND, "Not found", &format!("This {what} does not exist or was deleted."))
            }
            ApiError::Core(CoreError::Forbidden(why)) => problem(StatusCode::FORBIDDEN, "Not allowed", &why),
            ApiError::Core(CoreError::Conflict(why)) => problem(StatusCode::CONFLICT, "That cannot be done now", &why),
            ApiError::Core(CoreError::Invalid(errors)) => {
                let detail = errors.iter().map(|e| format!("{} {}", e.field, e.reason)).collect::<Vec<_>>().join("; ");
                problem(StatusCode::UNPROCESSABLE_ENTITY, "Please check what you entered", &detail)
            }
            other => {
                tracing::error!(error = %other, "page failed");
                problem(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "Nothing was changed. Try again in a moment.",
                )
            }
        }
    }
}

impl From<CoreError> for PageError {
    fn from(e: CoreError) -> PageError {
        PageError::from(ApiError::from(e))
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        render(&ProblemPage { me: self.me, title: self.title, detail: self.detail }, self.status)
    }
}

/// What a page handler returns.
pub(crate) type PageResult = Result<Response, PageError>;
