-- A new record's full-text entry is written by the store, in a statement of its own right after
-- the record's insert, instead of by an AFTER INSERT trigger. A statement that fires a trigger
-- opens a statement journal, and every statement journal makes FTS5 write its pending terms to
-- disk as a new segment (its xSavepoint method): an import of a million contacts wrote a million
-- one-row segments and spent most of its time merging them. Without the trigger, the terms stay
-- in memory until FTS5's own threshold or the commit. Changes of the search text still go through
-- the update triggers (one record at a time, where it costs nothing).
DROP TRIGGER accounts_fts_insert;
DROP TRIGGER contacts_fts_insert;
DROP TRIGGER leads_fts_insert;
DROP TRIGGER deals_fts_insert;
