-- A director role (every team's records, reports and system events; no settings). SQLite cannot
-- change a CHECK constraint in place: the table is rebuilt with the same rows (the migration runs
-- with foreign keys off and checks them before it commits).
CREATE TABLE coworkers_new (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'director', 'manager', 'rep')),
    status TEXT NOT NULL CHECK (status IN ('active', 'departing', 'departed', 'suspended')),
    seniority TEXT NOT NULL CHECK (seniority IN ('executive', 'manager', 'individual')),
    team_id TEXT REFERENCES teams(id),
    manager_id TEXT REFERENCES coworkers(id),
    title TEXT,
    password_hash TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    password_must_change BIGINT NOT NULL DEFAULT 0
);
INSERT INTO coworkers_new SELECT id, email, name, role, status, seniority, team_id, manager_id, title, password_hash,
    created_at, updated_at, password_must_change FROM coworkers;
DROP TABLE coworkers;
ALTER TABLE coworkers_new RENAME TO coworkers;
@DEPARTURES@
ALTER TABLE tasks ADD COLUMN notes TEXT;
