#!/usr/bin/env bash
# A context streamed through a pipe: cr_checkpoint -F 1 | cr_restart -F 0, and the
# same through cr_info -F 0. Env: BIN (tools), TBIN (test build).
set -u
work=$(mktemp -d /tmp/crest-stream.XXXXXX)
cd "$work" || exit 2
pids=()
trap 'kill -9 "${pids[@]}" 2>/dev/null; rm -rf "$work"' EXIT
fails=0
pass() { echo "PASS stream/$1"; }
fail() { echo "FAIL stream/$1: $2"; fails=$((fails + 1)); }

# Wait (bounded) until a file has at least n lines.
lines_at_least() { # file n
	for _ in $(seq 500); do
		[ "$(wc -l <"$1" 2>/dev/null || echo 0)" -ge "$2" ] && return 0
		sleep 0.01
	done
	return 1
}

"$TBIN/../../build/examples/counter" log >/dev/null 2>&1 &
pid=$!
pids+=("$pid")
lines_at_least log 3 || fail setup "counter did not start"

# Streamed through cr_info: the whole context checks out.
if "$BIN/cr_checkpoint" -F 1 -p "$pid" | "$BIN/cr_info" -F 0 >info.txt 2>err.txt; then
	grep -q "pid: $pid" info.txt && pass info || fail info "cr_info does not show pid $pid"
else
	fail info "cr_info -F 0 failed: $(cat err.txt)"
fi

# Streamed into cr_restart: the process comes back at its pid and carries on.
"$BIN/cr_checkpoint" -F 1 --kill -p "$pid" | "$BIN/cr_restart" -F 0 >/dev/null 2>rst.err &
rpid=$!
pids+=("$rpid")
wait "$pid" 2>/dev/null # reap the killed original so its pid is free
n=$(wc -l <log)
if lines_at_least log $((n + 3)) && [ "$(ps -o ppid= -p "$pid" | tr -d ' ')" = "$rpid" ]; then
	pass restart
else
	fail restart "no progress after the streamed restart: $(cat rst.err)"
fi
kill "$pid" 2>/dev/null
wait "$rpid" 2>/dev/null
[ $fails = 0 ]
