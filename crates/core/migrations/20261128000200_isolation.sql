-- Whether a session's harness kept its state (history, settings, caches) in the session folder
-- instead of the operator's home: `session env` renders the same environment again from it.
ALTER TABLE sessions ADD COLUMN isolated INTEGER NOT NULL DEFAULT 0;
