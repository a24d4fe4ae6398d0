//! Scheduled work done by one server at a time, however many share the database: the daily
//! sweep of the detectors (a long read nobody needs twice) and the weekly digests (mailed once).
//! Ending due departures and alert deliveries need no lease: each server takes the due rows
//! with `FOR UPDATE SKIP LOCKED`, so a row is done by whichever server took it.

use uuid::Uuid;

use super::Holdfast;
use crate::error::CoreError;
use crate::storage::Database;

/// How long a job's lease lasts when the server holding it dies in the middle of a round.
const JOB_LEASE: i64 = 15 * 60 * 1_000_000;

impl<D: Database> Holdfast<D> {
    /// Runs one round of the scheduled `job` unless another server is running one (then `None`):
    /// the lease is taken in the database, and given back after the round.
    pub(crate) fn on_one_server<T>(
        &self,
        job: &str,
        round: impl FnOnce() -> Result<T, CoreError>,
    ) -> Result<Option<T>, CoreError> {
        let holder = Uuid::now_v7();
        let now = self.now();
        if !self.db.write(|tx| Ok(tx.take_job_lease(job, holder, now, now + JOB_LEASE)?))? {
            return Ok(None);
        }
        let result = round();
        if let Err(e) = self.db.write(|tx| Ok(tx.end_job_lease(job, holder)?)) {
            tracing::warn!("giving back the lease of {job} failed (it runs out by itself): {e}");
        }
        result.map(Some)
    }
}
