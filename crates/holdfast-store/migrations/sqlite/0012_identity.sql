-- The company's identity provider: what SCIM says about a co-worker beyond what Holdfast keeps
-- on them, SCIM tokens (credential kind 'scim', which open /scim/v2 only), and
-- sign-ins waiting for their second factor (kind 'pending', which open nothing). SQLite cannot
-- change a CHECK constraint in place: the credentials table is rebuilt with the same rows.
CREATE TABLE credentials_new (
    id TEXT PRIMARY KEY,
    coworker_id TEXT NOT NULL REFERENCES coworkers(id),
    kind TEXT NOT NULL CHECK (kind IN ('session', 'api', 'device', 'scim', 'pending')),
    name TEXT NOT NULL,
    secret_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    last_used_at BIGINT,
    revoked_at BIGINT
);
INSERT INTO credentials_new SELECT id, coworker_id, kind, name, secret_hash, created_at, expires_at, last_used_at, revoked_at FROM credentials;
DROP TABLE credentials;
ALTER TABLE credentials_new RENAME TO credentials;
CREATE INDEX credentials_by_coworker ON credentials (coworker_id);
@IDENTITIES@
