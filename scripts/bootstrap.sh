#!/usr/bin/env bash
# Make sure the machine has what StackPerf builds, runs and (with --test) tests with. On
# Debian/Ubuntu missing system packages are installed with apt-get (as root, or through sudo);
# elsewhere it says what to install.
#   scripts/bootstrap.sh          build + run: compiler, python3 + venv, Prometheus, a Secret Service
#   scripts/bootstrap.sh --test   also: docker-compose (static Compose check), libsecret-tools,
#                                 Xvfb + WebKitWebDriver + Chromium for the desktop UI tests
set -euo pipefail
for_tests=false
[ "${1:-}" = "--test" ] && for_tests=true

need_apt=()
command -v cc >/dev/null 2>&1 || need_apt+=(build-essential)
command -v pkg-config >/dev/null 2>&1 || need_apt+=(pkg-config)
command -v git >/dev/null 2>&1 || need_apt+=(git)
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
if ! command -v python3 >/dev/null 2>&1; then
  need_apt+=(python3 python3-venv)
elif ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
  need_apt+=(python3-venv)
fi

command -v prometheus >/dev/null 2>&1 || need_apt+=(prometheus)
if [ "$(uname -s)" = Linux ]; then
  # The OS keychain on Linux is a Secret Service; headless machines get gnome-keyring's.
  command -v gnome-keyring-daemon >/dev/null 2>&1 || need_apt+=(gnome-keyring)
  command -v dbus-run-session >/dev/null 2>&1 || need_apt+=(dbus)
fi
if [ "$(uname -s)" = Linux ]; then
  # The desktop app (Tauri 2) links WebKitGTK 4.1 and GTK 3.
  for pkg in libwebkit2gtk-4.1-dev libgtk-3-dev librsvg2-dev libsoup-3.0-dev \
             libjavascriptcoregtk-4.1-dev libayatana-appindicator3-dev libxdo-dev libssl-dev file; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
  done
  command -v npm >/dev/null 2>&1 || need_apt+=(nodejs npm)
fi
if $for_tests; then
  if [ "$(uname -s)" = Linux ]; then
    for pkg in xvfb xauth xclip webkit2gtk-driver imagemagick fonts-dejavu-core procps desktop-file-utils; do
      dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
    done
  fi
  command -v docker-compose >/dev/null 2>&1 || need_apt+=(docker-compose)
  command -v secret-tool >/dev/null 2>&1 || need_apt+=(libsecret-tools)
  command -v npm >/dev/null 2>&1 || need_apt+=(nodejs npm)
  command -v timeout >/dev/null 2>&1 || need_apt+=(coreutils)
  # The store's tests run on PostgreSQL too: a server of the tests' own (initdb into target/).
  compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need_apt+=(postgresql)
fi

if [ ${#need_apt[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "==> installing system packages: ${need_apt[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
  else
    echo "error: missing system packages: ${need_apt[*]} (install them with your package manager)" >&2
    exit 1
  fi
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "error: Rust is not installed. Install the stable toolchain (https://rustup.rs), then re-run." >&2
  exit 1
fi
rust_minor=$(rustc --version | sed -E 's/rustc 1\.([0-9]+).*/\1/')
if [ "${rust_minor:-0}" -lt 89 ]; then
  echo "error: Rust $(rustc --version) is too old; StackPerf needs 1.89 or newer (rustup update stable)." >&2
  exit 1
fi
