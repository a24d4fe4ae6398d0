-- Leaks you can prove: the made-up people (canaries) placed in each export, unique to it, and
-- each export's fingerprint (keyed marks of its rows' ids, emails, phones and names; no copy of
-- the data), so a file found in the wild can be traced back to the export it came from.
CREATE TABLE canaries (
    email TEXT NOT NULL,
    phone TEXT,
    phone_digits TEXT,
    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL,
    record_id TEXT NOT NULL,
    export_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (email, export_id)
);
CREATE INDEX canaries_by_export ON canaries (export_id);
CREATE INDEX canaries_by_phone ON canaries (phone_digits);
CREATE TABLE export_fingerprints (
    export_id TEXT PRIMARY KEY,
    coworker_id TEXT,
    kind TEXT NOT NULL,
    format TEXT NOT NULL,
    door TEXT NOT NULL,
    columns TEXT NOT NULL,
    rows BIGINT NOT NULL,
    canaries BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    marks TEXT NOT NULL
);
-- The mail journal looks customers up by the phone numbers a mailed table carries.
CREATE INDEX contacts_by_phone ON contacts (phone);
CREATE INDEX accounts_by_phone ON accounts (phone);
