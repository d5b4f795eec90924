-- Reasoning ("thinking") tokens per request, where the provider reports them (part of output_tokens).
ALTER TABLE requests ADD COLUMN reasoning_tokens INTEGER;
-- The price the session's model had when the session was created (JSON: per-Mtok prices and
-- `as_of`), NULL when its provider declares none (LiteLLM's own cost map, or n/a).
ALTER TABLE sessions ADD COLUMN price TEXT;
-- What the harness itself reported at the end of an automated run (JSON: turns, cost, tokens),
-- kept beside StackPerf's own figures as a cross-check.
ALTER TABLE sessions ADD COLUMN harness_report TEXT;
