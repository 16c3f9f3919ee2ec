-- Search in name order without sorting the matches, and without triggers.
--
-- A patient's rowid becomes its rank in name order (spaced, so that new patients fit between
-- their neighbours), and the full-text index is keyed by it: matches come out in name order
-- and a search reads only the page it shows. The cache writes the index itself from
-- `search_text` (the words of the names, MRN and phone, lowercased, without diacritics):
-- with the triggers, every patient write was a multi-row statement, paying a statement
-- journal and an FTS flush each time. The index is contentless (it maps words to rowids
-- only) and holds live patients only.
--
-- The Rust side of this migration fills `search_text`, renumbers the rows and builds the index.

DROP TRIGGER patients_fts_insert;
DROP TRIGGER patients_fts_delete;
DROP TRIGGER patients_fts_update;
DROP TABLE patients_fts;

ALTER TABLE patients ADD COLUMN search_text TEXT NOT NULL DEFAULT '';

CREATE VIRTUAL TABLE patients_fts USING fts5 (
    terms,
    content = '', contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 2',
    prefix = '1 2 3'
);
