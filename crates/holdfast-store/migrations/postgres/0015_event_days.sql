-- The first system event of each day (days counted from the epoch by each event's own time): a
-- count of one co-worker's events since a moment starts at the seq of the first event of that
-- moment's day, on the (co-worker, seq) index, instead of walking their whole history (the first
-- read of each co-worker after a restart did that). Exact whatever the clocks did: the first
-- event appended with a day has the lowest seq of all events with that day (appenders take the
-- chain's lock in turn), so no event at or after a moment has a seq below the lowest first seq
-- of the days from that moment's on. One statement per batch of events, not one per event.
-- Appenders wait while the days are read and the trigger made (a server of the release before
-- may still be writing during an upgrade): no event falls between the two.
SELECT pg_advisory_xact_lock(7265347824);
CREATE TABLE event_days (
    day BIGINT PRIMARY KEY,
    first_seq BIGINT NOT NULL
);
INSERT INTO event_days (day, first_seq) SELECT at / 86400000000, min(seq) FROM system_events GROUP BY at / 86400000000;
CREATE FUNCTION holdfast_mark_event_days() RETURNS trigger AS $body$
BEGIN
    INSERT INTO event_days (day, first_seq)
        SELECT at / 86400000000, min(seq) FROM appended GROUP BY at / 86400000000
        ON CONFLICT (day) DO NOTHING;
    RETURN NULL;
END;
$body$ LANGUAGE plpgsql;
CREATE TRIGGER system_events_mark_days AFTER INSERT ON system_events
    REFERENCING NEW TABLE AS appended FOR EACH STATEMENT EXECUTE FUNCTION holdfast_mark_event_days();
