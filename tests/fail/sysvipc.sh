#!/usr/bin/env bash
# sysvipc.sh: System V IPC objects and their ids at restart (tests/fail/ipcjob.c holds
# a segment, a semaphore set and a queue).
#
# - A segment also attached by a process outside the checkpoint: refused (ENOTSUP),
#   naming the segment; the job runs on.
# - Checkpointed with --kill, the objects stay behind. A semaphore set of another key
#   put at the saved set's id: the restart fails with EBUSY (16) naming the id, starts
#   nothing, and removes what it made (the segment, removed before, is not there).
# - Everything removed: the restart makes each object again with its id, key, mode
#   and contents, and the job has the segment attached.
#
#   BIN=build/bin TBIN=build/tests bash tests/fail/sysvipc.sh
# shellcheck source=tests/fail/common.bash
. "$(dirname "$0")/common.bash"
IPCJOB=$TBIN/fail/ipcjob
if [ ! -x "$IPCJOB" ]; then
	fail "setup" "$IPCJOB is missing (make test-progs)"
	exit 1
fi
cd "$W" || exit 2
made=() # "kind id" of objects to remove at the end
# shellcheck disable=SC2317 # run by the trap
cleanup_ipc() {
	local o
	for o in "${made[@]}"; do
		# shellcheck disable=SC2086 # "-m 5"
		ipcrm -$o 2>/dev/null
	done
	cleanup
}
trap cleanup_ipc EXIT

# The line of /proc/sysvipc/KIND for id, from the key to the size/count column.
ipc_line() { # kind id
	awk -v id="$2" 'NR > 1 && $2 == id {print $1, $2, $3, $4}' "/proc/sysvipc/$1"
}
attached() { # shm id: nattch
	awk -v id="$1" 'NR > 1 && $2 == id {print $7}' /proc/sysvipc/shm
}
semvals() { # sem id
	ipcs -s -i "$1" | awk '$1 ~ /^[0-9]+$/ && NF >= 5 {printf "%s ", $2}'
}

"$IPCJOB" make ids </dev/null >/dev/null 2>job.err &
job=$!
started+=("$job")
wait_until test -s ids || {
	fail start "ipcjob did not start: $(cat job.err)"
	finish
}
read -r shm sem msg <ids
made+=("m $shm" "s $sem" "q $msg")
before="$(ipc_line shm "$shm") / $(ipc_line sem "$sem") / $(ipc_line msg "$msg")"
vals0=$(semvals "$sem")

# ---- attached outside: refused ----
"$IPCJOB" attach "$shm" att </dev/null >/dev/null 2>att.err &
att=$!
started+=("$att")
wait_until test -s att || fail outside "the second attach did not happen: $(cat att.err)"
run "$CKPT" -f "$W/ctx0" "$job"
why=""
[ "$rc" = 95 ] || why="exit $rc, want 95;"
grep -q "segment $shm .*attached 1 times outside" "$W/err" || why="$why message: $(errline);"
[ -e "$W/ctx0" ] && why="$why context written;"
alive "$job" && [ "$(tracer "$job")" = 0 ] || why="$why the job did not run on;"
verdict outside "$why"
kill_wait "$att"
wait_until test "$(attached "$shm")" = 1

# ---- checkpoint, kill; an id taken by another set ----
run "$CKPT" --kill -f "$W/ctx" "$job"
[ "$rc" = 0 ] || {
	fail checkpoint "exit $rc: $(errline)"
	finish
}
reap "$job"
# shellcheck disable=SC2317 # called through wait_until
vanished() { [ ! -d "/proc/$1" ]; }
wait_until vanished "$job"
ipcrm -m "$shm" -s "$sem"
other=$("$IPCJOB" sem "$sem" 0x7e570000 2>&1)
made+=("s $other")
why=""
[ "$other" = "$sem" ] || why="the other set got id '$other', not $sem;"
run "$RSTRT" "$W/ctx"
[ "$rc" = 16 ] || why="$why exit $rc, want 16 (EBUSY);"
grep -q "semaphore set id $sem is taken" "$W/err" || why="$why message: $(errline);"
[ -z "$(ipc_line shm "$shm")" ] || why="$why the segment it made is left: $(ipc_line shm "$shm");"
alive "$job" && why="$why pid $job exists;"
verdict taken-id "$why"

# ---- all free: made again with their ids ----
ipcrm -s "$other" -q "$msg"
start_restart "$W/ctx"
wait_until ready_at "$job" ipcjob
after="$(ipc_line shm "$shm") / $(ipc_line sem "$sem") / $(ipc_line msg "$msg")"
why=""
[ "$after" = "$before" ] || why="objects: $after, want $before;"
[ "$(attached "$shm")" = 1 ] || why="$why the segment is attached $(attached "$shm") times;"
[ "$(semvals "$sem")" = "$vals0" ] || why="$why semaphores: $(semvals "$sem"), want $vals0;"
grep -q "SYSV" "/proc/$job/maps" || why="$why the job has no segment;"
[ -n "$why" ] && why="$why ($(cat "$W/rerr"))"
verdict free-ids "$why"
kill -KILL "$job" 2>/dev/null
reap "$rpid"
finish
