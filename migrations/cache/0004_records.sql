-- Records of every kind but patients (which keep their own table, ranked by name and indexed
-- by words): the record as JSON with the same bookkeeping as a patient's row, and the two keys
-- a kind is read by, made from its description: its group (an appointment's practitioner) and
-- its order (an appointment's start, a practitioner's name).

CREATE TABLE records (
    entity      TEXT NOT NULL,
    id          TEXT NOT NULL,
    -- The record as JSON (the hub's shape, with local edits applied).
    data        TEXT NOT NULL,
    -- The local version: the hub's plus one per local change not yet confirmed.
    version     INTEGER NOT NULL,
    -- The last version the hub confirmed (NULL: created here, never confirmed).
    hub_version INTEGER,
    deleted     INTEGER NOT NULL DEFAULT 0,
    conflict    INTEGER NOT NULL DEFAULT 0,
    -- The hub's last confirmed record while local changes are pending (NULL: `data` is it).
    hub_data    TEXT,
    group_key   TEXT,
    sort_key    TEXT NOT NULL,
    PRIMARY KEY (entity, id)
) WITHOUT ROWID;
CREATE INDEX records_order ON records (entity, sort_key);
CREATE INDEX records_group ON records (entity, group_key, sort_key);

CREATE TABLE record_history (
    entity    TEXT NOT NULL,
    record_id TEXT NOT NULL,
    version   INTEGER NOT NULL,
    entry     TEXT NOT NULL,
    UNIQUE (entity, record_id, version)
);

-- Which kind a conflict's record is (every conflict so far was a patient's).
ALTER TABLE conflicts ADD COLUMN entity TEXT NOT NULL DEFAULT 'patient';
-- The hub's code for a refusal (`slot_taken`, `validation_failed`, …), which decides how the
-- user may settle it.
ALTER TABLE conflicts ADD COLUMN code TEXT;

-- A patient's appointments (their detail lists past and coming ones).
CREATE INDEX records_appointment_patient ON records (json_extract(data, '$.patient_id'), sort_key)
    WHERE entity = 'appointment';
