-- Contact protocol: the customer's org chart (reports_to_id), each contact's seniority, and who
-- may reach them (open, owner_only, escalation_only); requests to reach a guarded contact and
-- their answers; alerts addressed to people beyond the managers of whom they are about (a
-- protocol breach goes to the account owner and their managers).
ALTER TABLE contacts ADD COLUMN reports_to_id TEXT;
ALTER TABLE contacts ADD COLUMN seniority TEXT;
ALTER TABLE contacts ADD COLUMN protocol TEXT;
UPDATE contacts SET protocol = 'open';
CREATE INDEX contacts_by_reports_to ON contacts (reports_to_id);

CREATE TABLE contact_approvals (
    id TEXT PRIMARY KEY,
    contact_id TEXT NOT NULL,
    account_id TEXT,
    requested_by TEXT NOT NULL REFERENCES coworkers(id),
    reason TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'denied')),
    decided_by TEXT REFERENCES coworkers(id),
    decided_at BIGINT,
    decision_reason TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT
);
CREATE INDEX contact_approvals_by_status ON contact_approvals (status, created_at);
CREATE INDEX contact_approvals_by_requester ON contact_approvals (requested_by, contact_id);

ALTER TABLE alerts ADD COLUMN recipient_ids TEXT NOT NULL DEFAULT '[]';

-- Walk-out exposure at each month's end (value at stake per co-worker), kept once computed, so
-- the trend is read without going over the activities again. A month with nobody exposed keeps
-- one row for the nil co-worker.
CREATE TABLE exposure_snapshots (
    month TEXT NOT NULL,
    coworker_id TEXT NOT NULL,
    accounts BIGINT NOT NULL,
    value_at_stake BIGINT NOT NULL,
    taken_at BIGINT NOT NULL,
    PRIMARY KEY (month, coworker_id)
);

-- Coverage and exposure read who talks to each account in a window: one covering index of the
-- live activities by account and co-worker, and the links by field (the co-workers who took part).
CREATE INDEX activities_touches ON activities (account_id, owner_id, occurred_at) WHERE deleted_at IS NULL;
CREATE INDEX record_links_by_field ON record_links (kind, field, record_id, target_id);

-- Deals are found by name in the search box.
UPDATE deals SET search_text = lower(name);
