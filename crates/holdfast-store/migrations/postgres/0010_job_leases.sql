-- Scheduled work that takes no rows of its own (the daily sweep of the detectors, the weekly
-- digests) runs on one server at a time: a server takes the job's lease before a round and gives
-- it back after.
-- A lease left by a server that died runs out by itself.
CREATE TABLE job_leases (
    job TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
