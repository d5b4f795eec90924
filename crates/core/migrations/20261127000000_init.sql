-- StackPerf's canonical record (spec §3). Times are Unix epoch milliseconds (REAL) unless the
-- column name ends in `_at_text`; config rows keep their full definition as canonical JSON.

CREATE TABLE providers (
    name             TEXT PRIMARY KEY,
    route_name       TEXT NOT NULL,
    protocol_surface TEXT NOT NULL,
    definition       TEXT NOT NULL,
    updated_at       REAL NOT NULL
);

CREATE TABLE harness_profiles (
    name             TEXT PRIMARY KEY,
    protocol_surface TEXT NOT NULL,
    definition       TEXT NOT NULL,
    updated_at       REAL NOT NULL
);

-- One row per (variant name, fingerprint): editing a variant adds a row and keeps the old one, so
-- sessions recorded under the old definition stay comparable and traceable.
CREATE TABLE variants (
    variant_id         INTEGER PRIMARY KEY,
    name               TEXT NOT NULL,
    config_fingerprint TEXT NOT NULL,
    provider           TEXT NOT NULL,
    provider_route     TEXT NOT NULL,
    model_alias        TEXT NOT NULL,
    upstream_model     TEXT NOT NULL,
    harness_profile    TEXT NOT NULL,
    benchmark_tags     TEXT NOT NULL,
    definition         TEXT NOT NULL,
    is_current         INTEGER NOT NULL DEFAULT 1 CHECK (is_current IN (0, 1)),
    first_seen_at      REAL NOT NULL,
    last_seen_at       REAL NOT NULL,
    UNIQUE (name, config_fingerprint)
);
CREATE INDEX variants_by_name ON variants (name, is_current);

CREATE TABLE experiments (
    name        TEXT PRIMARY KEY,
    description TEXT NOT NULL DEFAULT '',
    variants    TEXT NOT NULL,
    definition  TEXT NOT NULL,
    updated_at  REAL NOT NULL
);

CREATE TABLE task_cards (
    name                    TEXT PRIMARY KEY,
    repo_path               TEXT NOT NULL,
    stop_condition          TEXT NOT NULL,
    session_timebox_minutes INTEGER NOT NULL,
    definition              TEXT NOT NULL,
    updated_at              REAL NOT NULL
);

CREATE TABLE sessions (
    session_id       TEXT PRIMARY KEY,
    experiment       TEXT NOT NULL REFERENCES experiments (name),
    variant_id       INTEGER NOT NULL REFERENCES variants (variant_id),
    task_card        TEXT NOT NULL REFERENCES task_cards (name),
    harness_profile  TEXT NOT NULL REFERENCES harness_profiles (name),
    status           TEXT NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'active', 'completed', 'aborted', 'invalid')),
    mode             TEXT NOT NULL DEFAULT 'bounded' CHECK (mode IN ('bounded', 'exploratory')),
    created_at       REAL NOT NULL,
    started_at       REAL,
    ended_at         REAL,
    operator_label   TEXT,
    repo_root        TEXT,
    git_branch       TEXT,
    git_commit_sha   TEXT,
    git_dirty        INTEGER,
    proxy_key_alias  TEXT,
    key_expires_at   REAL,
    outcome          TEXT,
    notes            TEXT,
    exclusion_reason TEXT,
    app_version      TEXT NOT NULL,
    litellm_version  TEXT,
    config_commit    TEXT
);
CREATE INDEX sessions_by_variant ON sessions (variant_id, status);
CREATE INDEX sessions_by_experiment ON sessions (experiment, status);

CREATE TABLE requests (
    request_id          TEXT PRIMARY KEY,
    litellm_call_id     TEXT NOT NULL UNIQUE,
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
    ingested_at         REAL NOT NULL
);
CREATE INDEX requests_by_session ON requests (session_id, request_started_at);
CREATE INDEX requests_by_variant ON requests (variant_id, request_started_at);

CREATE TABLE metric_rollups (
    scope       TEXT NOT NULL CHECK (scope IN ('session', 'variant', 'experiment')),
    scope_id    TEXT NOT NULL,
    metric      TEXT NOT NULL,
    value       REAL,
    computed_at REAL NOT NULL,
    PRIMARY KEY (scope, scope_id, metric)
);

CREATE TABLE artifacts (
    artifact_id INTEGER PRIMARY KEY,
    session_id  TEXT REFERENCES sessions (session_id),
    experiment  TEXT,
    kind        TEXT NOT NULL,
    format      TEXT NOT NULL,
    path        TEXT NOT NULL,
    sha256      TEXT,
    created_at  REAL NOT NULL
);
CREATE INDEX artifacts_by_session ON artifacts (session_id);
