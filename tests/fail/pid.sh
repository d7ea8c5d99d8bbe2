#!/usr/bin/env bash
# pid.sh: restart onto a pid that is taken (blcr-reference.md §4.6, §6.2): EBUSY (16),
# a TEMP failure, with a "- " line naming the pid and the process holding it left
# alone; the TEMP hook decides the exit code; --no-restore-pid restarts at a new pid
# and the process works there.
#
#   BIN=build/bin TBIN=build/tests bash tests/fail/pid.sh
# shellcheck source=tests/fail/common.bash
. "$(dirname "$0")/common.bash"
cd "$W" || exit 2

if ! start_counter tgt; then
	fail "setup" "the counter did not start"
	exit 1
fi
P=$pid
run "$CKPT" -p -f "$W/ctx" "$P"
if [ "$rc" != 0 ]; then
	fail "setup" "cannot checkpoint the counter: exit $rc: $(errline)"
	exit 1
fi

# EBUSY, a "- " line naming the pid before the final line, nothing else changed.
busy() { # name, who holds the pid, options...
	local name=$1 holder=$2 why="" first
	shift 2
	run "$RSTRT" "$@" "$W/ctx"
	[ "$rc" = 16 ] || why="exit $rc, want 16 (EBUSY);"
	grep -qE "^- .*\\b$P\\b" "$W/err" || why="$why no '- ' line naming pid $P;"
	grep -q '^Restart failed: ' "$W/err" || why="$why no 'Restart failed:' line;"
	first=$(grep -n '^- ' "$W/err" | head -n1 | cut -d: -f1)
	[ -n "$first" ] && [ "$(grep -n '^Restart failed' "$W/err" | cut -d: -f1)" -lt "$first" ] &&
		why="$why the '- ' lines come after the final line;"
	crashed "$rc" "$W/err" && why="$why crashed;"
	[ "$(comm "$P")" = "$holder" ] || why="$why pid $P is no longer $holder;"
	[ "$(tracer "$P")" = 0 ] || why="$why pid $P is traced;"
	[ -n "$why" ] && why="$why [$(errline)]"
	verdict "$name" "$why"
}

# Only the exit code, and what is on stderr.
code() { # name, code, stderr must be empty (1) or not (0), options...
	local name=$1 want=$2 silent=$3 why=""
	shift 3
	run "$RSTRT" "$@" "$W/ctx"
	[ "$rc" = "$want" ] || why="exit $rc, want $want: $(errline);"
	if [ "$silent" = 1 ] && [ -s "$W/err" ]; then
		why="$why stderr not empty: $(errline)"
	fi
	verdict "$name" "$why"
}

# ---- the checkpointed process itself still holds its pid ----
busy "pid held by the original process: EBUSY" counter
why=""
progresses "$W/tgt.count" || why="the original stopped counting"
verdict "the original process counts on after the refused restart" "$why"
busy "EBUSY with --restore-pid given" counter --restore-pid
code "--run-on-fail-temp decides the exit code" 42 1 --run-on-fail-temp "exit 42"
code "--run-on-failure decides the exit code" 42 1 --run-on-failure "exit 42"
code "--run-on-fail-perm does not apply to EBUSY" 16 0 --run-on-fail-perm "exit 42"
code "--run-on-fail-env does not apply to EBUSY" 16 0 --run-on-fail-env "exit 42"
code "--run-on-fail-args does not apply to EBUSY" 16 0 --run-on-fail-args "exit 42"
code "-q: EBUSY without a word" 16 1 -q
run "$RSTRT" --kmsg-none "$W/ctx"
why=""
[ "$rc" = 16 ] || why="exit $rc, want 16;"
grep -q '^- ' "$W/err" && why="$why '- ' lines printed;"
grep -q '^Restart failed: ' "$W/err" || why="$why no 'Restart failed:' line;"
verdict "--kmsg-none: EBUSY without '- ' lines" "$why"

# A restart at a new pid: wait for the restored process, a child of cr_restart that
# runs the counter untraced. Sets $new.
# shellcheck disable=SC2317 # called through wait_until
restored_child() {
	local c
	new=""
	for c in $(restored); do
		if ready_at "$c" counter; then
			new=$c
			return 0
		fi
	done
	return 1
}

# Restart with --no-restore-pid; the process must come back elsewhere and count.
elsewhere() { # name
	local why="" rrc
	: >"$W/tgt.count"
	start_restart --no-restore-pid "$W/ctx"
	if ! wait_until restored_child; then
		why="no restored process under cr_restart: $(tr '\n' '|' <"$W/rerr");"
	else
		[ "$new" != "$P" ] || why="it came back at pid $P;"
		case $(state "$new") in
		T | t) why="$why it is stopped;" ;;
		esac
		wait_until has_count "$W/tgt.count" && progresses "$W/tgt.count" ||
			why="$why it does not count;"
		kill -0 "$new" 2>/dev/null || why="$why it cannot be signalled;"
		kill -USR1 "$new" 2>/dev/null
		sleep 0.05
		alive "$new" || why="$why it died of SIGUSR1, for which it has a handler;"
		kill -KILL "$new" 2>/dev/null
	fi
	# cr_restart, if it is still there after a failure
	# shellcheck disable=SC2046 # a list of pids
	kill -KILL $(children "$rpid") 2>/dev/null
	reap "$rpid"
	[ -z "$why" ] && [ "$rrc" != 137 ] && why="cr_restart exit $rrc, want 137 (its child was killed)"
	[ -n "$new" ] && ! wait_until gone "$new" && why="$why pid $new is left"
	verdict "$1" "$why"
}

# The restored process under --pidns: cr_restart's grandchild, below the namespace's
# init, with pid $P inside. Sets $new and $init.
# shellcheck disable=SC2317 # called through wait_until
ns_child() {
	local c
	new=""
	for init in $(restored); do
		comm_is "$init" crest-init || continue
		for c in $(children "$init"); do
			if ready_at "$c" counter &&
				[ "$(awk '/^NSpid:/ { print $NF }' "/proc/$c/status")" = "$P" ]; then
				new=$c
				return 0
			fi
		done
	done
	return 1
}

# Restart with --pidns: the saved pid inside a new namespace, the process counts, and
# when it is killed cr_restart exits as it did and the namespace's init goes too.
in_pidns() { # name
	local why="" rrc
	: >"$W/tgt.count"
	start_restart --pidns "$W/ctx"
	if ! wait_until ns_child; then
		why="no process with pid $P under a crest-init: $(tr '\n' '|' <"$W/rerr");"
	else
		wait_until has_count "$W/tgt.count" && progresses "$W/tgt.count" ||
			why="$why it does not count;"
		kill -KILL "$new" 2>/dev/null
	fi
	# shellcheck disable=SC2046 # a list of pids
	[ -n "$why" ] && kill -KILL $(children "$rpid") 2>/dev/null
	reap "$rpid"
	[ -z "$why" ] && [ "$rrc" != 137 ] && why="cr_restart exit $rrc, want 137 (its process was killed)"
	[ -n "$init" ] && ! wait_until gone "$init" && why="$why the namespace's init $init is left"
	verdict "$1" "$why"
}

# A process restarted with --pidns, checkpointed again by the pid it has here: the
# context holds its pid inside (and the default file name the pid given), and a
# second restart with --pidns gives that back. The namespace's init is refused.
pidns_again() { # name
	local why="" rrc outer
	: >"$W/tgt.count"
	start_restart --pidns "$W/ctx"
	if ! wait_until ns_child; then
		verdict "$1" "no process with pid $P under a crest-init: $(tr '\n' '|' <"$W/rerr")"
		# shellcheck disable=SC2046 # a list of pids
		kill -KILL $(children "$rpid") 2>/dev/null
		reap "$rpid"
		return
	fi
	outer=$new
	run "$CKPT" "$init"
	[ "$rc" = 22 ] || why="checkpoint of the init: exit $rc, want 22 (EINVAL);"
	(cd "$W" && "$CKPT" --kill "$outer") 2>"$W/err"
	rc=$?
	[ "$rc" = 0 ] || why="$why checkpoint of pid $outer: exit $rc: $(errline);"
	reap "$rpid"
	[ "$rrc" = 137 ] || why="$why cr_restart exit $rrc, want 137;"
	[ -f "$W/context.$outer" ] || why="$why no context.$outer;"
	"$INFO" "$W/context.$outer" 2>/dev/null | grep -qE "^ +pid: $P\$" ||
		why="$why the context does not hold pid $P;"
	wait_until gone "$init" || why="$why the namespace's init $init is left;"
	: >"$W/tgt.count"
	start_restart --pidns "$W/context.$outer"
	if wait_until ns_child; then
		wait_until has_count "$W/tgt.count" && progresses "$W/tgt.count" ||
			why="$why it does not count after the second restart;"
		kill -KILL "$new" 2>/dev/null
	else
		why="$why the second restart did not bring back pid $P: $(tr '\n' '|' <"$W/rerr");"
		# shellcheck disable=SC2046 # a list of pids
		kill -KILL $(children "$rpid") 2>/dev/null
	fi
	reap "$rpid"
	[ -n "$init" ] && ! wait_until gone "$init" && why="$why the namespace's init $init is left"
	verdict "$1" "$why"
}

# The original is stopped, so only the restored copy counts.
kill -STOP "$P"
wait_until state_is "$P" T
elsewhere "--no-restore-pid while the original holds the pid: a new pid, and it counts"
kill -CONT "$P"
why=""
progresses "$W/tgt.count" || why="the original does not count after SIGCONT"
verdict "the original is untouched by the restart beside it" "$why"

# ---- another process at that pid ----
kill_wait "$P"
"$ATPID" "$P" sleep 1000 </dev/null >/dev/null 2>"$W/atpid.err" &
holder=$!
started+=("$holder")
if wait_until comm_is "$P" sleep; then
	busy "pid held by another program: EBUSY" sleep
	code "pid held by another program: --run-on-fail-temp" 42 1 --run-on-fail-temp "exit 42"
	elsewhere "--no-restore-pid while another program holds the pid: a new pid, and it counts"
	in_pidns "--pidns while another program holds the pid: pid $P in a new namespace"
	pidns_again "a --pidns restart checkpointed from outside keeps pid $P for the next --pidns"
	[ "$(comm "$P")" = sleep ] || fail "the other program keeps its pid" "pid $P is gone"
else
	fail "pid held by another program" "cannot start a process at pid $P: $(cat "$W/atpid.err")"
fi
kill -KILL "$P" 2>/dev/null
wait "$holder" 2>/dev/null
wait_until gone "$P"

# ---- the pid free again: a plain restart works ----
: >"$W/tgt.count"
start_restart "$W/ctx"
why=""
wait_until ready_at "$P" counter ||
	why="nothing came back at pid $P: $(tr '\n' '|' <"$W/rerr");"
wait_until has_count "$W/tgt.count" && progresses "$W/tgt.count" || why="$why it does not count;"
kill -KILL "$P" 2>/dev/null
reap "$rpid"
[ "$rrc" = 137 ] || why="$why cr_restart exit $rrc, want 137"
verdict "the pid free again: restart at the saved pid" "$why"

finish
