-- When LiteLLM handed the request to the upstream, and the upstream-side TTFT derived from it.
ALTER TABLE requests ADD COLUMN upstream_started_at REAL;
ALTER TABLE requests ADD COLUMN provider_ttft_ms REAL;
