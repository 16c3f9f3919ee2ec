-- Whether a patient's names are a pseudonym and their birth date an estimate: the records of a
-- de-identified data set (`outpost-hub import --format stroke-dataset`) say so, so that nobody
-- takes them for real identity data.
ALTER TABLE patients ADD COLUMN name_is_pseudonym INTEGER;
ALTER TABLE patients ADD COLUMN birth_date_estimated INTEGER;
