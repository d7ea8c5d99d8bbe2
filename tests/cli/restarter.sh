#!/usr/bin/env bash
# Checkpointing a running cr_restart (BLCR's --omit-*): with the default
# (--omit-maybe) a cr_restart that is the target is left out and the process it
# restored is saved; with --omit-never it is saved too. Env: BIN (tools), TBIN.
set -u
work=$(mktemp -d /tmp/crest-restarter.XXXXXX)
cd "$work" || exit 2
pids=()
trap 'kill -9 "${pids[@]}" 2>/dev/null; rm -rf "$work"' EXIT
fails=0
pass() { echo "PASS restarter/$1"; }
fail() { echo "FAIL restarter/$1: $2"; fails=$((fails + 1)); }
counter=$TBIN/../examples/counter
[ -x "$counter" ] || counter=$TBIN/../../build/examples/counter

lines() { wc -l <"$1" 2>/dev/null || echo 0; }
grows() { # file: more lines within 5 s
	local n
	n=$(lines "$1")
	for _ in $(seq 500); do
		[ "$(lines "$1")" -gt "$n" ] && return 0
		sleep 0.01
	done
	return 1
}
gone() { # pid: vanished within 10 s
	for _ in $(seq 1000); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.01
	done
	return 1
}

for policy in maybe never; do
	"$counter" log.$policy >/dev/null 2>&1 &
	pid=$!
	pids+=("$pid")
	grows log.$policy || fail $policy "counter did not start"
	"$BIN/cr_checkpoint" --kill -f first.$policy "$pid"
	wait "$pid" 2>/dev/null
	"$BIN/cr_restart" "--omit-$policy" first.$policy >/dev/null 2>&1 &
	r1=$!
	pids+=("$r1")
	grows log.$policy || fail $policy "no progress after the first restart"
	# Checkpoint cr_restart's tree, and kill it.
	"$BIN/cr_checkpoint" --tree --kill -f second.$policy "$r1" 2>err.$policy ||
		fail $policy "checkpoint of cr_restart's tree failed: $(cat err.$policy)"
	wait "$r1" 2>/dev/null
	gone "$pid" || fail $policy "pid $pid still there"
	n=$("$BIN/cr_info" second.$policy | grep -c '^  - process')
	if [ $policy = maybe ]; then
		[ "$n" = 1 ] && pass "maybe-leaves-cr_restart-out" ||
			fail maybe "$n processes saved, want 1 (cr_restart left out)"
	else
		[ "$n" = 2 ] && pass "never-saves-cr_restart-too" ||
			fail never "$n processes saved, want 2"
	fi
	"$BIN/cr_restart" second.$policy >/dev/null 2>&1 &
	r2=$!
	pids+=("$r2")
	if grows log.$policy; then
		pass "$policy-restarts-again"
	else
		fail "$policy-restarts-again" "no progress after the second restart"
	fi
	kill "$pid" 2>/dev/null
	wait "$r2" 2>/dev/null
done
[ $fails = 0 ]
