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

# The UI is embedded into the desktop binary at compile time: build it before cargo.
scripts/build-ui.sh
echo "==> UI unit tests (vitest: screen logic against a mocked IPC)"
(cd ui && npx vitest run --reporter=dot)

echo "==> cargo test --workspace (inside a private Secret Service session)"
scripts/with-keyring.sh cargo test --workspace --no-fail-fast

echo "==> desktop end to end (the real window through tauri-driver + WebKitWebDriver under Xvfb)"
cargo build -q -p stackperf-desktop -p stackperf-cli
if [ ! -x target/tools/bin/tauri-driver ]; then
  cargo install -q --locked --root target/tools tauri-driver --version 2.1.0
fi
stamp=tests/ui/node_modules/.lock-sha256
want=$(sha256sum tests/ui/package-lock.json | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  (cd tests/ui && npm ci --no-audit --no-fund --loglevel=error)
  echo "$want" > "$stamp"
fi
scripts/with-keyring.sh node tests/ui/desktop.e2e.mjs 2> >(grep -v -e '^dbus-daemon' -e SpiRegistry >&2)
echo "    screenshots: target/test-artifacts/ui/"

echo "==> package test (release .deb: build, apt-get install, the installed app as a new user, purge)"
scripts/test-package.sh
