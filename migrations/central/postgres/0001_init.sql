-- Central database (PostgreSQL twin of central/sqlite/0001_init.sql): tenant registry,
-- identities, sessions, signing keys, central audit chain. Times are timestamptz (microsecond
-- precision, as the embedded backend keeps); ids are UUIDs.

CREATE TABLE tenants (
    id          uuid PRIMARY KEY,
    slug        text NOT NULL UNIQUE,
    name        text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('clinic', 'hospital', 'ems_agency', 'transport_center')),
    status      text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
    -- Where the tenant's database lives: the server's name in the hub's configuration and the
    -- database's name on it.
    location    text NOT NULL,
    -- The tenant's random data key, sealed under the hub's master key: on PostgreSQL it
    -- encrypts the tenant's backup files (the server's own storage encryption and TLS protect
    -- the live database).
    wrapped_key bytea NOT NULL,
    created_at  timestamptz NOT NULL
);

CREATE TABLE roles (
    name        text PRIMARY KEY,
    description text NOT NULL
);

CREATE TABLE permissions (
    name        text PRIMARY KEY,
    description text NOT NULL
);

CREATE TABLE role_permissions (
    role       text NOT NULL REFERENCES roles (name),
    permission text NOT NULL REFERENCES permissions (name),
    PRIMARY KEY (role, permission)
);

CREATE TABLE users (
    id            uuid PRIMARY KEY,
    email         text NOT NULL UNIQUE,
    full_name     text NOT NULL,
    password_hash text NOT NULL,
    disabled      boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL
);

-- tenant_id NULL is the platform scope (platform admins).
CREATE TABLE memberships (
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    tenant_id  uuid REFERENCES tenants (id) ON DELETE CASCADE,
    role       text NOT NULL REFERENCES roles (name),
    created_at timestamptz NOT NULL
);
CREATE UNIQUE INDEX memberships_scope ON memberships (user_id, coalesce(tenant_id, '00000000-0000-0000-0000-000000000000'));
CREATE INDEX memberships_tenant ON memberships (tenant_id);

CREATE TABLE devices (
    id            uuid PRIMARY KEY,
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name          text,
    first_seen_at timestamptz NOT NULL,
    last_seen_at  timestamptz NOT NULL,
    revoked_at    timestamptz
);

CREATE TABLE sessions (
    id                  uuid PRIMARY KEY,
    user_id             uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    tenant_id           uuid,
    role                text NOT NULL,
    device_id           uuid,
    device_name         text,
    ip                  text,
    user_agent          text,
    created_at          timestamptz NOT NULL,
    last_activity_at    timestamptz NOT NULL,
    absolute_expires_at timestamptz NOT NULL,
    ended_at            timestamptz,
    end_reason          text
);
CREATE INDEX sessions_user ON sessions (user_id);

-- Only SHA-256 hashes of refresh tokens are stored. A spent token that comes back is reuse.
CREATE TABLE refresh_tokens (
    token_hash text PRIMARY KEY,
    session_id uuid NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL,
    spent_at   timestamptz
);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);

-- Keyed by normalised e-mail whether or not such a user exists, so a lockout says nothing
-- about which addresses are registered.
CREATE TABLE login_failures (
    email           text PRIMARY KEY,
    failures        integer NOT NULL,
    locked_until    timestamptz,
    last_failure_at timestamptz NOT NULL
);

-- The private halves are sealed under the hub's master key before they are stored here.
CREATE TABLE signing_keys (
    kid           text PRIMARY KEY,
    private_pkcs8 bytea NOT NULL,
    public_key    bytea NOT NULL,
    created_at    timestamptz NOT NULL
);

-- The hash chain is computed over the event as the hub built it; `details` is kept as the
-- exact JSON text it was hashed with (jsonb would reorder keys and renormalise numbers).
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

-- Append-only for everyone, the owner included; the hub's own role also lacks the UPDATE,
-- DELETE and TRUNCATE privileges (granted in code after migrating, see `grants.rs`).
CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only' USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();
