-- The transport board (DESIGN.md, "Transport between tenants"): a published request as EMS
-- agencies see it (the minimum necessary, never a patient identifier), their bids, and the
-- outbox of cross-database steps the hub's worker carries out (publish, accept, cancel).
-- Who reads the board follows the tenant's kind: a transport center's coordinators all of it,
-- a hospital's its own entries, an agency's dispatchers the open ones and those it bid on.

CREATE TABLE board_entries (
    id                 TEXT PRIMARY KEY,
    request_id         TEXT NOT NULL UNIQUE,
    hospital_tenant_id TEXT NOT NULL,
    hospital           TEXT NOT NULL,
    level              TEXT NOT NULL,
    priority           TEXT NOT NULL,
    pickup_from        TEXT NOT NULL,
    pickup_to          TEXT NOT NULL,
    origin             TEXT NOT NULL,
    origin_city        TEXT NOT NULL,
    destination        TEXT NOT NULL,
    destination_city   TEXT NOT NULL,
    equipment          TEXT NOT NULL,
    isolation          TEXT,
    status             TEXT NOT NULL,
    cancel_reason      TEXT,
    agency_tenant_id   TEXT,
    agency             TEXT,
    trip_id            TEXT,
    published_at       TEXT NOT NULL,
    first_bid_at       TEXT,
    accepted_at        TEXT,
    picked_up_at       TEXT,
    updated_at         TEXT NOT NULL
);
CREATE INDEX board_entries_open ON board_entries (status, pickup_from);
CREATE INDEX board_entries_hospital ON board_entries (hospital_tenant_id, pickup_from);
CREATE INDEX board_entries_published ON board_entries (published_at);

CREATE TABLE trip_bids (
    id               TEXT PRIMARY KEY,
    entry_id         TEXT NOT NULL REFERENCES board_entries (id),
    agency_tenant_id TEXT NOT NULL,
    agency           TEXT NOT NULL,
    unit_id          TEXT NOT NULL,
    unit             TEXT NOT NULL,
    unit_level       TEXT NOT NULL,
    eta_minutes      INTEGER NOT NULL,
    notes            TEXT,
    status           TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);
CREATE INDEX trip_bids_entry ON trip_bids (entry_id);
CREATE INDEX trip_bids_agency ON trip_bids (agency_tenant_id, entry_id);
-- One live bid per agency and entry.
CREATE UNIQUE INDEX trip_bids_one_submitted ON trip_bids (entry_id, agency_tenant_id)
    WHERE status = 'submitted';

-- The outbox: one row per cross-database step, in order per board entry. A worker leases a
-- row (`leased_by`, `lease_until`), carries out its effects (each keyed by the event, so that a
-- replay changes nothing) and marks it done; an expired lease is taken over.
CREATE TABLE events (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT NOT NULL UNIQUE,
    entry_id    TEXT NOT NULL,
    kind        TEXT NOT NULL,
    payload     TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    leased_by   TEXT,
    lease_until TEXT,
    attempts    INTEGER NOT NULL DEFAULT 0,
    done_at     TEXT,
    done_by     TEXT,
    last_error  TEXT
);
CREATE INDEX events_pending ON events (entry_id, seq) WHERE done_at IS NULL;

INSERT INTO permissions (name, description) VALUES
    ('board.read', 'Read the transport board');
INSERT INTO role_permissions (role, permission) VALUES
    ('ems_dispatcher', 'board.read'),
    ('transport_coordinator', 'board.read');
