CREATE TABLE coworker_identities (
    coworker_id TEXT PRIMARY KEY REFERENCES coworkers(id),
    external_id TEXT UNIQUE,
    given_name TEXT,
    family_name TEXT,
    department TEXT,
    removed_at BIGINT,
    deactivated_at BIGINT,
    sso_subject TEXT,
    provisioned_at BIGINT,
    updated_at BIGINT NOT NULL
);
-- Single sign-on begun in a browser and not finished yet (OpenID Connect): kept in the database
-- so the identity provider may send the browser back to any server, and deleted when used, so a
-- replayed answer finds nothing.
CREATE TABLE sign_in_requests (
    state_hash TEXT PRIMARY KEY,
    nonce TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    next TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
-- Two-factor sign-in: a co-worker's authenticator app (TOTP), and their single-use recovery codes
-- (stored as SHA-256, like tokens).
CREATE TABLE second_factors (
    coworker_id TEXT PRIMARY KEY REFERENCES coworkers(id),
    secret TEXT NOT NULL,
    confirmed_at BIGINT,
    last_step BIGINT,
    created_at BIGINT NOT NULL
);
CREATE TABLE recovery_codes (
    coworker_id TEXT NOT NULL REFERENCES coworkers(id),
    code_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    used_at BIGINT,
    PRIMARY KEY (coworker_id, code_hash)
);
