#!/bin/sh
# Run a command inside a private D-Bus session with an unlocked gnome-keyring (a real Secret
# Service), as the keychain tests need. The keyring lives only as long as the command, in a
# directory of its own: the user's login keyring is never touched, and items a test leaves
# behind never pile up from run to run (gnome-keyring 42 rewrites the whole file on every change;
# one that had grown to ~2,000 leftover items over a day of runs crashed mid-suite).
dir=$(mktemp -d "${TMPDIR:-/tmp}/stackperf-keyring.XXXXXX") || exit 1
STACKPERF_KEYRING_DATA="$dir" dbus-run-session -- sh -c '
  echo -n stackperf-test | XDG_DATA_HOME="$STACKPERF_KEYRING_DATA" \
    gnome-keyring-daemon --unlock --components=secrets >/dev/null 2>&1
  unset STACKPERF_KEYRING_DATA
  i=0; while [ $i -lt 100 ]; do
    dbus-send --session --print-reply --dest=org.freedesktop.DBus / org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null | grep -q "boolean true" && break
    i=$((i+1)); sleep 0.1
  done
  exec "$@"' sh "$@"
rc=$?
rm -rf "$dir"
exit $rc
