//! What every handler shares: the services, and the way to call them off the async runtime.

use std::sync::Arc;

use holdfast_core::{CoreError, Holdfast};
use holdfast_store::Store;

use crate::problem::ApiError;

/// The services the handlers call.
pub type AppState = Arc<Holdfast<Store>>;

/// Runs a service call on the blocking pool (services are synchronous and touch the database).
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, CoreError> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result.map_err(ApiError::from),
        Err(_) => Err(ApiError::Internal),
    }
}
