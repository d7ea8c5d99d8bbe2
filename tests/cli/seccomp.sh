#!/usr/bin/env bash
# seccomp.sh: processes under seccomp filters. The whole test runs inside a filter
# (tests/fail/sandbox, as a container runtime would put it), shared by the tools and
# the counter: the counter is checkpointed with --kill and restarted, counts on, and
# has the filter again (inherited from cr_restart). A counter that added a filter of
# its own is refused with ENOTSUP (95), a message naming it, and runs on untouched.
#
#   BIN=build/bin TBIN=build/tests bash tests/cli/seccomp.sh
SANDBOX=$TBIN/fail/sandbox
if [ -z "${CREST_IN_SANDBOX:-}" ]; then
	if [ ! -x "$SANDBOX" ]; then
		echo "FAIL seccomp: setup: $SANDBOX is missing (make test-progs)"
		exit 1
	fi
	CREST_IN_SANDBOX=1 exec "$SANDBOX" bash "$0" "$@"
fi
# shellcheck source=tests/fail/common.bash
. "$(dirname "$0")/../fail/common.bash"
cd "$W" || exit 2

# shellcheck disable=SC2317 # called through wait_until
counts_past() { # counter file, n: it has counted beyond n
	local v
	v=$(count "$1") || return 1
	[ "$v" -gt "$2" ]
}
filters() { # pid: its number of seccomp filters
	awk '/^Seccomp_filters:/ {print $2}' "/proc/$1/status" 2>/dev/null
}
mine=$(filters $$)

# Under the filters every process here shares.
why=""
[ "${mine:-0}" -ge 1 ] || why="the test does not run under a filter;"
start_counter shared || why="$why the counter did not start;"
run "$CKPT" --kill -f "$W/shared.ctx" "$pid"
[ "$rc" = 0 ] || why="$why checkpoint: exit $rc: $(errline);"
wait "$pid" 2>/dev/null
if [ "$rc" = 0 ]; then
	start_restart "$W/shared.ctx"
	n=$(count "$W/shared.count")
	wait_until counts_past "$W/shared.count" "$((n + 2))" ||
		why="$why it does not count after the restart: $(tr '\n' '|' <"$W/rerr");"
	[ "$(filters "$pid")" = "$mine" ] ||
		why="$why restarted with $(filters "$pid") filters, not $mine;"
	kill -KILL "$pid" 2>/dev/null
	reap "$rpid"
fi
verdict "under the filters the tools share: checkpoint, restart, the filters again" "$why"

# A filter of its own.
why=""
"$SANDBOX" "$COUNTER" "$W/own.count" </dev/null >/dev/null 2>&1 &
pid=$!
started+=("$pid")
wait_until has_count "$W/own.count" || why="the counter did not start;"
run "$CKPT" -f "$W/own.ctx" "$pid"
[ "$rc" = 95 ] || why="$why exit $rc, want 95 (ENOTSUP);"
grep -q "pid $pid runs under seccomp (filters of its own)" "$W/err" || why="$why message: $(errline);"
[ -e "$W/own.ctx" ] && why="$why a context was written;"
[ "$(tracer "$pid")" = 0 ] || why="$why left traced;"
n=$(count "$W/own.count")
wait_until counts_past "$W/own.count" "$((n + 2))" || why="$why it stopped counting;"
kill_wait "$pid"
verdict "a filter of its own: ENOTSUP, named, the process runs on" "$why"
finish
