-- Central database: tenant registry, identities, sessions, signing keys, central audit chain.
-- Timestamps are RFC 3339 UTC text with microseconds (sortable); ids are UUID text.

CREATE TABLE tenants (
    id          TEXT PRIMARY KEY,
    slug        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('clinic', 'hospital', 'ems_agency', 'transport_center')),
    status      TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
    -- Where the tenant's database lives, relative to the data directory.
    location    TEXT NOT NULL,
    -- The tenant file's random key, sealed under the hub's master key.
    wrapped_key BLOB NOT NULL,
    created_at  TEXT NOT NULL
);

CREATE TABLE roles (
    name        TEXT PRIMARY KEY,
    description TEXT NOT NULL
);

CREATE TABLE permissions (
    name        TEXT PRIMARY KEY,
    description TEXT NOT NULL
);

CREATE TABLE role_permissions (
    role       TEXT NOT NULL REFERENCES roles (name),
    permission TEXT NOT NULL REFERENCES permissions (name),
    PRIMARY KEY (role, permission)
);

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    full_name     TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    disabled      INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT NOT NULL
);

-- tenant_id NULL is the platform scope (platform admins).
CREATE TABLE memberships (
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    tenant_id  TEXT REFERENCES tenants (id) ON DELETE CASCADE,
    role       TEXT NOT NULL REFERENCES roles (name),
    created_at TEXT NOT NULL
);
CREATE UNIQUE INDEX memberships_scope ON memberships (user_id, ifnull(tenant_id, ''));
CREATE INDEX memberships_tenant ON memberships (tenant_id);

CREATE TABLE devices (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name          TEXT,
    first_seen_at TEXT NOT NULL,
    last_seen_at  TEXT NOT NULL,
    revoked_at    TEXT
);

CREATE TABLE sessions (
    id                  TEXT PRIMARY KEY,
    user_id             TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    tenant_id           TEXT,
    role                TEXT NOT NULL,
    device_id           TEXT,
    device_name         TEXT,
    ip                  TEXT,
    user_agent          TEXT,
    created_at          TEXT NOT NULL,
    last_activity_at    TEXT NOT NULL,
    absolute_expires_at TEXT NOT NULL,
    ended_at            TEXT,
    end_reason          TEXT
);
CREATE INDEX sessions_user ON sessions (user_id);

-- Only SHA-256 hashes of refresh tokens are stored. A spent token that comes back is reuse.
CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    spent_at   TEXT
);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);

-- Keyed by normalised e-mail whether or not such a user exists, so a lockout says nothing
-- about which addresses are registered.
CREATE TABLE login_failures (
    email           TEXT PRIMARY KEY,
    failures        INTEGER NOT NULL,
    locked_until    TEXT,
    last_failure_at TEXT NOT NULL
);

CREATE TABLE signing_keys (
    kid           TEXT PRIMARY KEY,
    private_pkcs8 BLOB NOT NULL,
    public_key    BLOB NOT NULL,
    created_at    TEXT NOT NULL
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
