-- A unit's shifts (DESIGN.md's `unit_availability`): when the unit is staffed. Columns are the
-- shift kind's fields (outpost-domain's `transport::shift`); times are RFC 3339 UTC text with
-- microseconds, so that they compare as text. A unit's planned shifts never overlap: the hub
-- checks it in the writing transaction, which the index below serves.

CREATE TABLE unit_availability (
    id         TEXT PRIMARY KEY,
    unit_id    TEXT NOT NULL,
    "start"    TEXT NOT NULL,
    "end"      TEXT NOT NULL,
    status     TEXT NOT NULL,
    notes      TEXT,
    version    INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    updated_by TEXT,
    deleted_at TEXT
);
CREATE INDEX unit_availability_start ON unit_availability ("start", id);
CREATE INDEX unit_availability_unit ON unit_availability (unit_id, "start");

CREATE TABLE unit_shift_history (
    id            INTEGER PRIMARY KEY,
    unit_shift_id TEXT NOT NULL REFERENCES unit_availability (id),
    version       INTEGER NOT NULL,
    action        TEXT NOT NULL CHECK (action IN ('create', 'update', 'delete')),
    changes       TEXT NOT NULL,
    actor_user_id TEXT,
    session_id    TEXT,
    device_id     TEXT,
    at            TEXT NOT NULL,
    client_time   TEXT,
    UNIQUE (unit_shift_id, version)
);
