#!/usr/bin/env bash
# treepid.sh: a tree (tests/fail/dirtree.c: a counting top, a zombie, a writer and a
# reader joined by a pipe with a line in flight) restarted while the pid of one of
# its children is taken, under each pid policy: the default refuses with EBUSY (16),
# names the pid and leaves nothing behind; --no-restore-pid brings the tree back at
# new pids; --pidns at its own pids in a new namespace. Each time the line in the
# pipe arrives once the reader is told to go.
#
#   BIN=build/bin TBIN=build/tests bash tests/cli/treepid.sh
# shellcheck source=tests/fail/common.bash
. "$(dirname "$0")/../fail/common.bash"
cd "$W" || exit 2
TREE=$TBIN/fail/dirtree

mkdir -p "$W/t"
"$TREE" "$W/t" </dev/null >/dev/null 2>"$W/tree.err" &
top=$!
started+=("$top")
# shellcheck disable=SC2317 # called through wait_until
written() { [ -e "$W/t/written" ] && has_count "$W/t/top.count"; }
if ! wait_until written; then
	fail "setup" "the tree did not start: $(cat "$W/tree.err")"
	finish
fi
kids=$(children "$top")
victim=""
for k in $kids; do
	[ "$(state "$k")" != Z ] && victim=$k && break
done
run "$CKPT" -T --kill -f "$W/ctx" "$top"
if [ "$rc" != 0 ]; then
	fail "setup" "checkpoint: exit $rc: $(errline)"
	finish
fi
kill_wait "$top"
# Vanished, not only dead: a zombie still holds its pid.
# shellcheck disable=SC2317 # called through wait_until
vanished() { [ ! -d "/proc/$1" ]; }
for k in $kids; do wait_until vanished "$k"; done

# The victim's pid taken by another program.
"$ATPID" "$victim" sleep 1000 </dev/null >/dev/null 2>"$W/atpid.err" &
holder=$!
started+=("$holder")
if ! wait_until comm_is "$victim" sleep; then
	fail "setup" "cannot start a process at pid $victim: $(cat "$W/atpid.err")"
	finish
fi

# Default: EBUSY, the pid named, nothing of the tree left.
why=""
run "$RSTRT" "$W/ctx"
[ "$rc" = 16 ] || why="exit $rc, want 16;"
grep -qE "^- .*\\b$victim\\b" "$W/err" || why="$why no '- ' line naming pid $victim;"
alive "$top" && why="$why pid $top exists;"
[ "$(comm "$victim")" = sleep ] || why="$why pid $victim is no longer the other program;"
verdict "a child's pid taken: EBUSY, nothing left" "$why"

# The line in the pipe arrives once DIR/go exists; then the tree is killed.
line_arrives() { # top pid (seen from here)
	touch "$W/t/go"
	# shellcheck disable=SC2317 # called through wait_until
	got() { [ "$(cat "$W/t/got" 2>/dev/null)" = "through the pipe" ]; }
	wait_until got
}

# --no-restore-pid: the tree at new pids.
why=""
rm -f "$W/t/go" "$W/t/got"
: >"$W/t/top.count"
start_restart --no-restore-pid "$W/ctx"
# shellcheck disable=SC2317 # called through wait_until
new_top() {
	local c
	for c in $(restored); do
		ready_at "$c" dirtree && newtop=$c && return 0
	done
	return 1
}
newtop=""
if wait_until new_top; then
	[ "$newtop" != "$top" ] || why="the top came back at its old pid;"
	n=$(children "$newtop" | wc -w)
	[ "$n" = 3 ] || why="$why $n children, want 3;"
	wait_until has_count "$W/t/top.count" && progresses "$W/t/top.count" ||
		why="$why the top does not count;"
	line_arrives || why="$why the line in the pipe did not arrive;"
	# shellcheck disable=SC2046 # pids
	kill -KILL $(children "$newtop") "$newtop" 2>/dev/null
else
	why="no tree under cr_restart: $(tr '\n' '|' <"$W/rerr")"
	# shellcheck disable=SC2046 # pids
	kill -KILL $(restored) 2>/dev/null
fi
reap "$rpid"
verdict "a child's pid taken: --no-restore-pid brings the tree back at new pids" "$why"

# --pidns: the saved pids, in a new namespace.
why=""
rm -f "$W/t/go" "$W/t/got"
: >"$W/t/top.count"
start_restart --pidns "$W/ctx"
# shellcheck disable=SC2317 # called through wait_until
ns_top() {
	local i c
	for i in $(restored); do
		for c in $(children "$i"); do
			ready_at "$c" dirtree &&
				[ "$(awk '/^NSpid:/ { print $NF }' "/proc/$c/status")" = "$top" ] &&
				newtop=$c && init=$i && return 0
		done
	done
	return 1
}
newtop=""
init=""
if wait_until ns_top; then
	inner=$(for c in $(children "$newtop"); do
		awk '/^NSpid:/ { print $NF }' "/proc/$c/status"
	done | sort -n | tr '\n' ' ')
	want=$(for k in $kids; do echo "$k"; done | sort -n | tr '\n' ' ')
	[ "$inner" = "$want" ] || why="children inside are '$inner', want '$want';"
	wait_until has_count "$W/t/top.count" && progresses "$W/t/top.count" ||
		why="$why the top does not count;"
	line_arrives || why="$why the line in the pipe did not arrive;"
	kill -KILL "$init" 2>/dev/null
else
	why="no tree under a crest-init: $(tr '\n' '|' <"$W/rerr")"
	# shellcheck disable=SC2046 # pids
	kill -KILL $(restored) 2>/dev/null
fi
reap "$rpid"
[ -n "$init" ] && ! wait_until gone "$init" && why="$why the namespace's init is left"
verdict "a child's pid taken: --pidns brings the tree back at its pids inside" "$why"

kill -KILL "$victim" 2>/dev/null
finish
