-- Nothing unrecorded: the edge writes a start line for every model call it accepted, and each
-- edge instance marks when it began serving (`up`) and stopped cleanly (`down`).

-- Start lines whose record has not arrived yet: the row they become (`edge_lost`) if the
-- instance that wrote them turns out to be gone first.
CREATE TABLE edge_pending (
    request_id TEXT PRIMARY KEY,
    instance   TEXT NOT NULL,
    -- The normalized `edge_lost` row (JSON), attributed when the start line was read.
    row        TEXT NOT NULL
);
CREATE INDEX edge_pending_instance ON edge_pending (instance);

-- Edge instances seen in the spool (epoch ms). An instance is gone at its `down` line, or when a
-- newer one came `up` without it having gone down (a crash): `gone_at` is then the last time it
-- was seen alive, and the edge was down until `replaced_by` came up.
CREATE TABLE edge_instances (
    instance     TEXT PRIMARY KEY,
    up_at        REAL,
    last_seen_at REAL,
    down_at      REAL,
    gone_at      REAL,
    crashed      INTEGER NOT NULL DEFAULT 0,
    replaced_by  TEXT
);

-- The sessions that lost requests to the edge (Compare excludes them): a small partial index.
CREATE INDEX requests_edge_untimed ON requests (session_id)
    WHERE outcome IN ('edge_lost', 'not_timed_at_edge');
