-- What each bulk operation (a bulk change of owner, a handover, an undo) did to each record: the
-- record and its owner before and after, in the order written. The operation's system event
-- holds the SHA-256 of its rows (`records_digest`), so the hash chain vouches for them; a record's
-- history finds its operations through the index by record. (On SQLite the rows are stored in the
-- primary key's order, without a separate rowid tree.)
CREATE TABLE operation_records (
    operation_id TEXT NOT NULL,
    step TEXT NOT NULL,
    position BIGINT NOT NULL,
    kind TEXT NOT NULL,
    record_id TEXT NOT NULL,
    owner_before TEXT,
    owner_after TEXT,
    PRIMARY KEY (operation_id, step, position)
) WITHOUT ROWID;
CREATE INDEX operation_records_by_record ON operation_records (record_id);
-- Append-only, as the system events are: retention drops and re-creates the delete trigger inside
-- its own transaction, to remove the rows of operations whose events it removes.
CREATE TRIGGER operation_records_no_update BEFORE UPDATE ON operation_records BEGIN
    SELECT RAISE(ABORT, 'operation records are append-only');
END;
CREATE TRIGGER operation_records_no_delete BEFORE DELETE ON operation_records BEGIN
    SELECT RAISE(ABORT, 'operation records are append-only');
END;
