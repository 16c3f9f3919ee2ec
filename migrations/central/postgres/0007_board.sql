-- The transport board (DESIGN.md, "Transport between tenants"): a published request as EMS
-- agencies see it (the minimum necessary, never a patient identifier), their bids, and the
-- outbox of cross-database steps the hub's worker carries out (publish, accept, cancel).
-- Who reads the board follows the tenant's kind: a transport center's coordinators all of it,
-- a hospital's its own entries, an agency's dispatchers the open ones and those it bid on.

CREATE TABLE board_entries (
    id                 uuid PRIMARY KEY,
    request_id         uuid NOT NULL UNIQUE,
    hospital_tenant_id uuid NOT NULL,
    hospital           text NOT NULL,
    level              text NOT NULL,
    priority           text NOT NULL,
    pickup_from        timestamptz NOT NULL,
    pickup_to          timestamptz NOT NULL,
    origin             text NOT NULL,
    origin_city        text NOT NULL,
    destination        text NOT NULL,
    destination_city   text NOT NULL,
    equipment          text NOT NULL,
    isolation          text,
    status             text NOT NULL,
    cancel_reason      text,
    agency_tenant_id   uuid,
    agency             text,
    trip_id            uuid,
    published_at       timestamptz NOT NULL,
    first_bid_at       timestamptz,
    accepted_at        timestamptz,
    picked_up_at       timestamptz,
    updated_at         timestamptz NOT NULL
);
CREATE INDEX board_entries_open ON board_entries (status, pickup_from);
CREATE INDEX board_entries_hospital ON board_entries (hospital_tenant_id, pickup_from);
CREATE INDEX board_entries_published ON board_entries (published_at);

CREATE TABLE trip_bids (
    id               uuid PRIMARY KEY,
    entry_id         uuid NOT NULL REFERENCES board_entries (id),
    agency_tenant_id uuid NOT NULL,
    agency           text NOT NULL,
    unit_id          uuid NOT NULL,
    unit             text NOT NULL,
    unit_level       text NOT NULL,
    eta_minutes      integer NOT NULL,
    notes            text,
    status           text NOT NULL,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL
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
    seq         bigserial PRIMARY KEY,
    id          uuid NOT NULL UNIQUE,
    entry_id    uuid NOT NULL,
    kind        text NOT NULL,
    payload     text NOT NULL,
    created_at  timestamptz NOT NULL,
    leased_by   text,
    lease_until timestamptz,
    attempts    integer NOT NULL DEFAULT 0,
    done_at     timestamptz,
    done_by     text,
    last_error  text
);
CREATE INDEX events_pending ON events (entry_id, seq) WHERE done_at IS NULL;

INSERT INTO permissions (name, description) VALUES
    ('board.read', 'Read the transport board');
INSERT INTO role_permissions (role, permission) VALUES
    ('ems_dispatcher', 'board.read'),
    ('transport_coordinator', 'board.read');
