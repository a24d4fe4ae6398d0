-- Leads that are answered in minutes: what a lead's company is like (for its score and its
-- route), its campaign, the score Holdfast works out with its reasons, what it matches (another
-- lead, a customer contact, an account), how often it came in, and its speed-to-lead clock
-- (routed, due, first touched, escalated); a call or email logged against a lead is its touch.
ALTER TABLE leads ADD COLUMN disqualified_reason TEXT;
ALTER TABLE leads ADD COLUMN industry TEXT;
ALTER TABLE leads ADD COLUMN company_size BIGINT;
ALTER TABLE leads ADD COLUMN country TEXT;
ALTER TABLE leads ADD COLUMN utm_source TEXT;
ALTER TABLE leads ADD COLUMN utm_medium TEXT;
ALTER TABLE leads ADD COLUMN utm_campaign TEXT;
ALTER TABLE leads ADD COLUMN score BIGINT;
ALTER TABLE leads ADD COLUMN score_reasons TEXT;
ALTER TABLE leads ADD COLUMN duplicate_of TEXT;
ALTER TABLE leads ADD COLUMN contact_id TEXT;
ALTER TABLE leads ADD COLUMN account_id TEXT;
ALTER TABLE leads ADD COLUMN submissions BIGINT;
ALTER TABLE leads ADD COLUMN last_submission_at BIGINT;
ALTER TABLE leads ADD COLUMN routed_at BIGINT;
ALTER TABLE leads ADD COLUMN sla_due_at BIGINT;
ALTER TABLE leads ADD COLUMN first_touch_at BIGINT;
ALTER TABLE leads ADD COLUMN escalated_at BIGINT;
ALTER TABLE leads ADD COLUMN reroute_at BIGINT;
ALTER TABLE leads ADD COLUMN previous_owner_id TEXT;
CREATE INDEX leads_awaiting_touch ON leads (sla_due_at) WHERE first_touch_at IS NULL AND deleted_at IS NULL;
CREATE INDEX leads_awaiting_reroute ON leads (reroute_at) WHERE first_touch_at IS NULL AND deleted_at IS NULL;
CREATE INDEX leads_by_routed ON leads (routed_at);
CREATE INDEX leads_by_duplicate ON leads (duplicate_of) WHERE duplicate_of IS NOT NULL;
CREATE INDEX leads_by_phone ON leads (phone) WHERE phone IS NOT NULL;
CREATE INDEX leads_open_by_owner ON leads (owner_id, status) WHERE deleted_at IS NULL;
ALTER TABLE activities ADD COLUMN lead_id TEXT;
CREATE INDEX activities_by_lead ON activities (lead_id) WHERE lead_id IS NOT NULL;

-- Web-to-lead forms: the admin picks the fields; the form's id is in its public post URL.
CREATE TABLE lead_forms (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    fields TEXT NOT NULL,
    redirect_url TEXT,
    created_by TEXT,
    created_at BIGINT NOT NULL,
    archived_at BIGINT,
    submissions BIGINT NOT NULL DEFAULT 0,
    last_submission_at BIGINT
);

-- Weighted round-robin: how many leads each co-worker in a pool has been given.
CREATE TABLE lead_rotation (
    pool TEXT NOT NULL,
    coworker_id TEXT NOT NULL,
    assigned BIGINT NOT NULL,
    PRIMARY KEY (pool, coworker_id)
);

-- What a co-worker is told in the app (a lead routed to them, a lead past its clock), and the
-- email that goes with it when an SMTP server is set.
CREATE TABLE notifications (
    id TEXT PRIMARY KEY,
    coworker_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    object_type TEXT,
    object_id TEXT,
    summary TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    read_at BIGINT,
    email_state TEXT CHECK (email_state IN ('pending', 'sent', 'failed')),
    email_attempts BIGINT NOT NULL DEFAULT 0,
    email_next_at BIGINT,
    email_error TEXT
);
CREATE INDEX notifications_by_coworker ON notifications (coworker_id, created_at);
CREATE INDEX notifications_email_due ON notifications (email_next_at) WHERE email_state = 'pending';
