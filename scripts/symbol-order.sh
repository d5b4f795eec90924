#!/usr/bin/env bash
# Regenerate src-tauri/symbol-order.txt: the desktop app's functions that run from start to 5 s
# of idle, which release builds lay out together (see src-tauri/build.rs). Builds the release
# desktop app the way the package does (alone: building it with the CLI in one cargo call unifies
# features and renames most symbols), runs it under Valgrind's callgrind in Xvfb with fresh
# settings and data until its first paint plus 5 s, and lists the functions of its own binary
# that ran, in the binary's address order. Needs valgrind (apt install valgrind). Re-run it after
# a dependency, feature or toolchain change; scripts/bench-desktop.sh prints how many of the
# names the build it measures still has.
#   scripts/symbol-order.sh
#   scripts/symbol-order.sh --count BIN   how many of the listed functions BIN has
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = --count ]; then
  nm --defined-only "$2" | awk 'NR == FNR { want[$1] = 1; next } ($3 in want) { n++ } END { print n + 0 }' src-tauri/symbol-order.txt -
  exit 0
fi
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
for tool in valgrind callgrind_control Xvfb nm; do
  command -v "$tool" >/dev/null || { echo "error: $tool is needed (apt install valgrind xvfb binutils)" >&2; exit 1; }
done
scripts/build-ui.sh
echo "==> release build of the desktop app"
cargo build -q --release -p stackperf-desktop
bin="$PWD/target/release/stackperf-desktop"
work=$(mktemp -d)
display=":$((200 + RANDOM % 400))"
cleanup() {
  [ -n "${app:-}" ] && kill "$app" 2>/dev/null || true
  [ -n "${xvfb:-}" ] && kill "$xvfb" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
Xvfb "$display" -screen 0 1280x860x24 -nolisten tcp 2>/dev/null & xvfb=$!
for _ in $(seq 100); do [ -e "/tmp/.X11-unix/X${display#:}" ] && break; sleep 0.1; done
echo "==> running it under callgrind until first paint + 5 s (about a minute)"
DISPLAY="$display" STACKPERF_DATA_DIR="$work/data" XDG_CONFIG_HOME="$work/config" \
  scripts/with-keyring.sh valgrind --tool=callgrind --demangle=no --trace-children=no \
  --callgrind-out-file="$work/cg.out.%p" "$bin" > "$work/log" 2>&1 & app=$!
for _ in $(seq 1800); do grep -q "first paint" "$work/log" && break; sleep 0.1; done
grep -q "first paint" "$work/log" || { echo "error: no first paint in 3 min; its log:" >&2; tail -20 "$work/log" >&2; exit 1; }
sleep 5 # the idle time the memory figure is taken after
vg=$(sed -n 's/^==\([0-9]*\)==.*/\1/p' "$work/log" | head -1) # valgrind's pid: the app's
callgrind_control -d "$vg" >/dev/null 2>&1
for _ in $(seq 300); do [ -s "$work/cg.out.$vg.1" ] && break; sleep 0.1; done
kill "$vg"; wait "$app" 2>/dev/null || true; app=
# Names of the functions with a cost in our binary's object (callgrind compresses each name to
# "(id)" after its first use; fn and cfn share the ids).
perl -ne '
  BEGIN { $bin = shift @ARGV }
  next unless /^(c?ob|c?fn)=\((\d+)\)(?: (.*))?$/;
  my ($k, $id, $name) = ($1, $2, $3);
  if ($k =~ /ob$/) { $ob{$id} = $name if defined $name; $cur = $ob{$id} if $k eq "ob" }
  else { $fn{$id} = $name if defined $name; print "$fn{$id}\n" if $k eq "fn" && $cur eq $bin }
  ' "$bin" "$work"/cg.out* | sort -u > "$work/ran"
nm -n --defined-only "$bin" | awk 'NR == FNR { ran[$1] = 1; next } $2 ~ /^[tT]$/ && ($3 in ran) { print $3 }' \
  "$work/ran" - > src-tauri/symbol-order.txt
echo "==> src-tauri/symbol-order.txt: $(wc -l < src-tauri/symbol-order.txt) functions ($(wc -l < "$work/ran") ran in the binary)"
