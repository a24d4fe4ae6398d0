-- PostgreSQL: full-text search on the same normalized search_text ('simple' configuration,
-- prefix matching), and triggers that make the system event log append-only.
@COMMON@

CREATE INDEX accounts_search ON accounts USING gin (to_tsvector('simple', search_text));
CREATE INDEX contacts_search ON contacts USING gin (to_tsvector('simple', search_text));
CREATE INDEX leads_search ON leads USING gin (to_tsvector('simple', search_text));

CREATE FUNCTION holdfast_refuse_event_change() RETURNS trigger AS $body$
BEGIN
    RAISE EXCEPTION 'system events are append-only';
END;
$body$ LANGUAGE plpgsql;
CREATE TRIGGER system_events_no_update BEFORE UPDATE OR DELETE ON system_events
    FOR EACH ROW EXECUTE FUNCTION holdfast_refuse_event_change();
CREATE TRIGGER system_events_no_truncate BEFORE TRUNCATE ON system_events
    FOR EACH STATEMENT EXECUTE FUNCTION holdfast_refuse_event_change();
