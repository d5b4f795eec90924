-- Automated benchmark runs: each run's plan (order, seed, machine, versions) and its items, one
-- session each; sessions record the task's outcome (the verify step) and the harness's wall time.

ALTER TABLE sessions ADD COLUMN task_success INTEGER;   -- 1 verified, 0 failed, NULL unknown
ALTER TABLE sessions ADD COLUMN wall_s REAL;            -- harness start → exit, seconds
ALTER TABLE sessions ADD COLUMN harness_exit INTEGER;   -- the harness's exit status
ALTER TABLE sessions ADD COLUMN run_id TEXT;

CREATE TABLE runs (
    run_id      TEXT PRIMARY KEY,
    experiment  TEXT NOT NULL,
    created_at  REAL NOT NULL,
    finished_at REAL,
    status      TEXT NOT NULL CHECK (status IN ('running', 'completed', 'cancelled', 'failed')),
    run_order   TEXT NOT NULL CHECK (run_order IN ('interleaved', 'random', 'blocked')),
    seed        INTEGER NOT NULL,
    repetitions INTEGER NOT NULL,
    timeout_s   REAL,
    machine     TEXT NOT NULL,
    versions    TEXT NOT NULL
);

CREATE TABLE run_items (
    run_id      TEXT NOT NULL REFERENCES runs (run_id),
    idx         INTEGER NOT NULL,
    variant     TEXT NOT NULL,
    task_card   TEXT NOT NULL,
    repetition  INTEGER NOT NULL,
    state       TEXT NOT NULL DEFAULT 'pending'
                CHECK (state IN ('pending', 'running', 'done', 'aborted')),
    session_id  TEXT REFERENCES sessions (session_id),
    outcome     TEXT,
    PRIMARY KEY (run_id, idx)
);
