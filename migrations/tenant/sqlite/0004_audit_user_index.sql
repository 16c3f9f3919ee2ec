-- A tenant chain looks events up by entity only for users (a user's activity report, which
-- also finds events about the user). A patient's report scans the chain anyway (it also
-- finds the searches whose results held the patient), so an index over every event's
-- (entity, entity_id) served no query, yet every change paid for it: one more randomly placed
-- index page written per change, about a quarter of what a synced edit writes.
DROP INDEX audit_events_entity;
CREATE INDEX audit_events_user ON audit_events (entity_id) WHERE entity = 'user';
