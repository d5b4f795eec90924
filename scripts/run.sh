#!/usr/bin/env bash
# README's run command: build StackPerf (UI, desktop app, CLI), validate and register the shipped
# configuration, and open the desktop app. Press "Start stack" in the window to bring up LiteLLM
# (installed on first use), the simulated provider and Prometheus. Closing the window stops the
# stack the app started (the app does it itself).
#   scripts/run.sh              the desktop app
#   scripts/run.sh --headless   no window: bring up the stack in this terminal (Ctrl-C stops it)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
headless=false
[ "${1:-}" = "--headless" ] && headless=true

scripts/bootstrap.sh
if ! $headless; then
  scripts/build-ui.sh
fi
echo "==> building stackperf (the first build takes a few minutes)"
if $headless; then
  cargo build -q -p stackperf-cli
else
  cargo build -q -p stackperf-cli -p stackperf-desktop
fi
bin="$PWD/target/debug/stackperf"
export STACKPERF_CONFIG_DIR="${STACKPERF_CONFIG_DIR:-$PWD/configs}"

echo "==> validating configs/"
"$bin" config validate
echo "==> registering the configuration in $("$bin" db path)"
"$bin" config sync >/dev/null

private=false
if [ "$(uname -s)" = Linux ] && [ -z "${DBUS_SESSION_BUS_ADDRESS:-}" ]; then
  echo "==> no desktop session bus: using a private Secret Service for this run (keys stored now last until it ends)"
  private=true
fi

if $headless; then
  if $private; then
    STACKPERF_PRIVATE_KEYRING=1 exec scripts/with-keyring.sh scripts/run-stack.sh "$bin"
  fi
  exec scripts/run-stack.sh "$bin"
fi

if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ] && [ "$(uname -s)" = Linux ]; then
  echo "error: no display (DISPLAY / WAYLAND_DISPLAY are unset). Run this from a desktop session," >&2
  echo "       under Xvfb (xvfb-run scripts/run.sh), or use scripts/run.sh --headless for the stack alone." >&2
  exit 1
fi
echo "==> opening StackPerf (press Start stack in the window)"
if $private; then
  exec scripts/with-keyring.sh target/debug/stackperf-desktop
fi
exec target/debug/stackperf-desktop
