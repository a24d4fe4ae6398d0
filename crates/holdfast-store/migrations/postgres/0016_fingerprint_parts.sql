-- An export's marks in parts of about ten thousand rows each (`leak::PackedMarks`), written one
-- part at a time: a million-row export's fingerprint never has to be one 33 MB text in memory
-- (nor a copy of it for the database). A fingerprint written before this keeps its marks in
-- `export_fingerprints.marks`; one written since leaves that empty.
CREATE TABLE export_fingerprint_parts (
    export_id TEXT NOT NULL,
    part BIGINT NOT NULL,
    marks TEXT NOT NULL,
    PRIMARY KEY (export_id, part)
);
