#!/usr/bin/env bash
# Create (or refresh) .venv-test with the hash-locked Python SDKs the end-to-end tests drive.
# Idempotent: does nothing when the lock file has not changed since the last install.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv-test
lock=tests/python/requirements.txt
stamp="$venv/.lock-sha256"
want=$(sha256sum "$lock" | cut -d' ' -f1)

if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  exit 0
fi
echo "==> creating the SDK test environment in $venv"
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check --require-hashes --no-deps -r "$lock"
"$venv/bin/python" -c 'import openai, anthropic; print("    openai", openai.__version__, "/ anthropic", anthropic.__version__)'
echo "$want" > "$stamp"
