-- The guard: exports asked for (and their approvals), alerts, and alert deliveries.
CREATE TABLE exports (
    id TEXT PRIMARY KEY,
    coworker_id TEXT NOT NULL REFERENCES coworkers(id),
    kind TEXT NOT NULL,
    query TEXT NOT NULL,
    row_limit BIGINT NOT NULL,
    matched BIGINT NOT NULL,
    columns TEXT NOT NULL,
    format TEXT NOT NULL CHECK (format IN ('csv', 'xlsx', 'vcard')),
    reason TEXT,
    over_limit TEXT,
    status TEXT NOT NULL CHECK (status IN ('pending', 'ready', 'denied', 'downloaded')),
    created_at BIGINT NOT NULL,
    decided_by TEXT,
    decided_at BIGINT,
    decision_reason TEXT,
    expires_at BIGINT,
    downloaded_at BIGINT,
    file_rows BIGINT,
    sha256 TEXT
);
CREATE INDEX exports_by_coworker ON exports (coworker_id, created_at);
CREATE INDEX exports_by_status ON exports (status, created_at);

CREATE TABLE alerts (
    id TEXT PRIMARY KEY,
    coworker_id TEXT NOT NULL REFERENCES coworkers(id),
    kind TEXT NOT NULL,
    severity TEXT NOT NULL CHECK (severity IN ('low', 'medium', 'high')),
    state TEXT NOT NULL CHECK (state IN ('open', 'acknowledged', 'resolved', 'dismissed')),
    summary TEXT NOT NULL,
    details TEXT NOT NULL,
    event_ids TEXT NOT NULL,
    owner_id TEXT,
    state_reason TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    dedupe_key TEXT NOT NULL UNIQUE
);
CREATE INDEX alerts_by_coworker ON alerts (coworker_id, created_at);
CREATE INDEX alerts_by_state ON alerts (state, created_at);

CREATE TABLE alert_deliveries (
    id TEXT PRIMARY KEY,
    alert_id TEXT NOT NULL REFERENCES alerts(id),
    channel TEXT NOT NULL CHECK (channel IN ('webhook', 'email')),
    target TEXT NOT NULL,
    payload TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    next_at BIGINT NOT NULL,
    delivered_at BIGINT,
    failed_at BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX alert_deliveries_due ON alert_deliveries (next_at) WHERE delivered_at IS NULL AND failed_at IS NULL;
