@RELATIONSHIPS@
CREATE TRIGGER account_relationships_activity_insert AFTER INSERT ON activities
WHEN NEW.deleted_at IS NULL AND NEW.account_id IS NOT NULL AND NEW.owner_id IS NOT NULL
BEGIN
    INSERT INTO account_relationships (account_id, coworker_id, last_touch_at)
        VALUES (NEW.account_id, NEW.owner_id, NEW.occurred_at)
        ON CONFLICT (account_id, coworker_id) DO UPDATE SET last_touch_at = max(last_touch_at, excluded.last_touch_at);
END;

-- A change of account, owner, time or deletion: the pairs it touched before and after are worked
-- out again from what is there now.
CREATE TRIGGER account_relationships_activity_update AFTER UPDATE ON activities
WHEN OLD.account_id IS NOT NEW.account_id OR OLD.owner_id IS NOT NEW.owner_id
  OR OLD.occurred_at IS NOT NEW.occurred_at OR OLD.deleted_at IS NOT NEW.deleted_at
BEGIN
    DELETE FROM account_relationships
     WHERE account_id IN (OLD.account_id, NEW.account_id)
       AND coworker_id IN (SELECT OLD.owner_id UNION SELECT NEW.owner_id UNION
             SELECT target_id FROM record_links WHERE kind = 'activity' AND field = 'coworker_ids' AND record_id = NEW.id);
    INSERT INTO account_relationships (account_id, coworker_id, last_touch_at)
        SELECT account_id, coworker_id, max(occurred_at) FROM relationship_touch_times
         WHERE account_id IN (OLD.account_id, NEW.account_id)
           AND coworker_id IN (SELECT OLD.owner_id UNION SELECT NEW.owner_id UNION
                 SELECT target_id FROM record_links WHERE kind = 'activity' AND field = 'coworker_ids' AND record_id = NEW.id)
         GROUP BY account_id, coworker_id;
END;

CREATE TRIGGER account_relationships_activity_delete AFTER DELETE ON activities
BEGIN
    DELETE FROM account_relationships
     WHERE account_id = OLD.account_id
       AND coworker_id IN (SELECT OLD.owner_id UNION
             SELECT target_id FROM record_links WHERE kind = 'activity' AND field = 'coworker_ids' AND record_id = OLD.id);
    INSERT INTO account_relationships (account_id, coworker_id, last_touch_at)
        SELECT account_id, coworker_id, max(occurred_at) FROM relationship_touch_times
         WHERE account_id = OLD.account_id
           AND coworker_id IN (SELECT OLD.owner_id UNION
                 SELECT target_id FROM record_links WHERE kind = 'activity' AND field = 'coworker_ids' AND record_id = OLD.id)
         GROUP BY account_id, coworker_id;
END;

CREATE TRIGGER account_relationships_link_insert AFTER INSERT ON record_links
WHEN NEW.kind = 'activity' AND NEW.field = 'coworker_ids'
BEGIN
    INSERT INTO account_relationships (account_id, coworker_id, last_touch_at)
        SELECT account_id, NEW.target_id, occurred_at FROM activities
         WHERE id = NEW.record_id AND deleted_at IS NULL AND account_id IS NOT NULL
        ON CONFLICT (account_id, coworker_id) DO UPDATE SET last_touch_at = max(last_touch_at, excluded.last_touch_at);
END;

CREATE TRIGGER account_relationships_link_delete AFTER DELETE ON record_links
WHEN OLD.kind = 'activity' AND OLD.field = 'coworker_ids'
BEGIN
    DELETE FROM account_relationships
     WHERE coworker_id = OLD.target_id AND account_id = (SELECT account_id FROM activities WHERE id = OLD.record_id);
    INSERT INTO account_relationships (account_id, coworker_id, last_touch_at)
        SELECT account_id, coworker_id, max(occurred_at) FROM relationship_touch_times
         WHERE coworker_id = OLD.target_id AND account_id = (SELECT account_id FROM activities WHERE id = OLD.record_id)
         GROUP BY account_id, coworker_id;
END;
