-- Usage mode: long-lived proxy keys for everyday use, not tied to a benchmark session.
-- Their requests are traffic 'usage' (never counted into a session), attributed by key alias to
-- an owner and team, and rolled up per (key, model, UTC day) for fast usage reports.

-- `traffic` gains 'usage': SQLite cannot change a CHECK constraint, so the table is rebuilt.
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

-- The keys (hashes only; the value lives in the OS keychain and is shown once).
CREATE TABLE usage_keys (
    alias      TEXT PRIMARY KEY,
    key_hash   TEXT NOT NULL UNIQUE,
    owner      TEXT NOT NULL,
    team       TEXT,
    purpose    TEXT,
    models     TEXT,             -- JSON array of model aliases; NULL = every configured model
    created_at REAL NOT NULL,    -- Unix epoch ms
    expires_at REAL,             -- NULL = never
    revoked_at REAL
);

-- Per key, model and UTC day (days since 1970-01-01): counts, token sums, cost and latency
-- histograms (log buckets, see `usage::Hist`). Recomputed from `requests` in the ingest
-- transaction that changed the day's rows, so a report never scans requests.
CREATE TABLE usage_rollups (
    key_alias           TEXT NOT NULL,
    model               TEXT NOT NULL,
    day                 INTEGER NOT NULL,
    requests            INTEGER NOT NULL,
    errors              INTEGER NOT NULL,
    input_tokens        INTEGER NOT NULL,
    output_tokens       INTEGER NOT NULL,
    cached_input_tokens INTEGER NOT NULL,
    cache_write_tokens  INTEGER NOT NULL,
    reasoning_tokens    INTEGER NOT NULL,
    cost_usd            REAL NOT NULL,
    priced              INTEGER NOT NULL,   -- requests with a known cost
    latency_hist        TEXT NOT NULL,
    ttft_hist           TEXT NOT NULL,
    PRIMARY KEY (key_alias, model, day)
);
CREATE INDEX usage_rollups_by_day ON usage_rollups (day);
