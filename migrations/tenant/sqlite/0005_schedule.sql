-- The clinic's schedule (DESIGN.md, "The clinic's schedule"): practitioners, appointments and
-- the clinic calendar, each with its history. Columns are named as the kinds' fields
-- (outpost-domain's descriptions); times are RFC 3339 UTC text with microseconds, so that
-- they compare as text.

CREATE TABLE practitioners (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    specialty     TEXT,
    active        INTEGER NOT NULL,
    working_hours TEXT NOT NULL,
    time_zone     TEXT NOT NULL,
    user_id       TEXT,
    version       INTEGER NOT NULL,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    updated_by    TEXT,
    deleted_at    TEXT,
    name_key      TEXT NOT NULL
);
CREATE INDEX practitioners_name ON practitioners (name_key, id);

CREATE TABLE appointments (
    id              TEXT PRIMARY KEY,
    patient_id      TEXT NOT NULL,
    practitioner_id TEXT NOT NULL,
    "start"         TEXT NOT NULL,
    "end"           TEXT NOT NULL,
    reason          TEXT,
    notes           TEXT,
    status          TEXT NOT NULL,
    cancel_reason   TEXT,
    version         INTEGER NOT NULL,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    updated_by      TEXT,
    deleted_at      TEXT
);
CREATE INDEX appointments_start ON appointments ("start", id);
CREATE INDEX appointments_practitioner ON appointments (practitioner_id, "start");
CREATE INDEX appointments_patient ON appointments (patient_id, "start");

CREATE TABLE calendar_entries (
    id              TEXT PRIMARY KEY,
    kind            TEXT NOT NULL,
    title           TEXT NOT NULL,
    practitioner_id TEXT,
    date            TEXT,
    end_date        TEXT,
    "start"         TEXT,
    "end"           TEXT,
    version         INTEGER NOT NULL,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    updated_by      TEXT,
    deleted_at      TEXT
);

CREATE TABLE practitioner_history (
    id              INTEGER PRIMARY KEY,
    practitioner_id TEXT NOT NULL REFERENCES practitioners (id),
    version         INTEGER NOT NULL,
    action          TEXT NOT NULL CHECK (action IN ('create', 'update', 'delete')),
    changes         TEXT NOT NULL,
    actor_user_id   TEXT,
    session_id      TEXT,
    device_id       TEXT,
    at              TEXT NOT NULL,
    client_time     TEXT,
    UNIQUE (practitioner_id, version)
);

CREATE TABLE appointment_history (
    id             INTEGER PRIMARY KEY,
    appointment_id TEXT NOT NULL REFERENCES appointments (id),
    version        INTEGER NOT NULL,
    action         TEXT NOT NULL CHECK (action IN ('create', 'update', 'delete')),
    changes        TEXT NOT NULL,
    actor_user_id  TEXT,
    session_id     TEXT,
    device_id      TEXT,
    at             TEXT NOT NULL,
    client_time    TEXT,
    UNIQUE (appointment_id, version)
);

CREATE TABLE calendar_entry_history (
    id                INTEGER PRIMARY KEY,
    calendar_entry_id TEXT NOT NULL REFERENCES calendar_entries (id),
    version           INTEGER NOT NULL,
    action            TEXT NOT NULL CHECK (action IN ('create', 'update', 'delete')),
    changes           TEXT NOT NULL,
    actor_user_id     TEXT,
    session_id        TEXT,
    device_id         TEXT,
    at                TEXT NOT NULL,
    client_time       TEXT,
    UNIQUE (calendar_entry_id, version)
);
