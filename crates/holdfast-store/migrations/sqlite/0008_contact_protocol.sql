@CONTACT_PROTOCOL@
CREATE VIRTUAL TABLE deals_fts USING fts5(search_text, content='deals', content_rowid='rid', prefix='2 4', tokenize='unicode61 remove_diacritics 2');
INSERT INTO deals_fts (deals_fts) VALUES ('rebuild');
CREATE TRIGGER deals_fts_insert AFTER INSERT ON deals BEGIN
    INSERT INTO deals_fts (rowid, search_text) VALUES (new.rid, new.search_text);
END;
CREATE TRIGGER deals_fts_update AFTER UPDATE OF search_text ON deals BEGIN
    INSERT INTO deals_fts (deals_fts, rowid, search_text) VALUES ('delete', old.rid, old.search_text);
    INSERT INTO deals_fts (rowid, search_text) VALUES (new.rid, new.search_text);
END;
