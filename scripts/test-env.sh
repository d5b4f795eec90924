#!/usr/bin/env bash
# Create (or refresh) the test environment: .venv-test with the hash-locked Python SDKs, and
# tests/harness/node_modules with the locked harness CLIs (Claude Code) from the npm registry.
# Idempotent: nothing is reinstalled while the lock files are unchanged.
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
