# common.bash: what the failure-path tests (tests/fail/*.sh) share. Sourced, not run.
#
# Environment: BIN (the tools: cr_checkpoint, cr_restart, cr_info) and TBIN (the test
# build: fail/counter, fail/ctxtool, fail/atpid). Each test prints "PASS name" or
# "FAIL name: why" per case and exits non-zero if any case failed. Everything runs in
# a fresh directory that is removed at the end; every process started is killed.
# shellcheck shell=bash

set -u
: "${BIN:?BIN must name the directory of the crest tools}"
: "${TBIN:?TBIN must name the test build directory}"
export LIBCR_DISABLE_NSCD=1
unset CREST_FAULT

CKPT=$BIN/cr_checkpoint
RSTRT=$BIN/cr_restart
INFO=$BIN/cr_info
COUNTER=$TBIN/fail/counter
CTXTOOL=$TBIN/fail/ctxtool
ATPID=$TBIN/fail/atpid
SUITE=$(basename "$0" .sh)
TOOL_TIMEOUT=${TOOL_TIMEOUT:-60}
WAIT_TIMEOUT=${WAIT_TIMEOUT:-10}

nfail=0
npass=0
started=() # pids to kill at the end

W=$(mktemp -d "${TMPDIR:-/tmp}/crest-$SUITE.XXXXXX") || exit 2

cleanup() {
	local p c
	for p in "${started[@]}"; do
		# A subshell's child (start_restart's cr_restart) and its children first.
		for c in $(children "$p"); do
			# shellcheck disable=SC2046 # a list of pids
			kill -KILL $(children "$c") "$c" 2>/dev/null
		done
		kill -KILL "$p" 2>/dev/null
	done
	for p in "${started[@]}"; do
		wait "$p" 2>/dev/null
	done
	cd / && rm -rf "$W"
}
trap cleanup EXIT

pass() { # name
	npass=$((npass + 1))
	echo "PASS $SUITE: $1"
}

fail() { # name, why
	nfail=$((nfail + 1))
	echo "FAIL $SUITE: $1: $2"
}

# The verdict of a case from a list of problems ("" = none).
verdict() { # name, problems
	if [ -z "$2" ]; then
		pass "$1"
	else
		fail "$1" "$2"
	fi
}

finish() {
	[ "$nfail" = 0 ]
	exit $?
}

for t in "$CKPT" "$RSTRT" "$INFO" "$COUNTER" "$CTXTOOL" "$ATPID"; do
	if [ ! -x "$t" ]; then
		fail "setup" "$t is missing (make all test-progs)"
		exit 1
	fi
done

# Run a tool with a bound; stdout in $W/out, stderr in $W/err, status in $rc.
# (The braces keep bash's "Killed" notices, for a tool that mimics a killed
# process, out of the test's output.)
run() { # command...
	{
		timeout -k 5 "$TOOL_TIMEOUT" "$@" >"$W/out" 2>"$W/err" </dev/null
		# shellcheck disable=SC2034 # for the caller
		rc=$?
	} 2>/dev/null
}

# A crash: killed by a signal (or timed out), or a sanitizer report.
crashed() { # rc, stderr file
	[ "$1" -ge 124 ] && [ "$1" -lt 255 ] && return 0
	grep -qE 'AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:' "$2"
}

# One line of stderr for messages, made short.
errline() {
	tr '\n' '|' <"$W/err" | cut -c1-300
}

# Wait until a command succeeds, at most WAIT_TIMEOUT seconds.
wait_until() { # command...
	local i
	for ((i = 0; i < WAIT_TIMEOUT * 50; i++)); do
		"$@" && return 0
		sleep 0.02
	done
	return 1
}

alive() { [ -d "/proc/$1" ] && [ "$(state "$1")" != Z ]; }
gone() { ! alive "$1"; }

state() { # pid: the state letter from /proc/PID/stat
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	s=${s##*) }
	echo "${s%% *}"
}

state_is() { [ "$(state "$1")" = "$2" ]; } # pid, letter
comm_is() { [ "$(comm "$1")" = "$2" ]; }   # pid, name
# A restored process is ready once it runs the program and crest has let it go.
ready_at() { comm_is "$1" "$2" && [ "$(tracer "$1")" = 0 ]; } # pid, name

tracer() { # pid
	awk '/^TracerPid:/ {print $2}' "/proc/$1/status" 2>/dev/null
}

comm() { # pid
	cat "/proc/$1/comm" 2>/dev/null
}

count() { # counter file: its value, or nothing
	local v
	read -r v 2>/dev/null <"$1" || return 1
	case $v in
	'' | *[!0-9]*) return 1 ;;
	esac
	echo $((10#$v))
}

has_count() { count "$1" >/dev/null; }

# Wait for a counter to go past its current value.
progresses() { # counter file
	local v0
	v0=$(count "$1") || v0=0
	# shellcheck disable=SC2317
	past() { local v; v=$(count "$1") && [ "$v" -gt "$2" ]; }
	wait_until past "$1" "$v0"
}

# Check a counter does not move for a while (the process is stopped).
still() { # counter file
	local v0 v1
	v0=$(count "$1") || return 1
	sleep 0.2
	v1=$(count "$1") || return 1
	[ "$v0" = "$v1" ]
}

# Start a counter as our child; sets $pid. The counter file is $W/NAME.count.
start_counter() { # name [extra memory areas]
	rm -f "$W/$1.count"
	"$COUNTER" "$W/$1.count" ${2:+"$2"} </dev/null >/dev/null 2>&1 &
	pid=$!
	started+=("$pid")
	wait_until has_count "$W/$1.count"
}

# Kill a child of ours and reap it.
kill_wait() { # pid
	kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	return 0
}

# Kill a process that is not our child and wait for it to vanish.
kill_gone() { # pid
	kill -KILL "$1" 2>/dev/null
	wait_until gone "$1"
}

# Start a background restart: sets $rpid, a subshell of ours whose child is
# cr_restart and which exits with cr_restart's status (so that bash has no killed job
# of its own to report). cr_restart's output goes to $W/rout and $W/rerr.
start_restart() { # args...
	(
		"$RSTRT" "$@"
		exit $?
	) </dev/null >"$W/rout" 2>"$W/rerr" &
	rpid=$!
	started+=("$rpid")
}

# The processes a restart started with start_restart runs (cr_restart's children).
restored() {
	local c
	for c in $(children "$rpid"); do
		children "$c"
	done
}

# Wait for a child of ours, quietly: sets $rrc. (bash reports a background job killed
# by a signal at the next command it runs; here that is inside the braces.)
reap() { # pid
	{
		wait "$1"
		# shellcheck disable=SC2034 # for the caller
		rrc=$?
		:
	} 2>/dev/null
}

# The children of a process.
children() { # pid
	cat "/proc/$1/task/$1/children" 2>/dev/null
}
