-- The clinic's schedule (PostgreSQL twin of tenant/sqlite/0005_schedule.sql): practitioners,
-- appointments and the clinic calendar, each with its history. Columns are named as the
-- kinds' fields (outpost-domain's descriptions). Working hours are JSON kept as text, as on
-- the embedded backend, so that both hand back the same bytes.

CREATE TABLE practitioners (
    id            uuid PRIMARY KEY,
    name          text NOT NULL,
    specialty     text,
    active        boolean NOT NULL,
    working_hours text NOT NULL,
    time_zone     text NOT NULL,
    user_id       uuid,
    version       bigint NOT NULL,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    updated_by    uuid,
    deleted_at    timestamptz,
    name_key      text COLLATE "C" NOT NULL
);
CREATE INDEX practitioners_name ON practitioners (name_key, id);

CREATE TABLE appointments (
    id              uuid PRIMARY KEY,
    patient_id      uuid NOT NULL,
    practitioner_id uuid NOT NULL,
    "start"         timestamptz NOT NULL,
    "end"           timestamptz NOT NULL,
    reason          text,
    notes           text,
    status          text NOT NULL,
    cancel_reason   text,
    version         bigint NOT NULL,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    updated_by      uuid,
    deleted_at      timestamptz
);
CREATE INDEX appointments_start ON appointments ("start", id);
CREATE INDEX appointments_practitioner ON appointments (practitioner_id, "start");
CREATE INDEX appointments_patient ON appointments (patient_id, "start");

CREATE TABLE calendar_entries (
    id              uuid PRIMARY KEY,
    kind            text NOT NULL,
    title           text NOT NULL,
    practitioner_id uuid,
    date            date,
    end_date        date,
    "start"         timestamptz,
    "end"           timestamptz,
    version         bigint NOT NULL,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    updated_by      uuid,
    deleted_at      timestamptz
);

CREATE TABLE practitioner_history (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    practitioner_id uuid NOT NULL REFERENCES practitioners (id),
    version         bigint NOT NULL,
    action          text NOT NULL CHECK (action IN ('create', 'update', 'delete')),
    changes         text NOT NULL,
    actor_user_id   uuid,
    session_id      uuid,
    device_id       uuid,
    at              timestamptz NOT NULL,
    client_time     timestamptz,
    UNIQUE (practitioner_id, version)
);

CREATE TABLE appointment_history (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    appointment_id uuid NOT NULL REFERENCES appointments (id),
    version        bigint NOT NULL,
    action         text NOT NULL CHECK (action IN ('create', 'update', 'delete')),
    changes        text NOT NULL,
    actor_user_id  uuid,
    session_id     uuid,
    device_id      uuid,
    at             timestamptz NOT NULL,
    client_time    timestamptz,
    UNIQUE (appointment_id, version)
);

CREATE TABLE calendar_entry_history (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    calendar_entry_id uuid NOT NULL REFERENCES calendar_entries (id),
    version           bigint NOT NULL,
    action            text NOT NULL CHECK (action IN ('create', 'update', 'delete')),
    changes           text NOT NULL,
    actor_user_id     uuid,
    session_id        uuid,
    device_id         uuid,
    at                timestamptz NOT NULL,
    client_time       timestamptz,
    UNIQUE (calendar_entry_id, version)
);
