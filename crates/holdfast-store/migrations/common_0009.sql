-- Who has a relationship with each account, kept as activities are written: per account and
-- co-worker (the one who logged a live activity, or took part in it), when they last touched it.
-- Walk-out exposure reads this instead of going over millions of activities. Triggers on
-- activities and on the co-workers linked to them keep it exact on every write path (records,
-- hand-overs, undo, restores, imports, bulk loads).
CREATE TABLE account_relationships (
    account_id TEXT NOT NULL,
    coworker_id TEXT NOT NULL,
    last_touch_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, coworker_id)
);

-- Every touch: a live activity's owner, and each co-worker who took part.
CREATE VIEW relationship_touch_times AS
    SELECT account_id, owner_id AS coworker_id, occurred_at FROM activities
     WHERE deleted_at IS NULL AND account_id IS NOT NULL AND owner_id IS NOT NULL
    UNION ALL
    SELECT a.account_id, l.target_id AS coworker_id, a.occurred_at FROM activities a
      JOIN record_links l ON l.kind = 'activity' AND l.field = 'coworker_ids' AND l.record_id = a.id
     WHERE a.deleted_at IS NULL AND a.account_id IS NOT NULL;

INSERT INTO account_relationships (account_id, coworker_id, last_touch_at)
    SELECT account_id, coworker_id, max(occurred_at) FROM relationship_touch_times GROUP BY account_id, coworker_id;

-- A co-worker's turn to read many rows (a list, a search, an export), held by one request at a
-- time across every server sharing the database, so that requests sent together, to one server or
-- to several, cannot all pass a reading budget before any of them is counted. A lease: a server
-- that dies holding it loses it when it expires.
CREATE TABLE read_turns (
    coworker_id TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
