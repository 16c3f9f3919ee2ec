-- One tenant's database: patients with their history, the change feed (sync cursor) and the
-- tenant's audit chain. Timestamps are RFC 3339 UTC text with microseconds; ids UUID text.

CREATE TABLE patients (
    id                TEXT PRIMARY KEY,
    mrn               TEXT NOT NULL,
    given_name        TEXT NOT NULL,
    family_name       TEXT NOT NULL,
    birth_date        TEXT NOT NULL,
    sex               TEXT NOT NULL,
    phone             TEXT,
    email             TEXT,
    address           TEXT,
    hypertension      INTEGER,
    heart_disease     INTEGER,
    ever_married      INTEGER,
    work_type         TEXT,
    residence_type    TEXT,
    avg_glucose_level REAL,
    bmi               REAL,
    smoking_status    TEXT,
    stroke            INTEGER,
    version           INTEGER NOT NULL,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    updated_by        TEXT,
    -- A deleted patient is a tombstone: history and audit stay.
    deleted_at        TEXT,
    -- Lowercased search keys (Unicode-aware, computed by the hub).
    family_key        TEXT NOT NULL,
    given_key         TEXT NOT NULL,
    mrn_key           TEXT NOT NULL
);
CREATE UNIQUE INDEX patients_mrn ON patients (mrn_key) WHERE deleted_at IS NULL;
CREATE INDEX patients_family ON patients (family_key, given_key, id);
CREATE INDEX patients_given ON patients (given_key);

CREATE TABLE patient_history (
    id            INTEGER PRIMARY KEY,
    patient_id    TEXT NOT NULL REFERENCES patients (id),
    version       INTEGER NOT NULL,
    action        TEXT NOT NULL CHECK (action IN ('create', 'update', 'delete')),
    changes       TEXT NOT NULL,
    actor_user_id TEXT,
    session_id    TEXT,
    device_id     TEXT,
    at            TEXT NOT NULL,
    UNIQUE (patient_id, version)
);

CREATE TABLE change_feed (
    seq       INTEGER PRIMARY KEY,
    entity    TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    version   INTEGER NOT NULL,
    action    TEXT NOT NULL,
    at        TEXT NOT NULL
);

CREATE TABLE audit_events (
    seq           INTEGER PRIMARY KEY,
    at            TEXT NOT NULL,
    tenant_id     TEXT,
    actor_user_id TEXT,
    actor_role    TEXT,
    session_id    TEXT,
    device_id     TEXT,
    ip            TEXT,
    action        TEXT NOT NULL,
    entity        TEXT,
    entity_id     TEXT,
    outcome       TEXT NOT NULL,
    details       TEXT NOT NULL,
    prev_hash     TEXT NOT NULL,
    hash          TEXT NOT NULL
);
CREATE INDEX audit_events_actor ON audit_events (actor_user_id);
CREATE INDEX audit_events_entity ON audit_events (entity, entity_id);

CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;
