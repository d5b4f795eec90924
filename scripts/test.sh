#!/usr/bin/env bash
# README's test command: every test (unit, end-to-end with the real simulator and real SDKs).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"

scripts/bootstrap.sh
scripts/test-env.sh
export STACKPERF_TEST_PYTHON="$PWD/.venv-test/bin/python"

echo "==> cargo test --workspace"
cargo test --workspace --no-fail-fast
