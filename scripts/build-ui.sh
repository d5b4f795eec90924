#!/usr/bin/env bash
# Build the desktop UI (ui/dist, embedded into the app at compile time): npm ci from the lock
# file (skipped while the lock is unchanged), type-check, Vite build.
set -euo pipefail
cd "$(dirname "$0")/../ui"
command -v npm >/dev/null 2>&1 || { echo "error: npm is needed to build the UI (Debian/Ubuntu: apt-get install nodejs npm)" >&2; exit 1; }
stamp=node_modules/.lock-sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "==> installing UI packages (npm ci in ui/)"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" > "$stamp"
fi
# Up to date (as make decides: nothing it is built from is newer than what was built): left as
# it is, so the desktop crate, which embeds ui/dist, is not rebuilt for a rewrite of the same files.
if [ -f dist/index.html ] && [ -z "$(find src public index.html package.json package-lock.json tsconfig.json vite.config.* \
    -newer dist/index.html -print -quit 2>/dev/null)" ]; then
  echo "==> the UI is up to date (ui/dist)"
  exit 0
fi
echo "==> building the UI (tsc --noEmit && vite build)"
npm run --silent build -- --logLevel warn
