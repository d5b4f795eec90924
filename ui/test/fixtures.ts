// Values the screen tests hand to the mocked IPC: a session, its environment, a live request.

export const session = (status: string, n = 0) => ({
  session_id: "sess_abc",
  experiment: "sim-profiles",
  variant: "sim-fast-oai",
  variant_id: 1,
  config_fingerprint: "f",
  task_card: "sample-traffic",
  harness_profile: "openai-compatible",
  status,
  mode: "bounded",
  created_at: 1,
  started_at: 1,
  ended_at: null,
  operator_label: null,
  repo_root: null,
  git_branch: null,
  git_commit_sha: null,
  git_dirty: null,
  proxy_key_alias: "stackperf-sess_abc",
  key_expires_at: null,
  outcome: null,
  notes: null,
  app_version: "0.1.0",
  litellm_version: "1.108.7",
  config_commit: null,
  request_count: n,
  isolated: false,
  price: null,
  harness_report: null,
  machine_id: "m1",
  hostname: "box-1",
});

export const envView = {
  session_id: "sess_abc",
  format: "shell",
  default_format: "shell",
  text: "export OPENAI_BASE_URL='http://127.0.0.1:4000/v1'\nexport OPENAI_API_KEY='<session key: stackperf session env ID>'\n",
  files: [],
  launch_command: null,
  launch_checks: ["The repository is clean"],
  api_key_env: "OPENAI_API_KEY",
};

export const brief = (i: number) => ({
  request_id: `r${i}`,
  started_at: Date.now() - 500,
  finished_at: Date.now() - 40,
  model: "sim-fast",
  call_type: "acompletion",
  kind: "chat completions (stream)",
  streamed: true,
  status: "success",
  http_status: 200,
  error_class: null,
  ttft_ms: 60 + i,
  ttft_visible_ms: 60 + i,
  itl_ms: 2,
  stall_count: 0,
  latency_ms: 300 + i,
  output_tokens_per_s: 90,
  input_tokens: 10,
  output_tokens: 20,
});

/** The OTLP export panel's settings with nothing set (the Stack screen shows the panel). */
export const otlpOff = { endpoint: null, source: null, saved_endpoint: null, headers_saved: false, status: null, error: null };
