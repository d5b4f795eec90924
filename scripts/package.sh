#!/usr/bin/env bash
# Build StackPerf's installable package: a release build of the desktop app and the CLI, bundled
# by the Tauri bundler into a .deb that declares its runtime dependencies (WebKitGTK, GTK 3,
# python3 + venv for the managed LiteLLM; Prometheus and gnome-keyring recommended) and ships the
# example configuration (/usr/share/stackperf/configs, copied to ~/.config/stackperf on first
# start). Prints the package's path on the last line.
#   scripts/package.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"

scripts/bootstrap.sh
scripts/build-ui.sh
echo "==> release build of the desktop app and the CLI (the package's /usr/bin/stackperf)"
# One cargo invocation for both binaries: their whole-program (LTO) link steps, each on one
# core, run side by side instead of one after the other. The desktop crate's default
# `custom-protocol` feature embeds the built UI, as `tauri build` would.
cargo build -q --release -p stackperf-desktop -p stackperf-cli
echo "==> the .deb (Tauri bundler, from the binaries just built)"
ui/node_modules/.bin/tauri bundle --bundles deb --ci >&2
version=$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' src-tauri/tauri.conf.json | head -1)
arch=$(dpkg --print-architecture 2>/dev/null || echo amd64)
deb="target/release/bundle/deb/stackperf_${version}_${arch}.deb"
[ -f "$deb" ] || { echo "error: the bundler did not write $deb" >&2; ls target/release/bundle/deb >&2 || true; exit 1; }
echo "==> built $deb ($(du -h "$deb" | cut -f1))" >&2
echo "$PWD/$deb"
