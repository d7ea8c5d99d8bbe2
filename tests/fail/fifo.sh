#!/usr/bin/env bash
# fifo.sh: a named FIFO that changed between the checkpoint and the restart (what
# tests/state/fd_fifo.c cannot arrange: nothing of the program runs in between). A
# process (tests/fail/mapped.c) holds a FIFO open for reading and writing with a
# message in it. Removed after the checkpoint, the FIFO is made again at its path, as
# BLCR does, and the restored process finds its message in it; moved elsewhere, it is
# found with --relocate; replaced by a regular file, the restart fails in the ENV
# class naming it, and leaves nothing behind.
#
#   BIN=build/bin TBIN=build/tests bash tests/fail/fifo.sh
# shellcheck source=tests/fail/common.bash
. "$(dirname "$0")/common.bash"
cd "$W" || exit 2

MAPPED=$TBIN/fail/mapped
if [ ! -x "$MAPPED" ]; then
	fail "setup" "$MAPPED is missing (make test-progs)"
	exit 1
fi

# A process holding $W/d/f with a message in it, checkpointed and killed; sets $pid.
prepare() {
	rm -rf d moved ctx c.count
	mkdir d && mkfifo -m 0640 d/f || return 1
	"$MAPPED" "$W/c.count" - - "$W/d/f" </dev/null >/dev/null 2>&1 &
	pid=$!
	started+=("$pid")
	wait_until has_count "$W/c.count" || return 1
	run "$CKPT" -p --kill -f "$W/ctx" "$pid"
	[ "$rc" = 0 ] || return 1
	reap "$pid"
	wait_until gone "$pid"
}

# The restored process counts, holds the FIFO at path, and reads its message back.
back_with_fifo() { # name, path, restart options...
	local name=$1 path=$2 why="" f found=""
	shift 2
	start_restart "$@" "$W/ctx"
	wait_until ready_at "$pid" mapped || why="nothing back at pid $pid: $(tr '\n' '|' <"$W/rerr");"
	progresses "$W/c.count" || why="$why it does not count;"
	[ -p "$path" ] || why="$why no FIFO at $path;"
	for f in /proc/"$pid"/fd/*; do
		[ "$(readlink "$f")" = "$path" ] && found=1
	done
	[ -n "$found" ] || why="$why no descriptor of $path;"
	kill -USR1 "$pid"
	progresses "$W/c.count" || why="$why it stopped after reading the FIFO ($(head -c 20 "$W/c.count"));"
	kill -KILL "$pid" 2>/dev/null
	reap "$rpid"
	wait_until gone "$pid" || why="$why pid $pid does not go;"
	verdict "$name" "$why"
}

if prepare; then
	rm d/f
	back_with_fifo "removed after the checkpoint: made again, message kept" "$W/d/f"
	mode=$(stat -c %a d/f 2>&1)
	verdict "made again with its mode" "$([ "$mode" = 640 ] || echo "mode $mode")"
else
	fail "removed after the checkpoint" "setup: $(errline)"
fi

if prepare; then
	mv d moved
	back_with_fifo "moved, found with --relocate" "$W/moved/f" --relocate "$W/d=$W/moved"
else
	fail "moved, found with --relocate" "setup: $(errline)"
fi

if prepare; then
	rm d/f && echo "not a FIFO" >d/f
	why=""
	run "$RSTRT" "$W/ctx"
	[ "$rc" = 17 ] || why="exit $rc, want 17 (EEXIST, ENV class);"
	crashed "$rc" "$W/err" && why="$why crashed;"
	grep -q '^Restart failed: ' "$W/err" || why="$why no 'Restart failed:' line;"
	grep -qF "$W/d/f" "$W/err" || why="$why the message does not name $W/d/f;"
	[ "$(cat d/f)" = "not a FIFO" ] || why="$why the file was touched;"
	wait_until gone "$pid" || {
		why="$why a process at pid $pid;"
		kill_gone "$pid"
	}
	[ -n "$why" ] && why="$why [$(errline)]"
	verdict "replaced by a regular file: refused, naming it" "$why"
else
	fail "replaced by a regular file" "setup: $(errline)"
fi

finish
