-- The client's encrypted mirror of one (hub, tenant, user): patients and their versions as the
-- hub sent them (already without the fields this user may not read), the outbox of local
-- changes, conflicts waiting for the user, and audit events of local reads waiting for upload.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE patients (
    rowid       INTEGER PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    -- The record as JSON (the hub's shape, with local edits applied).
    data        TEXT NOT NULL,
    -- The local version: the hub's version plus one per local change not yet confirmed.
    version     INTEGER NOT NULL,
    -- The last version confirmed by the hub (NULL: created here, never confirmed).
    hub_version INTEGER,
    deleted     INTEGER NOT NULL DEFAULT 0,
    conflict    INTEGER NOT NULL DEFAULT 0,
    -- The hub's last confirmed record while local changes are pending (NULL: `data` is it).
    hub_data    TEXT,
    given_name  TEXT NOT NULL,
    family_name TEXT NOT NULL,
    mrn         TEXT NOT NULL,
    phone       TEXT,
    sort_key    TEXT NOT NULL
);
CREATE INDEX patients_sort ON patients (sort_key);

-- Full-text search over names, MRN and phone (prefix queries), kept in step by triggers.
CREATE VIRTUAL TABLE patients_fts USING fts5 (
    given_name, family_name, mrn, phone,
    content = 'patients', content_rowid = 'rowid',
    tokenize = 'unicode61 remove_diacritics 2',
    prefix = '1 2 3'
);
CREATE TRIGGER patients_fts_insert AFTER INSERT ON patients BEGIN
    INSERT INTO patients_fts (rowid, given_name, family_name, mrn, phone)
    VALUES (new.rowid, new.given_name, new.family_name, new.mrn, new.phone);
END;
CREATE TRIGGER patients_fts_delete AFTER DELETE ON patients BEGIN
    INSERT INTO patients_fts (patients_fts, rowid, given_name, family_name, mrn, phone)
    VALUES ('delete', old.rowid, old.given_name, old.family_name, old.mrn, old.phone);
END;
CREATE TRIGGER patients_fts_update AFTER UPDATE OF given_name, family_name, mrn, phone ON patients BEGIN
    INSERT INTO patients_fts (patients_fts, rowid, given_name, family_name, mrn, phone)
    VALUES ('delete', old.rowid, old.given_name, old.family_name, old.mrn, old.phone);
    INSERT INTO patients_fts (rowid, given_name, family_name, mrn, phone)
    VALUES (new.rowid, new.given_name, new.family_name, new.mrn, new.phone);
END;

CREATE TABLE patient_history (
    patient_id TEXT NOT NULL,
    version    INTEGER NOT NULL,
    entry      TEXT NOT NULL,
    PRIMARY KEY (patient_id, version)
) WITHOUT ROWID;

-- Local changes in the order they were made, written in the same transaction as the change.
CREATE TABLE outbox (
    seq       INTEGER PRIMARY KEY,
    op_id     TEXT NOT NULL UNIQUE,
    record_id TEXT NOT NULL,
    op        TEXT NOT NULL,
    -- Set once the op has been sent: from then on it is never changed, only replayed.
    sent      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX outbox_record ON outbox (record_id);

-- Ops the hub did not apply: a conflict (hub record attached) or a refusal (reason attached).
CREATE TABLE conflicts (
    record_id  TEXT PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('conflict', 'rejected')),
    local_op   TEXT NOT NULL,
    hub_record TEXT,
    hub_version INTEGER,
    error      TEXT,
    at         TEXT NOT NULL
);

-- Audit events of what happened here (reads, searches), uploaded with the next push.
CREATE TABLE local_audit (
    seq      INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    event    TEXT NOT NULL
);
