#!/usr/bin/env bash
# README's run command: build StackPerf, validate and register the shipped configuration, and
# bring up the local stack (LiteLLM installed on first use, the simulated provider, Prometheus).
# Ctrl-C stops the stack.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"

scripts/bootstrap.sh
echo "==> building stackperf"
cargo build -q -p stackperf-cli
bin="$PWD/target/debug/stackperf"

echo "==> validating configs/"
"$bin" config validate
echo "==> registering the configuration in $("$bin" db path)"
"$bin" config sync >/dev/null

if [ "$(uname -s)" = Linux ] && [ -z "${DBUS_SESSION_BUS_ADDRESS:-}" ]; then
  echo "==> no desktop session: using a private Secret Service for this run (keys stored now last until it ends)"
  STACKPERF_PRIVATE_KEYRING=1 exec scripts/with-keyring.sh scripts/run-stack.sh "$bin"
fi
exec scripts/run-stack.sh "$bin"
