-- SQLite only (its full-text index is written by the store on insert, not by a trigger);
-- PostgreSQL's search vector is a generated column and needs nothing. Kept so that both backends
-- count the same migrations.
SELECT 1;
