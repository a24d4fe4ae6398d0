@COMMON_0002@
CREATE TRIGGER event_checkpoints_no_update BEFORE UPDATE ON event_checkpoints BEGIN
    SELECT RAISE(ABORT, 'checkpoints are append-only');
END;
CREATE TRIGGER event_checkpoints_no_delete BEFORE DELETE ON event_checkpoints BEGIN
    SELECT RAISE(ABORT, 'checkpoints are append-only');
END;
