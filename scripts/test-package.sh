#!/usr/bin/env bash
# The package test (part of scripts/test.sh): build the .deb (scripts/package.sh), install it with
# apt-get, start the installed app as a new user under Xvfb (first paint figure, the shipped sim
# experiment copied to ~/.config/stackperf, light and dark screenshots), check the installed CLI,
# then purge the package and check nothing of it is left. Needs root (or sudo) for apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"

deb=$(scripts/package.sh | tail -1)
if dpkg -s stackperf >/dev/null 2>&1; then
  echo "==> removing an earlier install of stackperf"
  $sudo apt-get purge -y -qq stackperf >/dev/null
fi
echo "==> apt-get install $deb"
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$deb" >/dev/null
files=$(dpkg -L stackperf)
for f in /usr/bin/stackperf-desktop /usr/bin/stackperf /usr/share/applications/stackperf.desktop \
         /usr/share/icons/hicolor/256x256/apps/stackperf-desktop.png \
         /usr/share/stackperf/configs/experiments/sim-profiles.yaml; do
  grep -qx "$f" <<<"$files" || { echo "error: the package does not install $f" >&2; exit 1; }
done
depends=$(dpkg-query -W -f='${Depends}' stackperf)
for d in libwebkit2gtk-4.1-0 libgtk-3-0 libegl1 python3 python3-venv; do
  grep -q "$d" <<<"$depends" || { echo "error: the package does not depend on $d (Depends: $depends)" >&2; exit 1; }
done
if command -v desktop-file-validate >/dev/null 2>&1; then
  desktop-file-validate /usr/share/applications/stackperf.desktop
fi
echo "==> the installed app as a new user (Xvfb, WebDriver)"
export STACKPERF_CACHE_DIR="${STACKPERF_CACHE_DIR:-$PWD/target/stackperf-cache}"
scripts/with-keyring.sh node tests/ui/installed.mjs 2> >(grep -v -e '^dbus-daemon' -e SpiRegistry >&2)

echo "==> apt-get purge stackperf"
$sudo apt-get purge -y -qq stackperf >/dev/null
if dpkg -s stackperf >/dev/null 2>&1; then
  echo "error: stackperf is still installed after purge" >&2
  exit 1
fi
left=0
while read -r f; do
  if [ -f "$f" ] || [ -L "$f" ]; then echo "error: $f is left after purge" >&2; left=1; fi
done <<<"$files"
[ -d /usr/share/stackperf ] && { echo "error: /usr/share/stackperf is left after purge" >&2; left=1; }
[ "$left" -eq 0 ]
echo "    package test passed: installed, started, found its configuration, removed cleanly"
