-- Whose traffic a request is: a session's, StackPerf's own (the proxy warm-up and anything sent
-- with the master key, alias `stackperf-admin`), refused for its key or scope, or a key that
-- belongs to no session. Internal rows stay out of user-facing exports and counts by default.

ALTER TABLE requests ADD COLUMN traffic TEXT NOT NULL DEFAULT 'unattributed'
    CHECK (traffic IN ('session', 'internal', 'rejected', 'unattributed'));

UPDATE requests SET traffic = 'session' WHERE session_id IS NOT NULL;
UPDATE requests SET traffic = 'internal'
    WHERE session_id IS NULL AND key_alias = 'stackperf-admin';
UPDATE requests SET traffic = 'rejected'
    WHERE session_id IS NULL AND traffic = 'unattributed' AND http_status IN (401, 403);

CREATE INDEX requests_traffic ON requests (traffic);
