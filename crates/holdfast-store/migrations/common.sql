-- Shared by both backends (see sqlite/ and postgres/ for what differs). Times are UTC
-- microseconds since the Unix epoch; ids are UUIDv7 text; money is cents.
CREATE TABLE schema_info (key TEXT PRIMARY KEY, value TEXT NOT NULL);

CREATE TABLE teams (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    manager_id TEXT
);

CREATE TABLE coworkers (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'manager', 'rep')),
    status TEXT NOT NULL CHECK (status IN ('active', 'departing', 'departed', 'suspended')),
    seniority TEXT NOT NULL CHECK (seniority IN ('executive', 'manager', 'individual')),
    team_id TEXT REFERENCES teams(id),
    manager_id TEXT REFERENCES coworkers(id),
    title TEXT,
    password_hash TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE credentials (
    id TEXT PRIMARY KEY,
    coworker_id TEXT NOT NULL REFERENCES coworkers(id),
    kind TEXT NOT NULL CHECK (kind IN ('session', 'api')),
    name TEXT NOT NULL,
    secret_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    last_used_at BIGINT,
    revoked_at BIGINT
);
CREATE INDEX credentials_by_coworker ON credentials (coworker_id);

CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);

-- Customer records. Column lists match holdfast-core's record descriptors (a test checks).
CREATE TABLE accounts (
    @ROWID@
    id TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL,
    created_by TEXT, updated_by TEXT, deleted_at BIGINT,
    name TEXT NOT NULL, domain TEXT, industry TEXT, tier TEXT, lifecycle TEXT,
    annual_value BIGINT, fiscal_year_end_month BIGINT, phone TEXT, city TEXT, country TEXT,
    owner_id TEXT, notes TEXT,
    search_text TEXT NOT NULL DEFAULT ''
);
CREATE INDEX accounts_by_owner ON accounts (owner_id);
CREATE INDEX accounts_by_domain ON accounts (domain);
CREATE INDEX accounts_by_lower_name ON accounts (lower(name));
CREATE INDEX accounts_by_name ON accounts (name, id);

CREATE TABLE contacts (
    @ROWID@
    id TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL,
    created_by TEXT, updated_by TEXT, deleted_at BIGINT,
    account_id TEXT, first_name TEXT NOT NULL, last_name TEXT NOT NULL DEFAULT '', email TEXT, phone TEXT,
    title TEXT, buying_role TEXT, owner_id TEXT, notes TEXT,
    search_text TEXT NOT NULL DEFAULT ''
);
CREATE INDEX contacts_by_account ON contacts (account_id);
CREATE INDEX contacts_by_owner ON contacts (owner_id);
CREATE INDEX contacts_by_email ON contacts (email);
CREATE INDEX contacts_by_last_name ON contacts (last_name, id);

CREATE TABLE leads (
    @ROWID@
    id TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL,
    created_by TEXT, updated_by TEXT, deleted_at BIGINT,
    first_name TEXT NOT NULL, last_name TEXT NOT NULL DEFAULT '', email TEXT, phone TEXT, company TEXT,
    title TEXT, source TEXT, status TEXT NOT NULL, owner_id TEXT,
    search_text TEXT NOT NULL DEFAULT ''
);
CREATE INDEX leads_by_owner ON leads (owner_id);
CREATE INDEX leads_by_email ON leads (email);

CREATE TABLE deals (
    @ROWID@
    id TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL,
    created_by TEXT, updated_by TEXT, deleted_at BIGINT,
    name TEXT NOT NULL, account_id TEXT NOT NULL, stage TEXT NOT NULL, amount BIGINT, close_date TEXT,
    primary_contact_id TEXT, owner_id TEXT,
    search_text TEXT NOT NULL DEFAULT ''
);
CREATE INDEX deals_by_account ON deals (account_id);
CREATE INDEX deals_by_owner ON deals (owner_id, stage);

CREATE TABLE contracts (
    @ROWID@
    id TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL,
    created_by TEXT, updated_by TEXT, deleted_at BIGINT,
    name TEXT NOT NULL, account_id TEXT NOT NULL, value BIGINT, start_date TEXT, end_date TEXT,
    renewal_date TEXT, status TEXT NOT NULL, owner_id TEXT,
    search_text TEXT NOT NULL DEFAULT ''
);
CREATE INDEX contracts_by_account ON contracts (account_id);
CREATE INDEX contracts_by_renewal ON contracts (renewal_date);

CREATE TABLE activities (
    @ROWID@
    id TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL,
    created_by TEXT, updated_by TEXT, deleted_at BIGINT,
    type TEXT NOT NULL, occurred_at BIGINT NOT NULL, summary TEXT NOT NULL, account_id TEXT,
    deal_id TEXT, owner_id TEXT,
    search_text TEXT NOT NULL DEFAULT ''
);
CREATE INDEX activities_by_account ON activities (account_id, occurred_at);
CREATE INDEX activities_by_owner ON activities (owner_id, occurred_at);

CREATE TABLE tasks (
    @ROWID@
    id TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL,
    created_by TEXT, updated_by TEXT, deleted_at BIGINT,
    title TEXT NOT NULL, due_date TEXT, status TEXT NOT NULL, account_id TEXT, contact_id TEXT,
    deal_id TEXT, owner_id TEXT,
    search_text TEXT NOT NULL DEFAULT ''
);
CREATE INDEX tasks_by_owner ON tasks (owner_id, status, due_date);
CREATE INDEX tasks_by_account ON tasks (account_id);

-- Link lists (account collaborators, activity participants): record → target.
CREATE TABLE record_links (
    kind TEXT NOT NULL,
    record_id TEXT NOT NULL,
    field TEXT NOT NULL,
    target_id TEXT NOT NULL,
    position BIGINT NOT NULL,
    PRIMARY KEY (kind, record_id, field, target_id)
);
CREATE INDEX record_links_by_target ON record_links (target_id, kind, field);

-- The system event log: append-only, hash-chained (see holdfast-core::event). The chain head is
-- the row with the highest seq; appenders serialize on the SQLite writer or, on PostgreSQL, on a
-- transaction advisory lock. Indexes are few on purpose: every audited read writes a row.
CREATE TABLE system_events (
    seq BIGINT PRIMARY KEY,
    id TEXT NOT NULL,
    at BIGINT NOT NULL,
    coworker_id TEXT,
    action TEXT NOT NULL,
    object_type TEXT,
    object_id TEXT,
    row_count BIGINT NOT NULL,
    client_addr TEXT,
    user_agent TEXT,
    details TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX system_events_by_coworker ON system_events (coworker_id, seq);
CREATE INDEX system_events_by_object ON system_events (object_type, object_id, seq);

