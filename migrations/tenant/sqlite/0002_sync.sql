-- Idempotency of sync: every pushed op and every uploaded offline audit event is recorded
-- with the answer the hub gave, so that a replay gets the same answer and changes nothing.

CREATE TABLE applied_ops (
    op_id       TEXT PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('op', 'audit')),
    device_id   TEXT,
    user_id     TEXT,
    received_at TEXT NOT NULL,
    result      TEXT NOT NULL
);
