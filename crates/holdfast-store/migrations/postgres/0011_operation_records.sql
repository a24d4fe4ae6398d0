-- What each bulk operation (a bulk change of owner, a handover, an undo) did to each record: the
-- record and its owner before and after, in the order written. The operation's system event
-- holds the SHA-256 of its rows (`records_digest`), so the hash chain vouches for them; a record's
-- history finds its operations through the index by record.
CREATE TABLE operation_records (
    operation_id TEXT NOT NULL,
    step TEXT NOT NULL,
    position BIGINT NOT NULL,
    kind TEXT NOT NULL,
    record_id TEXT NOT NULL,
    owner_before TEXT,
    owner_after TEXT,
    PRIMARY KEY (operation_id, step, position)
);
CREATE INDEX operation_records_by_record ON operation_records (record_id);
-- Append-only, as the system events are: only retention (holdfast.retention = 'allowed' in its
-- transaction) deletes the rows of operations whose events it removes.
CREATE FUNCTION holdfast_refuse_operation_change() RETURNS trigger AS $body$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('holdfast.retention', true) = 'allowed' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'operation records are append-only';
END;
$body$ LANGUAGE plpgsql;
CREATE TRIGGER operation_records_no_change BEFORE UPDATE OR DELETE ON operation_records
    FOR EACH ROW EXECUTE FUNCTION holdfast_refuse_operation_change();
CREATE TRIGGER operation_records_no_truncate BEFORE TRUNCATE ON operation_records
    FOR EACH STATEMENT EXECUTE FUNCTION holdfast_refuse_operation_change();
