//! Names on the wire between StackPerf's processes: the headers the edge sends LiteLLM, the edge's
//! own paths, the limits both key checks apply.

/// The edge's correlation id for a request, sent to LiteLLM (its capture callback records it).
pub const REQUEST_ID_HEADER: &str = "x-stackperf-request-id";
/// The edge's token, sent to LiteLLM: its auth hook trusts the correlation id only with it.
pub const EDGE_TOKEN_HEADER: &str = "x-stackperf-edge-token";
/// The edge's health check.
pub const HEALTH_PATH: &str = "/_stackperf/edge/health";
/// The edge's Prometheus metrics (a scrape token is needed).
pub const METRICS_PATH: &str = "/_stackperf/metrics";
/// The longest key either check looks at; anything longer cannot be one of StackPerf's.
pub const MAX_KEY_LEN: usize = 512;
