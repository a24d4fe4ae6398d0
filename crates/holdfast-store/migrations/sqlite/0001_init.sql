-- SQLite: full-text search with FTS5 (external content keyed on the stable integer rid),
-- and triggers that make the system event log append-only.
@COMMON@

CREATE VIRTUAL TABLE accounts_fts USING fts5(search_text, content='accounts', content_rowid='rid', prefix='2 4', tokenize='unicode61 remove_diacritics 2');
CREATE VIRTUAL TABLE contacts_fts USING fts5(search_text, content='contacts', content_rowid='rid', prefix='2 4', tokenize='unicode61 remove_diacritics 2');
CREATE VIRTUAL TABLE leads_fts USING fts5(search_text, content='leads', content_rowid='rid', prefix='2 4', tokenize='unicode61 remove_diacritics 2');

CREATE TRIGGER accounts_fts_insert AFTER INSERT ON accounts BEGIN
    INSERT INTO accounts_fts (rowid, search_text) VALUES (new.rid, new.search_text);
END;
CREATE TRIGGER accounts_fts_update AFTER UPDATE OF search_text ON accounts BEGIN
    INSERT INTO accounts_fts (accounts_fts, rowid, search_text) VALUES ('delete', old.rid, old.search_text);
    INSERT INTO accounts_fts (rowid, search_text) VALUES (new.rid, new.search_text);
END;
CREATE TRIGGER contacts_fts_insert AFTER INSERT ON contacts BEGIN
    INSERT INTO contacts_fts (rowid, search_text) VALUES (new.rid, new.search_text);
END;
CREATE TRIGGER contacts_fts_update AFTER UPDATE OF search_text ON contacts BEGIN
    INSERT INTO contacts_fts (contacts_fts, rowid, search_text) VALUES ('delete', old.rid, old.search_text);
    INSERT INTO contacts_fts (rowid, search_text) VALUES (new.rid, new.search_text);
END;
CREATE TRIGGER leads_fts_insert AFTER INSERT ON leads BEGIN
    INSERT INTO leads_fts (rowid, search_text) VALUES (new.rid, new.search_text);
END;
CREATE TRIGGER leads_fts_update AFTER UPDATE OF search_text ON leads BEGIN
    INSERT INTO leads_fts (leads_fts, rowid, search_text) VALUES ('delete', old.rid, old.search_text);
    INSERT INTO leads_fts (rowid, search_text) VALUES (new.rid, new.search_text);
END;

CREATE TRIGGER system_events_no_update BEFORE UPDATE ON system_events BEGIN
    SELECT RAISE(ABORT, 'system events are append-only');
END;
CREATE TRIGGER system_events_no_delete BEFORE DELETE ON system_events BEGIN
    SELECT RAISE(ABORT, 'system events are append-only');
END;
