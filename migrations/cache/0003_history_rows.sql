-- Versions in a rowid table with a unique index on (patient_id, version), in place of a
-- WITHOUT ROWID table keyed by it.
--
-- Keyed by (patient_id, version), the table kept each version's JSON in its key's b-tree: a
-- page held about ten versions, so a mirror split a page every ten rows, and every split
-- allocates and frees page-sized buffers that SQLCipher's memory security wipes. A rowid
-- table appends its rows (SQLite's quick balance, no buffers), and the index holds only the
-- small keys.

CREATE TABLE patient_history_rows (
    patient_id TEXT NOT NULL,
    version    INTEGER NOT NULL,
    entry      TEXT NOT NULL,
    UNIQUE (patient_id, version)
);
INSERT INTO patient_history_rows (patient_id, version, entry)
    SELECT patient_id, version, entry FROM patient_history ORDER BY patient_id, version;
DROP TABLE patient_history;
ALTER TABLE patient_history_rows RENAME TO patient_history;
