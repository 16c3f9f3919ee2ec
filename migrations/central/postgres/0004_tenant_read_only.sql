-- A tenant is read-only while its database is copied to another server (`tenant move`):
-- reads go on, changes are refused and wait in the clients' outboxes.
ALTER TABLE tenants ADD COLUMN read_only boolean NOT NULL DEFAULT false;
