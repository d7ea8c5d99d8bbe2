#!/usr/bin/env bash
# save.sh: cr_checkpoint --save-exe, --save-private, --save-shared, --save-all and
# --save-none (blcr-reference.md §3.5; BLCR's save_exe, save_priv, save_share and
# save_all tests). A process (tests/fail/mapped.c, run from a copy of its own) maps a
# file privately (a page copied on write) and one shared, and checks both as it counts.
# With the option, its executable emptied or the mapped file deleted after the
# checkpoint, the restart still works from the saved contents, and a file at the
# original path is not touched by the restored process. Without it (or after
# --save-none), a restart after the file was emptied fails in the ENV class, naming the
# file, and leaves nothing behind. cr_info shows the areas saved by contents.
#
#   BIN=build/bin TBIN=build/tests bash tests/fail/save.sh
# shellcheck source=tests/fail/common.bash
. "$(dirname "$0")/common.bash"
cd "$W" || exit 2

MAPPED=$TBIN/fail/mapped
if [ ! -x "$MAPPED" ]; then
	fail "setup" "$MAPPED is missing (make test-progs)"
	exit 1
fi

# Fresh files and a fresh copy of the program for one case.
prepare() {
	rm -f prog priv shared c.count ctx
	cp "$MAPPED" prog
	head -c 16384 /dev/urandom >priv
	head -c 12288 /dev/urandom >shared
}

# Start the copy; sets $pid.
start_prog() {
	"$W/prog" "$W/c.count" "$W/priv" "$W/shared" </dev/null >/dev/null 2>&1 &
	pid=$!
	started+=("$pid")
	wait_until has_count "$W/c.count"
}

# Checkpoint with the options given and kill; the process must be gone after.
checkpoint_kill() { # options...
	run "$CKPT" -p --kill -f "$W/ctx" "$@" "$pid"
	[ "$rc" = 0 ] || return 1
	reap "$pid"
	wait_until gone "$pid"
}

# The restart works: the process is back at its pid, counting, its mappings as they
# were (it checks them itself); then it is killed.
restarts() { # name
	local why=""
	start_restart "$W/ctx"
	wait_until ready_at "$pid" prog || why="nothing back at pid $pid: $(tr '\n' '|' <"$W/rerr");"
	{ wait_until has_count "$W/c.count" && progresses "$W/c.count"; } ||
		why="$why it does not count ($(head -c 40 "$W/c.count"));"
	kill -KILL "$pid" 2>/dev/null
	reap "$rpid"
	wait_until gone "$pid" || why="$why pid $pid does not go;"
	verdict "$1" "$why"
}

# The restart fails in the ENV class, naming the file, and nothing is left.
refuses() { # name, file that must be named
	local why=""
	run "$RSTRT" "$W/ctx"
	[ "$rc" = 2 ] || why="exit $rc, want 2 (ENOENT, ENV class);"
	crashed "$rc" "$W/err" && why="$why crashed;"
	grep -q '^Restart failed: ' "$W/err" || why="$why no 'Restart failed:' line;"
	grep -qF "$2" "$W/err" || why="$why the message does not name $2;"
	wait_until gone "$pid" || {
		why="$why a process at pid $pid;"
		kill_gone "$pid"
	}
	[ -n "$why" ] && why="$why [$(errline)]"
	verdict "$1" "$why"
}

# One case: checkpoint with the options, spoil files, then restart.
case_ok() { # name, spoil command, checkpoint options...
	local name=$1 spoil=$2
	shift 2
	prepare
	if ! start_prog || ! checkpoint_kill "$@"; then
		fail "$name" "setup: $(errline)"
		kill_wait "$pid"
		return
	fi
	eval "$spoil"
	restarts "$name"
}

case_refused() { # name, spoil command, file named, checkpoint options...
	local name=$1 spoil=$2 file=$3
	shift 3
	prepare
	if ! start_prog || ! checkpoint_kill "$@"; then
		fail "$name" "setup: $(errline)"
		kill_wait "$pid"
		return
	fi
	eval "$spoil"
	refuses "$name" "$file"
}

case_ok "--save-exe: the executable emptied" ": >prog" --save-exe
case_ok "--save-exe: the executable deleted" "rm prog" --save-exe
case_ok "--save-private: the private file deleted" "rm priv" --save-private
case_ok "--save-private: the executable emptied" ": >prog" --save-private
case_ok "--save-shared: the shared file deleted" "rm shared" --save-shared
case_ok "--save-all: executable emptied, both files deleted" ": >prog; rm priv shared" --save-all
case_ok "--save-exe --save-private --save-shared add up" ": >prog; rm priv shared" \
	--save-exe --save-private --save-shared
case_refused "no --save-*: the executable emptied" ": >prog" "$W/prog"
case_refused "no --save-*: the private file emptied" ": >priv" "$W/priv"
case_refused "--save-all --save-none: the executable emptied" ": >prog" "$W/prog" \
	--save-all --save-none
case_refused "--save-shared alone: the executable emptied" ": >prog" "$W/prog" --save-shared

# The file at the original path is not touched: the restored process writes into its
# own copy of the shared file, not into the file that is there now.
prepare
why=""
if start_prog && checkpoint_kill --save-shared; then
	sum=$(md5sum <shared)
	start_restart "$W/ctx"
	wait_until ready_at "$pid" prog || why="nothing back at pid $pid: $(tr '\n' '|' <"$W/rerr");"
	progresses "$W/c.count" || why="$why it does not count;"
	[ "$(md5sum <shared)" = "$sum" ] || why="$why the shared file changed;"
	grep -q "$W/shared" "/proc/$pid/maps" && ! grep -q "$W/shared (deleted)" "/proc/$pid/maps" &&
		why="$why it maps the file at the path itself;"
	kill -KILL "$pid" 2>/dev/null
	reap "$rpid"
	wait_until gone "$pid" || why="$why pid $pid does not go;"
else
	why="setup: $(errline)"
	kill_wait "$pid"
fi
verdict "--save-shared: the file at the path is not touched" "$why"

# cr_info: the areas saved by contents are shown as such.
prepare
why=""
if start_prog && checkpoint_kill --save-all; then
	run "$INFO" "$W/ctx"
	[ "$rc" = 0 ] || why="cr_info exit $rc;"
	grep -q "kind=file-saved path=$W/priv" "$W/out" || why="$why no saved private area;"
	grep -q "kind=file-saved path=$W/shared" "$W/out" || why="$why no saved shared area;"
	grep -q "kind=file-saved path=$W/prog" "$W/out" || why="$why no saved executable;"
	grep -q "start=.* kind=file path=" "$W/out" && why="$why a file mapping by reference is left;"
else
	why="setup: $(errline)"
	kill_wait "$pid"
fi
verdict "cr_info shows the areas saved by contents" "$why"

finish
