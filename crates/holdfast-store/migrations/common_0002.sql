-- Signed checkpoints of the system event chain (see holdfast-core::audit).
CREATE TABLE event_checkpoints (
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL,
    at BIGINT NOT NULL,
    reason TEXT NOT NULL,
    public_key TEXT NOT NULL,
    signature TEXT NOT NULL,
    PRIMARY KEY (seq, at)
);
-- Where a SIEM shipper got to (at-least-once delivery with a persisted cursor).
CREATE TABLE event_cursors (
    name TEXT PRIMARY KEY,
    seq BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX system_events_by_time ON system_events (at);
