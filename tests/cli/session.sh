#!/usr/bin/env bash
# A session leader with two process groups (tests/fail/sessjob.c), checkpointed as a
# session (-s) and restarted with --restore-pgid --restore-sid: every pid, pgid and
# sid as before; restarted without them: every process in cr_restart's group and
# session; a taken group id with --restore-pgid: EBUSY. Env: BIN (tools), TBIN.
set -u
work=$(mktemp -d /tmp/crest-session.XXXXXX)
cd "$work" || exit 2
pids=()
cleanup() {
	for p in "${pids[@]}"; do pkill -9 -s "$p" 2>/dev/null; kill -9 "$p" 2>/dev/null; done
	rm -rf "$work"
}
trap cleanup EXIT
fails=0
pass() { echo "PASS session/$1"; }
fail() { echo "FAIL session/$1: $2"; fails=$((fails + 1)); }

ready() { for _ in $(seq 500); do [ -s "$1" ] && return 0; sleep 0.01; done; return 1; }
gone() { for _ in $(seq 1000); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.01; done; return 1; }
# "pid pgid sid" of every process of session $1, sorted.
ids_of_session() { ps -e -o pid=,pgid=,sid= | awk -v s="$1" '$3 == s {print $1, $2, $3}' | sort -n; }
# The same for pids in a list, with their own pgid and sid.
ids_of() { for p in "$@"; do ps -o pid=,pgid=,sid= -p "$p"; done | awk '{print $1, $2, $3}' | sort -n; }
# The restart is over when all of these pids exist and none is traced any more (their
# groups are joined while they are still traced).
restored() {
	local p t
	for p in "$@"; do
		# Untraced, and the saved program again (before it is seized, it is an
		# untraced copy of cr_restart).
		t=$(awk '/^TracerPid:/ {print $2}' "/proc/$p/status" 2>/dev/null)
		[ "$t" = 0 ] && [ "$(cat "/proc/$p/comm" 2>/dev/null)" = sessjob ] || return 1
	done
}

"$TBIN/fail/sessjob" ready1 </dev/null >/dev/null 2>&1 &
job=$!
pids+=("$job")
ready ready1 || fail start "sessjob did not start"
before=$(ids_of_session "$job")
[ "$(echo "$before" | wc -l)" = 4 ] || fail start "want 4 processes in the session: $before"
"$BIN/cr_checkpoint" -s --kill -f ctx "$job" || fail checkpoint "cr_checkpoint -s failed"
wait "$job" 2>/dev/null
for p in $(echo "$before" | awk '{print $1}'); do gone "$p" || fail checkpoint "pid $p left"; done

# All ids back.
"$BIN/cr_restart" --restore-pgid --restore-sid ctx >/dev/null 2>err1 &
r=$!
pids+=("$job" "$r")
list=$(echo "$before" | awk '{print $1}')
# shellcheck disable=SC2086 # a list of pids
for _ in $(seq 1000); do restored $list && break; sleep 0.01; done
after=$(ids_of_session "$job")
[ "$after" = "$before" ] && pass "restore-pgid-sid" ||
	fail "restore-pgid-sid" "before: $(echo $before) after: $(echo $after) ($(cat err1))"
pkill -9 -s "$job"
wait "$r" 2>/dev/null
for p in $(echo "$before" | awk '{print $1}'); do gone "$p"; done

# Default: they join cr_restart's group and session.
"$BIN/cr_restart" ctx >/dev/null 2>err2 &
r=$!
pids+=("$r")
# shellcheck disable=SC2086 # a list of pids
for _ in $(seq 1000); do restored $list && break; sleep 0.01; done
mine=$(ps -o pgid=,sid= -p "$r" | awk '{print $1, $2}')
bad=$(ids_of $list | awk -v m="$mine" '($2 " " $3) != m')
[ -z "$bad" ] && [ "$(ids_of $list | wc -l)" = 4 ] && pass "default-joins-cr_restart" ||
	fail "default-joins-cr_restart" "cr_restart $mine; $(ids_of $list | tr '\n' ';') ($(cat err2))"
kill -9 $list 2>/dev/null
wait "$r" 2>/dev/null
for p in $list; do gone "$p"; done

# A group id taken by another process: EBUSY (16) with --restore-pgid.
a1=$(echo "$before" | awk '$1 == $2 && $1 != $3 {print $1; exit}')
"$TBIN/fail/atpid" "$a1" sleep 100 >/dev/null 2>&1 &
holder=$!
pids+=("$holder")
for _ in $(seq 500); do kill -0 "$a1" 2>/dev/null && break; sleep 0.01; done
"$BIN/cr_restart" --restore-pgid --restore-sid ctx >/dev/null 2>err3
rc=$?
[ $rc = 16 ] && pass "taken-group-id-ebusy" || fail "taken-group-id-ebusy" "exit $rc: $(cat err3)"
kill -9 "$a1" "$holder" 2>/dev/null
[ $fails = 0 ]
