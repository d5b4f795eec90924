-- Session rollups are cached in metric_rollups; ingest marks a session stale when it adds rows
-- to it, and reports recompute only stale sessions.
ALTER TABLE sessions ADD COLUMN rollup_stale INTEGER NOT NULL DEFAULT 1;
