-- Transport between tenants (PostgreSQL twin of tenant/sqlite/0007_transport.sql): a
-- hospital's facilities and transport requests, an EMS agency's units and trips, each with its
-- history. Lists are JSON kept as text, as on the embedded backend, so that both hand back the
-- same bytes.

CREATE TABLE facilities (
    id         uuid PRIMARY KEY,
    name       text NOT NULL,
    kind       text NOT NULL,
    address    text,
    city       text NOT NULL,
    phone      text,
    version    bigint NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    updated_by uuid,
    deleted_at timestamptz,
    name_key   text COLLATE "C" NOT NULL
);
CREATE INDEX facilities_name ON facilities (name_key, id);

CREATE TABLE transport_requests (
    id                      uuid PRIMARY KEY,
    patient_id              uuid NOT NULL,
    origin_facility_id      uuid NOT NULL,
    destination_facility_id uuid NOT NULL,
    level                   text NOT NULL,
    priority                text NOT NULL,
    pickup_from             timestamptz NOT NULL,
    pickup_to               timestamptz NOT NULL,
    equipment               text,
    isolation               text,
    mobility                text,
    weight_class            text,
    reason                  text,
    notes                   text,
    status                  text,
    cancel_reason           text,
    board_entry_id          uuid,
    assigned_agency         text,
    assigned_unit           text,
    version                 bigint NOT NULL,
    created_at              timestamptz NOT NULL,
    updated_at              timestamptz NOT NULL,
    updated_by              uuid,
    deleted_at              timestamptz
);
CREATE INDEX transport_requests_pickup ON transport_requests (pickup_from, id);
CREATE INDEX transport_requests_patient ON transport_requests (patient_id);
CREATE INDEX transport_requests_status ON transport_requests (status, pickup_from);

CREATE TABLE units (
    id            uuid PRIMARY KEY,
    call_sign     text NOT NULL,
    level         text NOT NULL,
    capabilities  text,
    status        text,
    crew_user_ids text,
    notes         text,
    version       bigint NOT NULL,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    updated_by    uuid,
    deleted_at    timestamptz,
    call_sign_key text COLLATE "C" NOT NULL
);
CREATE INDEX units_call_sign ON units (call_sign_key, id);
CREATE UNIQUE INDEX units_call_sign_live ON units (call_sign_key) WHERE deleted_at IS NULL;

CREATE TABLE trips (
    id                  uuid PRIMARY KEY,
    board_entry_id      uuid NOT NULL,
    hospital            text NOT NULL,
    origin              text NOT NULL,
    origin_city         text NOT NULL,
    origin_address      text,
    destination         text NOT NULL,
    destination_city    text NOT NULL,
    destination_address text,
    level               text NOT NULL,
    priority            text NOT NULL,
    pickup_from         timestamptz NOT NULL,
    pickup_to           timestamptz NOT NULL,
    equipment           text,
    isolation           text,
    mobility            text,
    weight_class        text,
    reason              text,
    patient_name        text NOT NULL,
    patient_birth_date  date NOT NULL,
    unit_id             uuid NOT NULL,
    crew_user_ids       text,
    status              text,
    cancel_reason       text,
    version             bigint NOT NULL,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    updated_by          uuid,
    deleted_at          timestamptz
);
CREATE INDEX trips_pickup ON trips (pickup_from, id);
CREATE INDEX trips_unit ON trips (unit_id, status);
CREATE UNIQUE INDEX trips_board_entry ON trips (board_entry_id) WHERE deleted_at IS NULL;

CREATE TABLE facility_history (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    facility_id   uuid NOT NULL REFERENCES facilities (id),
    version       bigint NOT NULL,
    action        text NOT NULL CHECK (action IN ('create', 'update', 'delete')),
    changes       text NOT NULL,
    actor_user_id uuid,
    session_id    uuid,
    device_id     uuid,
    at            timestamptz NOT NULL,
    client_time   timestamptz,
    UNIQUE (facility_id, version)
);

CREATE TABLE transport_request_history (
    id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    transport_request_id uuid NOT NULL REFERENCES transport_requests (id),
    version              bigint NOT NULL,
    action               text NOT NULL CHECK (action IN ('create', 'update', 'delete')),
    changes              text NOT NULL,
    actor_user_id        uuid,
    session_id           uuid,
    device_id            uuid,
    at                   timestamptz NOT NULL,
    client_time          timestamptz,
    UNIQUE (transport_request_id, version)
);

CREATE TABLE unit_history (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    unit_id       uuid NOT NULL REFERENCES units (id),
    version       bigint NOT NULL,
    action        text NOT NULL CHECK (action IN ('create', 'update', 'delete')),
    changes       text NOT NULL,
    actor_user_id uuid,
    session_id    uuid,
    device_id     uuid,
    at            timestamptz NOT NULL,
    client_time   timestamptz,
    UNIQUE (unit_id, version)
);

CREATE TABLE trip_history (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    trip_id       uuid NOT NULL REFERENCES trips (id),
    version       bigint NOT NULL,
    action        text NOT NULL CHECK (action IN ('create', 'update', 'delete')),
    changes       text NOT NULL,
    actor_user_id uuid,
    session_id    uuid,
    device_id     uuid,
    at            timestamptz NOT NULL,
    client_time   timestamptz,
    UNIQUE (trip_id, version)
);
