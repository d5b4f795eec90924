-- Suites and honest outcomes (issue 30, docs/runs.md).
-- `runs` is rebuilt for its order's CHECK (the new `blocks` order) and `run_items` with it, in an
-- order that never drops a table other rows still refer to (foreign keys stay on: sqlx runs
-- every migration inside a transaction): new parent, new child referring to it, drop the old
-- child, drop the old parent, rename both (the rename carries the child's reference along).
CREATE TABLE runs_new (
    run_id      TEXT PRIMARY KEY,
    experiment  TEXT NOT NULL,
    created_at  REAL NOT NULL,
    finished_at REAL,
    status      TEXT NOT NULL CHECK (status IN ('running', 'completed', 'cancelled', 'failed')),
    run_order   TEXT NOT NULL CHECK (run_order IN ('blocks', 'interleaved', 'random', 'blocked')),
    seed        INTEGER NOT NULL,
    repetitions INTEGER NOT NULL,
    timeout_s   REAL,
    machine     TEXT NOT NULL,
    versions    TEXT NOT NULL,
    -- The suite the run repeats (NULL: task cards named one by one).
    suite       TEXT,
    -- How often an item that ended in an infrastructure error is tried again.
    retry_infra INTEGER NOT NULL DEFAULT 1
);
INSERT INTO runs_new (run_id, experiment, created_at, finished_at, status, run_order, seed,
                      repetitions, timeout_s, machine, versions)
SELECT run_id, experiment, created_at, finished_at, status, run_order, seed, repetitions,
       timeout_s, machine, versions
FROM runs;

CREATE TABLE run_items_new (
    run_id      TEXT NOT NULL REFERENCES runs_new (run_id),
    idx         INTEGER NOT NULL,
    variant     TEXT NOT NULL,
    task_card   TEXT NOT NULL,
    repetition  INTEGER NOT NULL,
    state       TEXT NOT NULL DEFAULT 'pending'
                CHECK (state IN ('pending', 'running', 'done', 'aborted')),
    session_id  TEXT REFERENCES sessions (session_id),
    outcome     TEXT,
    -- Its last outcome by key (`TaskOutcome`).
    outcome_key TEXT,
    -- How many sessions it took (an infrastructure error is retried in a new session; the
    -- earlier ones stay, classed as such).
    attempts    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, idx)
);
INSERT INTO run_items_new (run_id, idx, variant, task_card, repetition, state, session_id,
                           outcome, outcome_key, attempts)
SELECT run_id, idx, variant, task_card, repetition, state, session_id, outcome,
       CASE outcome
           WHEN 'success' THEN 'success'
           WHEN 'failed verify' THEN 'failed_verify'
           WHEN 'finished (no verify command)' THEN 'unverified'
           WHEN 'timeout' THEN 'timeout'
           WHEN 'harness error' THEN 'harness_error'
           WHEN 'setup failed' THEN 'setup_failed'
           WHEN 'cancelled' THEN 'cancelled'
       END,
       CASE WHEN session_id IS NULL THEN 0 ELSE 1 END
FROM run_items;

DROP TABLE run_items;
DROP TABLE runs;
ALTER TABLE runs_new RENAME TO runs;
ALTER TABLE run_items_new RENAME TO run_items;

-- The outcome of an automated run's session (`TaskOutcome`'s key): comparisons leave
-- infrastructure errors out of every figure and count them per variant. Earlier runs' sessions
-- get theirs from their items.
ALTER TABLE sessions ADD COLUMN task_outcome TEXT;
UPDATE sessions SET task_outcome = (
    SELECT i.outcome_key FROM run_items i WHERE i.session_id = sessions.session_id
) WHERE run_id IS NOT NULL;
