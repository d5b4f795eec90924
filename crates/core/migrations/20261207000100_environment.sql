-- The environment a session ran in (docs/runs.md, "Environment"): JSON of `machine::Environment`
-- — machine id (hashed), host, OS, CPU model and count, memory, load at start and end, other
-- sessions active beside it, time limit. Compare warns when compared variants differ in it.
ALTER TABLE sessions ADD COLUMN environment TEXT;
-- Sessions a run keeps going at a time (`stackperf run --parallel N`).
ALTER TABLE runs ADD COLUMN parallel INTEGER NOT NULL DEFAULT 1;
