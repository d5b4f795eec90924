#!/usr/bin/env bash
# Start the stack, show it, and keep it up until Ctrl-C (then stop it). Used by scripts/run.sh.
set -euo pipefail
bin="$1"
cleanup() {
  trap - EXIT INT TERM HUP
  echo "==> stopping the stack"
  "$bin" stack down
}
trap cleanup EXIT
# Ctrl-C, kill or a closed terminal: leave through the EXIT trap so the stack is stopped.
trap 'exit 130' INT TERM HUP
"$bin" stack up
sim_port="${STACKPERF_SIM_PORT:-8765}"
litellm_port="${STACKPERF_LITELLM_PORT:-4000}"
edge_port="${STACKPERF_EDGE_PORT:-4100}"
cat <<MSG

==> The stack is up. Harnesses talk to StackPerf's edge: http://127.0.0.1:$edge_port
    (LiteLLM behind it: http://127.0.0.1:$litellm_port; simulator: http://127.0.0.1:$sim_port)
    stackperf stack status | stackperf stack logs litellm | stackperf doctor
    What the simulated provider served (ground truth): curl -s http://127.0.0.1:$sim_port/_sim/requests
    Press Ctrl-C to stop the stack.
MSG
if [ "${STACKPERF_PRIVATE_KEYRING:-}" = 1 ]; then
  cat <<MSG
    This run's keychain is private to it. In other terminals, first:
      export DBUS_SESSION_BUS_ADDRESS='$DBUS_SESSION_BUS_ADDRESS'
MSG
fi
# Wait for Ctrl-C (the EXIT trap stops the stack).
tail -f /dev/null &
wait $!
