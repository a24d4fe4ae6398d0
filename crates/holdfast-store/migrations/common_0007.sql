-- A departure case: one per co-worker leaving, with its steps (who did each and when) as JSON.
CREATE TABLE departures (
    id TEXT PRIMARY KEY,
    coworker_id TEXT NOT NULL REFERENCES coworkers(id),
    status TEXT NOT NULL CHECK (status IN ('open', 'closed', 'cancelled')),
    source TEXT NOT NULL CHECK (source IN ('manual', 'identity_provider')),
    reason TEXT NOT NULL CHECK (reason IN ('resignation', 'termination', 'retirement', 'other')),
    notice_date TEXT NOT NULL,
    last_day TEXT NOT NULL,
    access_ends_at BIGINT NOT NULL,
    destination TEXT,
    good_terms BIGINT NOT NULL DEFAULT 1,
    opened_by TEXT,
    opened_at BIGINT NOT NULL,
    steps TEXT NOT NULL,
    closed_at BIGINT
);
CREATE INDEX departures_by_coworker ON departures (coworker_id, opened_at);
CREATE UNIQUE INDEX departures_one_open ON departures (coworker_id) WHERE status = 'open';
CREATE INDEX departures_due ON departures (status, access_ends_at);

-- Every text the confidentiality notice has had: what each acknowledgement (a system event holding
-- the text's SHA-256) was of.
CREATE TABLE notice_versions (
    version BIGINT PRIMARY KEY,
    sha256 TEXT NOT NULL UNIQUE,
    text TEXT NOT NULL,
    published_at BIGINT NOT NULL,
    published_by TEXT
);
