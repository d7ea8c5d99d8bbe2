#!/usr/bin/env bash
# restart.sh: cr_restart failing part-way (CREST_FAULT=restart:prepare, before the
# process is created; restart:restore, once it has been rebuilt). Each fails with
# "Restart failed:", in the failure class its errno belongs to (blcr-reference.md
# §6.2: the class's hook decides the exit code), and leaves nothing behind: no process
# at the saved pid, no orphan anywhere (checked by running cr_restart under a child
# subreaper). A plain restart afterwards works, from a file and from a pipe.
#
#   BIN=build/bin TBIN=build/tests bash tests/fail/restart.sh
# shellcheck source=tests/fail/common.bash
. "$(dirname "$0")/common.bash"
cd "$W" || exit 2

REAPER=$TBIN/fail/reaper
if [ ! -x "$REAPER" ]; then
	fail "setup" "$REAPER is missing (make test-progs)"
	exit 1
fi

if ! start_counter tgt; then
	fail "setup" "the counter did not start"
	exit 1
fi
P=$pid
TC=$W/tgt.count
run "$CKPT" -p -f "$W/ctx" "$P"
if [ "$rc" != 0 ]; then
	fail "setup" "cannot checkpoint the counter: exit $rc: $(errline)"
	exit 1
fi
kill_wait "$P"

# BLCR's failure class of an exit code (cr_restart's own rule, §6.2).
class_of() {
	case $1 in
	12 | 16) echo temp ;;
	1 | 2 | 13 | 17 | 20 | 21) echo env ;;
	255) echo args ;;
	*) echo perm ;;
	esac
}

# A plain restart brings the counter back at its pid, counting. Then kill it.
restart_works() { # name, how ("file" or "pipe")
	local why="" rrc
	: >"$TC"
	if [ "$2" = pipe ]; then
		(
			# shellcheck disable=SC2002 # a pipe, not a file, is the point
			cat "$W/ctx" | "$RSTRT" -F 0
			exit $?
		) >"$W/rout" 2>"$W/rerr" &
		rpid=$!
		started+=("$rpid")
	else
		start_restart "$W/ctx"
	fi
	wait_until ready_at "$P" counter || why="nothing back at pid $P: $(tr '\n' '|' <"$W/rerr");"
	{ wait_until has_count "$TC" && progresses "$TC"; } || why="$why it does not count;"
	kill -KILL "$P" 2>/dev/null
	reap "$rpid"
	[ "$rrc" = 137 ] || why="$why cr_restart exit $rrc, want 137;"
	wait_until gone "$P" || why="$why pid $P does not go;"
	verdict "$1" "$why"
}

restart_works "intact context restarts" file

for fp in restart:prepare restart:restore; do
	for opts in "" --no-restore-pid; do
		label="fault $fp${opts:+ $opts}"
		run "$REAPER" 2 env CREST_FAULT=$fp "$RSTRT" ${opts:+"$opts"} "$W/ctx"
		code=$rc
		why=""
		if [ "$rc" = 0 ] || crashed "$rc" "$W/err" || [ "$rc" = 255 ]; then
			why="exit $rc;"
		fi
		grep -q '^Restart failed: ' "$W/err" || why="$why no 'Restart failed:' line;"
		grep -q '^LEFT ' "$W/err" && why="$why left behind: $(grep '^LEFT ' "$W/err" | tr '\n' ' ');"
		wait_until gone "$P" || {
			why="$why a process at pid $P;"
			kill_gone "$P"
		}
		[ -n "$why" ] && why="$why [$(errline)]"
		verdict "$label: fails, nothing left" "$why"

		# The hook of its class decides the exit code; no other hook does.
		cls=$(class_of "$code")
		run "$REAPER" 2 env CREST_FAULT=$fp "$RSTRT" ${opts:+"$opts"} --run-on-fail-"$cls" "exit 42" "$W/ctx"
		why=""
		[ "$rc" = 42 ] || why="exit $rc, want 42 from the $cls hook (errno $code): $(errline)"
		verdict "$label: the $cls hook decides the exit code" "$why"
		for other in args temp env perm; do
			[ "$other" = "$cls" ] && continue
			run "$REAPER" 2 env CREST_FAULT=$fp "$RSTRT" ${opts:+"$opts"} --run-on-fail-"$other" "exit 42" "$W/ctx"
			[ "$rc" = "$code" ] || fail "$label: the $other hook does not apply" "exit $rc, want $code"
		done
		run "$REAPER" 2 env CREST_FAULT=$fp "$RSTRT" ${opts:+"$opts"} -q "$W/ctx"
		why=""
		[ "$rc" = "$code" ] || why="exit $rc, want $code;"
		[ -s "$W/err" ] && why="$why stderr: $(errline)"
		verdict "$label -q: the same code, silently" "$why"
	done
	restart_works "after fault $fp a plain restart works" file
done

# From a pipe: the same faults, the same cleanup, then a restart through a pipe.
for fp in restart:prepare restart:restore; do
	{
		timeout -k 5 "$TOOL_TIMEOUT" "$REAPER" 2 env CREST_FAULT=$fp "$RSTRT" -F 0 \
			<"$W/ctx" >"$W/out" 2>"$W/err"
		rc=$?
	} 2>/dev/null
	why=""
	[ "$rc" != 0 ] && ! crashed "$rc" "$W/err" || why="exit $rc;"
	grep -q '^Restart failed: ' "$W/err" || why="$why no 'Restart failed:' line;"
	grep -q '^LEFT ' "$W/err" && why="$why left behind: $(grep '^LEFT ' "$W/err" | tr '\n' ' ');"
	wait_until gone "$P" || why="$why a process at pid $P;"
	verdict "fault $fp, context on a pipe: fails, nothing left" "$why"
done
restart_works "after the faults a restart through a pipe works" pipe

# A context that starts part-way into its file: -F at that offset.
head -c 1000 /dev/urandom >"$W/prefixed"
cat "$W/ctx" >>"$W/prefixed"
{
	dd bs=1000 count=1 of=/dev/null 2>/dev/null
	timeout -k 5 "$TOOL_TIMEOUT" "$INFO" -F 0 >"$W/out" 2>"$W/err"
} <"$W/prefixed"
rc=$?
verdict "a context 1000 bytes into its file: cr_info -F" \
	"$([ "$rc" = 0 ] || echo "exit $rc: $(errline)")"
: >"$TC"
(
	dd bs=1000 count=1 of=/dev/null 2>/dev/null
	"$RSTRT" -F 0
	exit $?
) <"$W/prefixed" >"$W/rout" 2>"$W/rerr" &
rpid=$!
started+=("$rpid")
why=""
wait_until ready_at "$P" counter || why="nothing back at pid $P: $(tr '\n' '|' <"$W/rerr");"
{ wait_until has_count "$TC" && progresses "$TC"; } || why="$why it does not count;"
kill -KILL "$P" 2>/dev/null
reap "$rpid"
[ "$rrc" = 137 ] || why="$why cr_restart exit $rrc, want 137;"
wait_until gone "$P" || why="$why pid $P does not go;"
verdict "a context 1000 bytes into its file: cr_restart -F" "$why"

finish
