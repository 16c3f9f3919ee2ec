-- A unit's shifts (DESIGN.md's `unit_availability`): when the unit is staffed. Columns are the
-- shift kind's fields (outpost-domain's `transport::shift`). A unit's planned shifts never
-- overlap: the hub checks it in the writing transaction, which the index below serves.

CREATE TABLE unit_availability (
    id         uuid PRIMARY KEY,
    unit_id    uuid NOT NULL,
    "start"    timestamptz NOT NULL,
    "end"      timestamptz NOT NULL,
    status     text NOT NULL,
    notes      text,
    version    bigint NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    updated_by uuid,
    deleted_at timestamptz
);
CREATE INDEX unit_availability_start ON unit_availability ("start", id);
CREATE INDEX unit_availability_unit ON unit_availability (unit_id, "start");

CREATE TABLE unit_shift_history (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    unit_shift_id uuid NOT NULL REFERENCES unit_availability (id),
    version       bigint NOT NULL,
    action        text NOT NULL CHECK (action IN ('create', 'update', 'delete')),
    changes       text NOT NULL,
    actor_user_id uuid,
    session_id    uuid,
    device_id     uuid,
    at            timestamptz NOT NULL,
    client_time   timestamptz,
    UNIQUE (unit_shift_id, version)
);
