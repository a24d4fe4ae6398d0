@RELATIONSHIPS@
-- Works out the given co-workers' last touch of one account again from what is there now.
CREATE FUNCTION account_relationships_recompute(acc TEXT, coworkers TEXT[]) RETURNS void AS $$
BEGIN
    IF acc IS NULL THEN
        RETURN;
    END IF;
    DELETE FROM account_relationships WHERE account_id = acc AND coworker_id = ANY (coworkers);
    INSERT INTO account_relationships (account_id, coworker_id, last_touch_at)
        SELECT account_id, coworker_id, max(occurred_at) FROM relationship_touch_times
         WHERE account_id = acc AND coworker_id = ANY (coworkers)
         GROUP BY account_id, coworker_id
        ON CONFLICT (account_id, coworker_id) DO UPDATE SET last_touch_at = excluded.last_touch_at;
END;
$$ LANGUAGE plpgsql;

CREATE FUNCTION account_relationships_after_activity() RETURNS trigger AS $$
DECLARE
    part_takers TEXT[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.deleted_at IS NULL AND NEW.account_id IS NOT NULL AND NEW.owner_id IS NOT NULL THEN
            INSERT INTO account_relationships (account_id, coworker_id, last_touch_at)
                VALUES (NEW.account_id, NEW.owner_id, NEW.occurred_at)
                ON CONFLICT (account_id, coworker_id)
                DO UPDATE SET last_touch_at = greatest(account_relationships.last_touch_at, excluded.last_touch_at);
        END IF;
        RETURN NULL;
    END IF;
    IF TG_OP = 'UPDATE' AND NEW.account_id IS NOT DISTINCT FROM OLD.account_id
       AND NEW.owner_id IS NOT DISTINCT FROM OLD.owner_id AND NEW.occurred_at = OLD.occurred_at
       AND NEW.deleted_at IS NOT DISTINCT FROM OLD.deleted_at THEN
        RETURN NULL;
    END IF;
    part_takers := ARRAY(SELECT target_id FROM record_links
                          WHERE kind = 'activity' AND field = 'coworker_ids' AND record_id = OLD.id);
    IF TG_OP = 'DELETE' THEN
        PERFORM account_relationships_recompute(OLD.account_id, part_takers || OLD.owner_id);
    ELSE
        PERFORM account_relationships_recompute(OLD.account_id, part_takers || OLD.owner_id || NEW.owner_id);
        IF NEW.account_id IS DISTINCT FROM OLD.account_id THEN
            PERFORM account_relationships_recompute(NEW.account_id, part_takers || OLD.owner_id || NEW.owner_id);
        END IF;
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER account_relationships_activity AFTER INSERT OR UPDATE OR DELETE ON activities
    FOR EACH ROW EXECUTE FUNCTION account_relationships_after_activity();

CREATE FUNCTION account_relationships_after_link() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO account_relationships (account_id, coworker_id, last_touch_at)
            SELECT account_id, NEW.target_id, occurred_at FROM activities
             WHERE id = NEW.record_id AND deleted_at IS NULL AND account_id IS NOT NULL
            ON CONFLICT (account_id, coworker_id)
            DO UPDATE SET last_touch_at = greatest(account_relationships.last_touch_at, excluded.last_touch_at);
    ELSE
        PERFORM account_relationships_recompute(
            (SELECT account_id FROM activities WHERE id = OLD.record_id), ARRAY[OLD.target_id]);
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER account_relationships_link_insert AFTER INSERT ON record_links
    FOR EACH ROW WHEN (NEW.kind = 'activity' AND NEW.field = 'coworker_ids')
    EXECUTE FUNCTION account_relationships_after_link();
CREATE TRIGGER account_relationships_link_delete AFTER DELETE ON record_links
    FOR EACH ROW WHEN (OLD.kind = 'activity' AND OLD.field = 'coworker_ids')
    EXECUTE FUNCTION account_relationships_after_link();
