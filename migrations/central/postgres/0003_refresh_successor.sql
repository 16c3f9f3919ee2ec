-- Which token replaced a spent refresh token, so that a client whose refresh answer was lost
-- (a crash, a dropped connection) can retry within a short window instead of losing its
-- session, while a replay after its successor was used still revokes the session.
ALTER TABLE refresh_tokens ADD COLUMN replaced_by text;
