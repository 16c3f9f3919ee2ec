-- The device's clock when a change uploaded by sync was made (NULL for changes made on the
-- hub): with the hub's own time it shows when, and whether offline, a change was made.
ALTER TABLE patient_history ADD COLUMN client_time timestamptz;
