#!/usr/bin/env bash
# Create (or refresh) the test environment: .venv-test with the hash-locked Python SDKs, and
# tests/harness/node_modules with the locked harness CLIs (Claude Code) from the npm registry.
# Idempotent: nothing is reinstalled while the lock files are unchanged.
#   scripts/test-env.sh            the above
#   scripts/test-env.sh --window   the above, and what the window tests drive the app with:
#                                  tauri-driver (crates.io) and tests/ui's WebDriver client (npm)
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv-test
lock=tests/python/requirements.txt
stamp="$venv/.lock-sha256"
want=$(sha256sum "$lock" | cut -d' ' -f1)

if ! { [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; }; then
  echo "==> creating the SDK test environment in $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --require-hashes --no-deps -r "$lock"
  "$venv/bin/python" -c 'import openai, anthropic, pyarrow; print("    openai", openai.__version__, "/ anthropic", anthropic.__version__, "/ pyarrow", pyarrow.__version__)'
  echo "$want" > "$stamp"
fi

harness=tests/harness
hstamp="$harness/node_modules/.lock-sha256"
hwant=$(sha256sum "$harness/package-lock.json" | cut -d' ' -f1)
if ! { [ -x "$harness/node_modules/.bin/gemini" ] && [ "$(cat "$hstamp" 2>/dev/null)" = "$hwant" ]; }; then
  command -v npm >/dev/null 2>&1 || { echo "error: npm is needed for the harness tests (Debian/Ubuntu: apt-get install nodejs npm)" >&2; exit 1; }
  echo "==> installing the harness CLIs (npm install from the lock in $harness)"
  # Not `npm ci`: the registry serves only some platform builds of OpenCode's optional packages, so
  # the lock cannot list the others and `npm ci` refuses it; `npm install` keeps the locked
  # versions and skips optional packages that do not exist.
  (cd "$harness" && npm install --no-save --no-audit --no-fund --loglevel=error)
  for cli in claude codex opencode gemini; do
    "$harness/node_modules/.bin/$cli" --version </dev/null
  done
  echo "$hwant" > "$hstamp"
fi

# OpenHands (PyPI, hash-locked in tests/harness/openhands.lock) needs CPython 3.12: python3.12 on
# PATH, or pyenv's (these machines have it: `pyenv versions`). Without one, the runs test leaves
# OpenHands out and says so; on CI it is required.
oh=tests/harness/openhands-venv
olock=tests/harness/openhands.lock
ostamp="$oh/.lock-sha256"
owant=$(sha256sum "$olock" | cut -d' ' -f1)
if ! { [ -x "$oh/bin/openhands" ] && [ "$(cat "$ostamp" 2>/dev/null)" = "$owant" ]; }; then
  py312=""
  for p in "$(command -v python3.12 || true)" "$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")"/versions/3.12*/bin/python3; do
    if [ -n "$p" ] && [ -x "$p" ] && "$p" -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null; then
      py312=$p
      break
    fi
  done
  if [ -z "$py312" ]; then
    msg="OpenHands needs CPython 3.12 (Ubuntu 24.04: apt-get install python3.12-venv; elsewhere: pyenv install 3.12)"
    if [ "${CI:-}" = "true" ]; then echo "error: $msg" >&2; exit 1; fi
    echo "warning: $msg — the runs test leaves OpenHands out" >&2
  else
    echo "==> installing OpenHands into $oh (Python $("$py312" -c 'import platform; print(platform.python_version())'), from the lock)"
    rm -rf "$oh"
    "$py312" -m venv "$oh"
    "$oh/bin/python" -m pip install -q --disable-pip-version-check --require-hashes --no-deps -r "$olock"
    # LiteLLM (imported by OpenHands) fetches its model cost map from the network at import
    # unless told to use its bundled copy, as the harness profile tells it for real sessions.
    LITELLM_LOCAL_MODEL_COST_MAP=True "$oh/bin/openhands" --version </dev/null | tail -1
    echo "$owant" > "$ostamp"
  fi
fi

if [ "${1:-}" = "--window" ]; then
  if [ ! -x target/tools/bin/tauri-driver ]; then
    echo "==> installing tauri-driver into target/tools (cargo install, from crates.io)"
    # A tool from crates.io, not ours: built without CI's lint settings (.ci/run), and in debug:
    # it only relays WebDriver commands (a release build took 65 CPU-s here, this one 39).
    env -u RUSTC_WORKSPACE_WRAPPER -u RUSTFLAGS \
      cargo install -q --debug --locked --root target/tools tauri-driver --version 2.1.0
  fi
  ustamp=tests/ui/node_modules/.lock-sha256
  uwant=$(sha256sum tests/ui/package-lock.json | cut -d' ' -f1)
  if [ "$(cat "$ustamp" 2>/dev/null)" != "$uwant" ]; then
    echo "==> installing the window tests' WebDriver client (npm ci in tests/ui)"
    (cd tests/ui && npm ci --no-audit --no-fund --loglevel=error)
    echo "$uwant" > "$ustamp"
  fi
fi
