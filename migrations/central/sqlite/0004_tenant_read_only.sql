-- A tenant is read-only while its database is copied elsewhere (`tenant move`): reads go on,
-- changes are refused and wait in the clients' outboxes.
ALTER TABLE tenants ADD COLUMN read_only INTEGER NOT NULL DEFAULT 0;
