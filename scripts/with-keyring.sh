#!/bin/sh
# Run a command inside a private D-Bus session with an unlocked gnome-keyring (a real Secret
# Service), as the keychain tests need. The keyring lives only as long as the command.
exec dbus-run-session -- sh -c '
  echo -n stackperf-test | gnome-keyring-daemon --unlock --components=secrets >/dev/null 2>&1
  i=0; while [ $i -lt 100 ]; do
    dbus-send --session --print-reply --dest=org.freedesktop.DBus / org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null | grep -q "boolean true" && break
    i=$((i+1)); sleep 0.1
  done
  exec "$@"' sh "$@"
