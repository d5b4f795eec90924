#!/usr/bin/env bash
# README's test command: every test (unit, end-to-end with the real simulator and real SDKs).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"

scripts/bootstrap.sh --test
scripts/test-env.sh
export STACKPERF_TEST_PYTHON="$PWD/.venv-test/bin/python"

# The LiteLLM virtualenv is cached under target/ so repeated runs reuse it.
export STACKPERF_CACHE_DIR="${STACKPERF_CACHE_DIR:-$PWD/target/stackperf-cache}"

echo "==> cargo test --workspace (inside a private Secret Service session)"
scripts/with-keyring.sh cargo test --workspace --no-fail-fast
