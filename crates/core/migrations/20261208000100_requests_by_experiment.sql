-- Requests filtered by experiment (exports, Compare's distribution charts) read only that
-- experiment's rows: in a store shared by a team, the other experiments' requests are most of it
-- (docs/sessions.md: 155 → 5 ms for an export of 200 requests beside 1M others).
CREATE INDEX requests_by_experiment ON requests (experiment, request_started_at);
