-- StackPerf's edge: requests are timed at the harness's socket and recorded by the edge; LiteLLM's
-- capture line adds tokens, cost and provider timing. Both lines of one request share request_id
-- (the edge's correlation id), and ingest merges them into one row. A request that never passed
-- the edge (traffic sent straight to LiteLLM) keeps LiteLLM's call id as its request_id.
-- litellm_call_id becomes optional: a request LiteLLM never answered has none.

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
    latency_ms          REAL NOT NULL,
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
    -- The edge's measurements.
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
    cost_usd            REAL
);

INSERT INTO requests_new (request_id, litellm_call_id, session_id, variant_id, experiment, provider, provider_route,
    model, upstream_model, harness_profile, protocol_surface, streamed, request_started_at, request_finished_at,
    latency_ms, ttft_ms, ttft_missing_reason, output_tokens_per_s, input_tokens, output_tokens, cached_input_tokens,
    cache_write_tokens, status, http_status, error_code, error_class, provider_request_id, proxy_overhead_ms,
    provider_latency_ms, ingested_at, key_alias, call_type, first_token_at, upstream_started_at, provider_ttft_ms)
SELECT request_id, litellm_call_id, session_id, variant_id, experiment, provider, provider_route,
    model, upstream_model, harness_profile, protocol_surface, streamed, request_started_at, request_finished_at,
    latency_ms, ttft_ms, ttft_missing_reason, output_tokens_per_s, input_tokens, output_tokens, cached_input_tokens,
    cache_write_tokens, status, http_status, error_code, error_class, provider_request_id, proxy_overhead_ms,
    provider_latency_ms, ingested_at, key_alias, call_type, first_token_at, upstream_started_at, provider_ttft_ms
FROM requests;

DROP TABLE requests;
ALTER TABLE requests_new RENAME TO requests;
CREATE INDEX requests_by_session ON requests (session_id, request_started_at);
CREATE INDEX requests_by_variant ON requests (variant_id, request_started_at);

-- The rollups gain time to first visible text, inter-token latency and stalls: recompute them.
UPDATE sessions SET rollup_stale = 1;
