@COMMON_0002@
CREATE TRIGGER event_checkpoints_no_change BEFORE UPDATE OR DELETE ON event_checkpoints
    FOR EACH ROW EXECUTE FUNCTION holdfast_refuse_event_change();
