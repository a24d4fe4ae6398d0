-- SQLite: retention drops and re-creates the delete trigger inside its own transaction
-- (holdfast audit retain); nothing changes in the schema. Kept so both backends share versions.
SELECT 1;
