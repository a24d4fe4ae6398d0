CREATE TABLE coworker_identities (
    coworker_id TEXT PRIMARY KEY REFERENCES coworkers(id),
    external_id TEXT UNIQUE,
    given_name TEXT,
    family_name TEXT,
    department TEXT,
    removed_at BIGINT,
    updated_at BIGINT NOT NULL
);
