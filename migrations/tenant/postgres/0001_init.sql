-- One tenant's database (PostgreSQL twin of tenant/sqlite/0001_init.sql): patients with their
-- history, the change feed (sync cursor) and the tenant's audit chain.

CREATE TABLE patients (
    id                uuid PRIMARY KEY,
    mrn               text NOT NULL,
    given_name        text NOT NULL,
    family_name       text NOT NULL,
    birth_date        date NOT NULL,
    sex               text NOT NULL,
    phone             text,
    email             text,
    address           text,
    hypertension      boolean,
    heart_disease     boolean,
    ever_married      boolean,
    work_type         text,
    residence_type    text,
    avg_glucose_level double precision,
    bmi               double precision,
    smoking_status    text,
    stroke            boolean,
    version           bigint NOT NULL,
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    updated_by        uuid,
    -- A deleted patient is a tombstone: history and audit stay.
    deleted_at        timestamptz,
    -- Lowercased search keys (Unicode-aware, computed by the hub), compared bytewise.
    family_key        text COLLATE "C" NOT NULL,
    given_key         text COLLATE "C" NOT NULL,
    mrn_key           text COLLATE "C" NOT NULL
);
CREATE UNIQUE INDEX patients_mrn ON patients (mrn_key) WHERE deleted_at IS NULL;
CREATE INDEX patients_family ON patients (family_key, given_key, id);
CREATE INDEX patients_given ON patients (given_key);

CREATE TABLE patient_history (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    patient_id    uuid NOT NULL REFERENCES patients (id),
    version       bigint NOT NULL,
    action        text NOT NULL CHECK (action IN ('create', 'update', 'delete')),
    changes       text NOT NULL,
    actor_user_id uuid,
    session_id    uuid,
    device_id     uuid,
    at            timestamptz NOT NULL,
    UNIQUE (patient_id, version)
);

CREATE TABLE change_feed (
    seq       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    entity    text NOT NULL,
    entity_id text NOT NULL,
    version   bigint NOT NULL,
    action    text NOT NULL,
    at        timestamptz NOT NULL
);

-- See central/postgres/0001_init.sql: `details` is the exact JSON text the chain hashed.
CREATE TABLE audit_events (
    seq           bigint PRIMARY KEY,
    at            timestamptz NOT NULL,
    tenant_id     uuid,
    actor_user_id uuid,
    actor_role    text,
    session_id    uuid,
    device_id     uuid,
    ip            text,
    action        text NOT NULL,
    entity        text,
    entity_id     text,
    outcome       text NOT NULL,
    details       text NOT NULL,
    prev_hash     text NOT NULL,
    hash          text NOT NULL
);
CREATE INDEX audit_events_actor ON audit_events (actor_user_id);
CREATE INDEX audit_events_entity ON audit_events (entity, entity_id);

CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only' USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();
