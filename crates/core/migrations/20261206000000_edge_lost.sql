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

-- `latency_ms` may be NULL: an `edge_lost` request has no known end (SQLite cannot drop a NOT NULL
-- constraint, so the table is rebuilt, as in the usage migration).
CREATE TABLE requests_new (
    request_id          TEXT NOT NULL UNIQUE,
    litellm_call_id     TEXT,
    session_id          TEXT REFERENCES sessions (session_id),
    variant_id          INTEGER REFERENCES variants (variant_id),
    experiment          TEXT,
    provider            TEXT,
    provider_route      TEXT,
    model               TEXT,
    upstream_model      TEXT,
    harness_profile     TEXT,
    protocol_surface    TEXT,
    streamed            INTEGER NOT NULL DEFAULT 0,
    request_started_at  REAL NOT NULL,
    request_finished_at REAL NOT NULL,
    latency_ms          REAL,
    ttft_ms             REAL,
    ttft_missing_reason TEXT,
    output_tokens_per_s REAL,
    input_tokens        INTEGER,
    output_tokens       INTEGER,
    cached_input_tokens INTEGER,
    cache_write_tokens  INTEGER,
    status              TEXT NOT NULL CHECK (status IN ('success', 'error')),
    http_status         INTEGER,
    error_code          TEXT,
    error_class         TEXT,
    provider_request_id TEXT,
    proxy_overhead_ms   REAL,
    provider_latency_ms REAL,
    ingested_at         REAL NOT NULL,
    key_alias           TEXT,
    call_type           TEXT,
    first_token_at      REAL,
    upstream_started_at REAL,
    provider_ttft_ms    REAL,
    timed_at            TEXT NOT NULL DEFAULT 'litellm' CHECK (timed_at IN ('edge', 'litellm')),
    has_litellm_record  INTEGER NOT NULL DEFAULT 1,
    outcome             TEXT,
    first_visible_at    REAL,
    ttft_visible_ms     REAL,
    itl_ms              REAL,
    max_gap_ms          REAL,
    stall_count         INTEGER,
    content_deltas      INTEGER,
    output_tokens_missing_reason TEXT,
    cost_usd            REAL,
    traffic             TEXT NOT NULL DEFAULT 'unattributed'
                        CHECK (traffic IN ('session', 'internal', 'rejected', 'unattributed', 'usage')),
    tool_calls          TEXT,
    tool_call_count     INTEGER,
    reasoning_tokens    INTEGER
);

INSERT INTO requests_new (request_id, litellm_call_id, session_id, variant_id, experiment, provider,
    provider_route, model, upstream_model, harness_profile, protocol_surface, streamed,
    request_started_at, request_finished_at, latency_ms, ttft_ms, ttft_missing_reason,
    output_tokens_per_s, input_tokens, output_tokens, cached_input_tokens, cache_write_tokens, status,
    http_status, error_code, error_class, provider_request_id, proxy_overhead_ms, provider_latency_ms,
    ingested_at, key_alias, call_type, first_token_at, upstream_started_at, provider_ttft_ms, timed_at,
    has_litellm_record, outcome, first_visible_at, ttft_visible_ms, itl_ms, max_gap_ms, stall_count,
    content_deltas, output_tokens_missing_reason, cost_usd, traffic, tool_calls, tool_call_count,
    reasoning_tokens)
SELECT request_id, litellm_call_id, session_id, variant_id, experiment, provider,
    provider_route, model, upstream_model, harness_profile, protocol_surface, streamed,
    request_started_at, request_finished_at, latency_ms, ttft_ms, ttft_missing_reason,
    output_tokens_per_s, input_tokens, output_tokens, cached_input_tokens, cache_write_tokens, status,
    http_status, error_code, error_class, provider_request_id, proxy_overhead_ms, provider_latency_ms,
    ingested_at, key_alias, call_type, first_token_at, upstream_started_at, provider_ttft_ms, timed_at,
    has_litellm_record, outcome, first_visible_at, ttft_visible_ms, itl_ms, max_gap_ms, stall_count,
    content_deltas, output_tokens_missing_reason, cost_usd, traffic, tool_calls, tool_call_count,
    reasoning_tokens
FROM requests;

DROP TABLE requests;
ALTER TABLE requests_new RENAME TO requests;
CREATE INDEX requests_by_session ON requests (session_id, request_started_at);
CREATE INDEX requests_by_variant ON requests (variant_id, request_started_at);
CREATE INDEX requests_traffic ON requests (traffic);
CREATE INDEX requests_usage ON requests (key_alias, request_started_at) WHERE traffic = 'usage';

-- The sessions that lost requests to the edge (Compare excludes them): a small partial index.
CREATE INDEX requests_edge_untimed ON requests (session_id)
    WHERE outcome IN ('edge_lost', 'not_timed_at_edge');
