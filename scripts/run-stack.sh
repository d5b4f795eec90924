#!/usr/bin/env bash
# Start the stack, show it, and keep it up until Ctrl-C (then stop it). Used by scripts/run.sh.
set -euo pipefail
bin="$1"
trap '"$bin" stack down' EXIT
"$bin" stack up
sim_port="${STACKPERF_SIM_PORT:-8765}"
litellm_port="${STACKPERF_LITELLM_PORT:-4000}"
cat <<MSG

==> The stack is up. LiteLLM: http://127.0.0.1:$litellm_port  simulator: http://127.0.0.1:$sim_port
    stackperf stack status | stackperf stack logs litellm | stackperf doctor
    What the simulated provider served (ground truth): curl -s http://127.0.0.1:$sim_port/_sim/requests
    Press Ctrl-C to stop the stack.
MSG
# Wait for Ctrl-C (the EXIT trap stops the stack).
tail -f /dev/null &
wait $!
