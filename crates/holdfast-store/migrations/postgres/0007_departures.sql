-- A director role (every team's records, reports and system events; no settings).
ALTER TABLE coworkers DROP CONSTRAINT coworkers_role_check;
ALTER TABLE coworkers ADD CONSTRAINT coworkers_role_check CHECK (role IN ('admin', 'director', 'manager', 'rep'));
@DEPARTURES@
ALTER TABLE tasks ADD COLUMN notes TEXT;
