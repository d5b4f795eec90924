#!/usr/bin/env bash
# Desktop benchmark of the release build (what the package installs): start to first paint, idle
# memory, request → live chart latency, frame times under a 20-stream load. Prints figures; see
# tests/ui/bench.mjs for what is measured and how. STACKPERF_PROFILE=debug measures the debug build.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
export STACKPERF_CACHE_DIR="${STACKPERF_CACHE_DIR:-$PWD/target/stackperf-cache}"
scripts/bootstrap.sh --test
scripts/build-ui.sh
export STACKPERF_PROFILE="${STACKPERF_PROFILE:-release}"
if [ "$STACKPERF_PROFILE" = release ]; then
  # The desktop app alone, as the package builds it (features of shared crates not unified
  # with the CLI's).
  cargo build -q --release -p stackperf-desktop
  cargo build -q --release -p stackperf-cli
else
  cargo build -q -p stackperf-desktop -p stackperf-cli
fi
[ -x target/tools/bin/tauri-driver ] || cargo install -q --locked --root target/tools tauri-driver --version 2.1.0
(cd tests/ui && { [ -d node_modules/webdriverio ] || npm ci --no-audit --no-fund --loglevel=error; })
scripts/with-keyring.sh node tests/ui/bench.mjs 2> >(grep -v -e '^dbus-daemon' -e SpiRegistry >&2)
