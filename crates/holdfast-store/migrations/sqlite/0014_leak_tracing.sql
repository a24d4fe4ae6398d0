@LEAK_TRACING@
-- The installation's fingerprint key: random, made once, never shown.
INSERT INTO settings (key, value) VALUES ('fingerprint_key', lower(hex(randomblob(32))))
ON CONFLICT (key) DO NOTHING;
-- A canary contacted or an export mailed out is a critical alert. SQLite cannot change a CHECK
-- constraint in place: the alerts table is rebuilt with the same rows.
CREATE TABLE alerts_new (
    id TEXT PRIMARY KEY,
    coworker_id TEXT NOT NULL REFERENCES coworkers(id),
    kind TEXT NOT NULL,
    severity TEXT NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
    state TEXT NOT NULL CHECK (state IN ('open', 'acknowledged', 'resolved', 'dismissed')),
    summary TEXT NOT NULL,
    details TEXT NOT NULL,
    event_ids TEXT NOT NULL,
    owner_id TEXT,
    state_reason TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    dedupe_key TEXT NOT NULL UNIQUE,
    recipient_ids TEXT NOT NULL DEFAULT '[]'
);
INSERT INTO alerts_new SELECT id, coworker_id, kind, severity, state, summary, details, event_ids, owner_id,
    state_reason, created_at, updated_at, dedupe_key, recipient_ids FROM alerts;
DROP TABLE alerts;
ALTER TABLE alerts_new RENAME TO alerts;
CREATE INDEX alerts_by_coworker ON alerts (coworker_id, created_at);
CREATE INDEX alerts_by_state ON alerts (state, created_at);
