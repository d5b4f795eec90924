#!/usr/bin/env bash
# README's run command: build StackPerf, validate and register the shipped configuration, and
# serve the simulated provider so you can send it requests without any API key.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
port="${STACKPERF_SIM_PORT:-8765}"

scripts/bootstrap.sh
echo "==> building stackperf"
cargo build -q -p stackperf-cli
bin=target/debug/stackperf

echo "==> validating configs/"
"$bin" config validate
echo "==> registering the configuration in the database ($("$bin" db path))"
"$bin" config sync
echo
"$bin" experiment list
echo
"$bin" sim profiles
data_dir="$(dirname "$("$bin" db path)")"
cat <<MSG

==> serving the simulated provider on http://127.0.0.1:$port (Ctrl-C to stop)
    Try it:  curl -N http://127.0.0.1:$port/v1/chat/completions -H 'authorization: Bearer any' \\
               -d '{"model":"sim-fast","stream":true,"messages":[{"role":"user","content":"hi"}]}'
    Ground truth of every request: http://127.0.0.1:$port/_sim/requests  (also $data_dir/sim-truth.jsonl)
MSG
exec "$bin" sim serve --listen "127.0.0.1:$port" --log "$data_dir/sim-truth.jsonl"
