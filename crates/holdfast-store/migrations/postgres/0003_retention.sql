-- Retention may delete old events, and only inside a transaction that set
-- holdfast.retention = 'allowed' (holdfast audit retain, which first signs a checkpoint at the cut).
CREATE OR REPLACE FUNCTION holdfast_refuse_event_change() RETURNS trigger AS $body$
BEGIN
    IF TG_OP = 'DELETE' AND TG_TABLE_NAME = 'system_events'
       AND current_setting('holdfast.retention', true) = 'allowed' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'system events are append-only';
END;
$body$ LANGUAGE plpgsql;
