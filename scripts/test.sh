#!/usr/bin/env bash
# README's test command: every test (unit, end-to-end with the real simulator, real SDKs and
# harness CLIs, the real window, the package).
#   scripts/test.sh           everything (what CI runs)
#   scripts/test.sh --quick   the edit loop: vitest and every Rust test that starts no stack
#                             (unit tests and core's integration tests; a few minutes warm)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
started=$SECONDS
# Each step's start, with the minutes spent so far (where a slow CI spends its time).
step() {
  printf '==> [%dm%02ds] %s (%s free for target/)\n' $(((SECONDS - started) / 60)) $(((SECONDS - started) % 60)) \
    "$*" "$(df -h --output=avail "$PWD" | tail -1 | tr -d ' ')"
}
# The whole suite writes ~10 GB of debug build and ~3 GB of release build under target/, beside
# ~3 GB of test environment (SDK venv, harness CLIs, OpenHands, LiteLLM's venv).
need_gb=14
free_gb=$(($(df -k --output=avail "$PWD" | tail -1) / 1024 / 1024))
if [ "${1:-}" != "--quick" ] && [ ! -d target/debug ] && [ "$free_gb" -lt "$need_gb" ]; then
  echo "warning: ${free_gb} GB free on the disk of $PWD; the whole suite writes up to ~${need_gb} GB" \
    "(target/ and the test environment). It may stop with 'No space left on device'." >&2
fi

if [ "${1:-}" = "--quick" ]; then
  scripts/build-ui.sh >/dev/null
  step "UI unit tests (vitest)"
  (cd ui && npx vitest run --reporter=dot)
  step "cargo test: every crate but the end-to-end tests"
  cargo test --workspace --exclude stackperf-e2e
  step "quick tests passed (the whole suite: scripts/test.sh)"
  exit 0
fi

scripts/bootstrap.sh --test
step "test environment (SDK venv, harness CLIs, OpenHands)"
scripts/test-env.sh
export STACKPERF_TEST_PYTHON="$PWD/.venv-test/bin/python"

# The LiteLLM virtualenv is cached under target/ so repeated runs reuse it.
export STACKPERF_CACHE_DIR="${STACKPERF_CACHE_DIR:-$PWD/target/stackperf-cache}"

# The UI is embedded into the desktop binary at compile time: build it before cargo.
scripts/build-ui.sh
step "UI unit tests (vitest: screen logic against a mocked IPC)"
(cd ui && npx vitest run --reporter=dot)

step "cargo test --workspace (inside a private Secret Service session)"
# Four test threads: most end-to-end tests wait on processes (LiteLLM, harness CLIs), not on the
# CPU. Those that time things take the machine alone (tests/machine.rs); they live in modules
# named `quiet` and run after the others, one at a time: waiting among them for the machine, they
# held test threads idle (the e2e binary took 458 s; 291 s + 118 s this way, same machine).
failed=0
scripts/with-keyring.sh cargo test --workspace --no-fail-fast -- --test-threads 4 --skip ::quiet:: || failed=1
step "the end-to-end tests that take the machine alone (::quiet::)"
# `--workspace` as above: `-p stackperf-e2e` resolves features for that crate alone, and rebuilt
# the test binary and two dependencies first (~40 s).
scripts/with-keyring.sh cargo test --workspace -- --test-threads 1 ::quiet:: || failed=1
[ "$failed" -eq 0 ] || { echo "error: tests failed (above)" >&2; exit 1; }

step "desktop end to end (the real window through tauri-driver + WebKitWebDriver under Xvfb)"
cargo build -q -p stackperf-desktop -p stackperf-cli
scripts/test-env.sh --window
scripts/with-keyring.sh node tests/ui/desktop.e2e.mjs 2> >(grep -v -e '^dbus-daemon' -e SpiRegistry >&2)
echo "    screenshots: target/test-artifacts/ui/"

if [ -n "${STACKPERF_TEST_DROP_DEBUG_BUILD:-}" ]; then
  step "dropping the debug build (STACKPERF_TEST_DROP_DEBUG_BUILD: the release build needs the disk)"
  rm -rf target/debug
fi
step "package test (release .deb: build, apt-get install, the installed app as a new user, purge)"
# The release build as a user makes it: CI's lint pass (.ci/run) was the debug build's.
env -u RUSTC_WORKSPACE_WRAPPER -u RUSTFLAGS scripts/test-package.sh
step "all tests passed"
