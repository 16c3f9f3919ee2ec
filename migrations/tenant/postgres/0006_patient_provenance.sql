-- Whether a patient's names are a pseudonym and their birth date an estimate (PostgreSQL twin
-- of tenant/sqlite/0006_patient_provenance.sql).
ALTER TABLE patients ADD COLUMN name_is_pseudonym boolean;
ALTER TABLE patients ADD COLUMN birth_date_estimated boolean;
