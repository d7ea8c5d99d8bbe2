#!/usr/bin/env bash
# The README's example, examples/libcr_reconnect.c: its thread-context callback closes
# its log before a checkpoint and opens it again after, in the process that goes on and
# in a restarted copy. Needs CR_CHECKPOINT, CR_RESTART and EX (the built example).
set -u
pids=()
# shellcheck disable=SC2317 # called by the trap
cleanup() {
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
	wait 2>/dev/null
}
trap cleanup EXIT

# wait_for PATTERN: until the log has a line matching it (bounded).
wait_for() {
	for _ in $(seq 300); do
		grep -q -- "$1" log 2>/dev/null && return 0
		sleep 0.02
	done
	return 1
}

"$EX" log &
pid=$!
pids+=("$pid")
if wait_for "^1 counting" && "$CR_CHECKPOINT" -f ctx.ex "$pid" &&
	wait_for "checkpoint taken: log opened again"; then
	echo "PASS example: the log is closed and opened again around a checkpoint"
else
	echo "FAIL example: continue: $(tail -n 3 log 2>/dev/null | tr '\n' '|')"
fi
kill -9 "$pid"
wait "$pid" 2>/dev/null
"$CR_RESTART" ctx.ex >/dev/null 2>&1 &
pids+=($!)
if wait_for "restarted: log opened again" && wait_for "(pid $pid)"; then
	echo "PASS example: the restarted copy opens its log again"
else
	echo "FAIL example: restart: $(tail -n 3 log 2>/dev/null | tr '\n' '|')"
fi
exit 0
