-- Idempotency of sync: every pushed op and every uploaded offline audit event is recorded
-- with the answer the hub gave, so that a replay gets the same answer and changes nothing.

CREATE TABLE applied_ops (
    op_id       uuid PRIMARY KEY,
    kind        text NOT NULL CHECK (kind IN ('op', 'audit')),
    device_id   uuid,
    user_id     uuid,
    received_at timestamptz NOT NULL,
    result      text NOT NULL
);
