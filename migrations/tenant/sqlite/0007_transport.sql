-- Transport between tenants (DESIGN.md, "Transport between tenants"): a hospital's facilities
-- and transport requests, an EMS agency's units and trips, each with its history. Every
-- tenant database has the four tables (a tenant's kind decides which its roles use). Columns
-- are named as the kinds' fields (outpost-domain's descriptions); times are RFC 3339 UTC text
-- with microseconds, so that they compare as text; lists are JSON text.

CREATE TABLE facilities (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    kind       TEXT NOT NULL,
    address    TEXT,
    city       TEXT NOT NULL,
    phone      TEXT,
    version    INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    updated_by TEXT,
    deleted_at TEXT,
    name_key   TEXT NOT NULL
);
CREATE INDEX facilities_name ON facilities (name_key, id);

CREATE TABLE transport_requests (
    id                      TEXT PRIMARY KEY,
    patient_id              TEXT NOT NULL,
    origin_facility_id      TEXT NOT NULL,
    destination_facility_id TEXT NOT NULL,
    level                   TEXT NOT NULL,
    priority                TEXT NOT NULL,
    pickup_from             TEXT NOT NULL,
    pickup_to               TEXT NOT NULL,
    equipment               TEXT,
    isolation               TEXT,
    mobility                TEXT,
    weight_class            TEXT,
    reason                  TEXT,
    notes                   TEXT,
    status                  TEXT,
    cancel_reason           TEXT,
    board_entry_id          TEXT,
    assigned_agency         TEXT,
    assigned_unit           TEXT,
    version                 INTEGER NOT NULL,
    created_at              TEXT NOT NULL,
    updated_at              TEXT NOT NULL,
    updated_by              TEXT,
    deleted_at              TEXT
);
CREATE INDEX transport_requests_pickup ON transport_requests (pickup_from, id);
CREATE INDEX transport_requests_patient ON transport_requests (patient_id);
CREATE INDEX transport_requests_status ON transport_requests (status, pickup_from);

CREATE TABLE units (
    id            TEXT PRIMARY KEY,
    call_sign     TEXT NOT NULL,
    level         TEXT NOT NULL,
    capabilities  TEXT,
    status        TEXT,
    crew_user_ids TEXT,
    notes         TEXT,
    version       INTEGER NOT NULL,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    updated_by    TEXT,
    deleted_at    TEXT,
    call_sign_key TEXT NOT NULL
);
CREATE INDEX units_call_sign ON units (call_sign_key, id);
CREATE UNIQUE INDEX units_call_sign_live ON units (call_sign_key) WHERE deleted_at IS NULL;

CREATE TABLE trips (
    id                  TEXT PRIMARY KEY,
    board_entry_id      TEXT NOT NULL,
    hospital            TEXT NOT NULL,
    origin              TEXT NOT NULL,
    origin_city         TEXT NOT NULL,
    origin_address      TEXT,
    destination         TEXT NOT NULL,
    destination_city    TEXT NOT NULL,
    destination_address TEXT,
    level               TEXT NOT NULL,
    priority            TEXT NOT NULL,
    pickup_from         TEXT NOT NULL,
    pickup_to           TEXT NOT NULL,
    equipment           TEXT,
    isolation           TEXT,
    mobility            TEXT,
    weight_class        TEXT,
    reason              TEXT,
    patient_name        TEXT NOT NULL,
    patient_birth_date  TEXT NOT NULL,
    unit_id             TEXT NOT NULL,
    crew_user_ids       TEXT,
    status              TEXT,
    cancel_reason       TEXT,
    version             INTEGER NOT NULL,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL,
    updated_by          TEXT,
    deleted_at          TEXT
);
CREATE INDEX trips_pickup ON trips (pickup_from, id);
CREATE INDEX trips_unit ON trips (unit_id, status);
CREATE UNIQUE INDEX trips_board_entry ON trips (board_entry_id) WHERE deleted_at IS NULL;

CREATE TABLE facility_history (
    id            INTEGER PRIMARY KEY,
    facility_id   TEXT NOT NULL REFERENCES facilities (id),
    version       INTEGER NOT NULL,
    action        TEXT NOT NULL CHECK (action IN ('create', 'update', 'delete')),
    changes       TEXT NOT NULL,
    actor_user_id TEXT,
    session_id    TEXT,
    device_id     TEXT,
    at            TEXT NOT NULL,
    client_time   TEXT,
    UNIQUE (facility_id, version)
);

CREATE TABLE transport_request_history (
    id                   INTEGER PRIMARY KEY,
    transport_request_id TEXT NOT NULL REFERENCES transport_requests (id),
    version              INTEGER NOT NULL,
    action               TEXT NOT NULL CHECK (action IN ('create', 'update', 'delete')),
    changes              TEXT NOT NULL,
    actor_user_id        TEXT,
    session_id           TEXT,
    device_id            TEXT,
    at                   TEXT NOT NULL,
    client_time          TEXT,
    UNIQUE (transport_request_id, version)
);

CREATE TABLE unit_history (
    id            INTEGER PRIMARY KEY,
    unit_id       TEXT NOT NULL REFERENCES units (id),
    version       INTEGER NOT NULL,
    action        TEXT NOT NULL CHECK (action IN ('create', 'update', 'delete')),
    changes       TEXT NOT NULL,
    actor_user_id TEXT,
    session_id    TEXT,
    device_id     TEXT,
    at            TEXT NOT NULL,
    client_time   TEXT,
    UNIQUE (unit_id, version)
);

CREATE TABLE trip_history (
    id            INTEGER PRIMARY KEY,
    trip_id       TEXT NOT NULL REFERENCES trips (id),
    version       INTEGER NOT NULL,
    action        TEXT NOT NULL CHECK (action IN ('create', 'update', 'delete')),
    changes       TEXT NOT NULL,
    actor_user_id TEXT,
    session_id    TEXT,
    device_id     TEXT,
    at            TEXT NOT NULL,
    client_time   TEXT,
    UNIQUE (trip_id, version)
);
