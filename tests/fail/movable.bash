# movable.bash: a process whose executable, open file, mappings, library and working
# directory all live in one directory (tests/fail/movable.c), for tests/cli/relocate.sh
# and tests/fail/changed.sh. Sourced after common.bash.
# shellcheck shell=bash

MOVABLE=$TBIN/fail/movable
if [ ! -x "$MOVABLE" ]; then
	fail "setup" "$MOVABLE is missing (make test-progs)"
	exit 1
fi
# A library the program does not otherwise load, copied so that it can move.
LIBM=$(ldconfig -p 2>/dev/null | awk '/libm\.so\.6 .*x86-64/ {print $NF; exit}')
[ -n "$LIBM" ] || LIBM=/lib/x86_64-linux-gnu/libm.so.6
# Saved paths are canonical. (Used by the tests that source this.)
# shellcheck disable=SC2034
RW=$(realpath "$W")

# Fill a directory with what movable uses.
make_home() { # dir
	mkdir -p "$1/work"
	cp "$MOVABLE" "$1/prog"
	printf 'the open file\n' >"$1/file"
	mkfifo "$1/fifo"
	printf 'the private mapping\n' >"$1/data"
	printf 'the shared mapping\n' >"$1/shared"
	cp "$LIBM" "$1/libx.so"
}

# Start DIR/prog counting into COUNT; sets $pid.
start_movable() { # dir, count file
	rm -f "$2"
	"$1/prog" "$2" "$1" "$1/libx.so" </dev/null >/dev/null 2>&1 &
	pid=$!
	started+=("$pid")
	wait_until has_count "$2"
}

# Checkpoint a movable process and kill it: CTX holds it.
save_movable() { # pid, ctx
	run "$CKPT" --kill -p -f "$2" "$1"
	# shellcheck disable=SC2154 # rc: set by run
	[ "$rc" = 0 ] || return 1
	wait "$1" 2>/dev/null
	return 0
}

# Where a restored movable process finds its things, as /proc shows them: each of
# exe, cwd, file (descriptor 10), data, shared, lib, fifo (descriptor 11) must be the
# path given, and no mapping of the process may name the directory it must not use.
paths_are() { # pid, exe, cwd, file, data, shared, lib, fifo, forbidden dir
	local p=$1 why="" maps
	[ "$(readlink "/proc/$p/exe")" = "$2" ] || why="exe is $(readlink "/proc/$p/exe");"
	[ "$(readlink "/proc/$p/cwd")" = "$3" ] || why="$why cwd is $(readlink "/proc/$p/cwd");"
	[ "$(readlink "/proc/$p/fd/10")" = "$4" ] ||
		why="$why descriptor 10 is $(readlink "/proc/$p/fd/10");"
	maps=$(awk '{print $6}' "/proc/$p/maps")
	grep -qxF -- "$5" <<<"$maps" || why="$why $5 not mapped;"
	grep -qxF -- "$6" <<<"$maps" || why="$why $6 not mapped;"
	grep -qxF -- "$7" <<<"$maps" || why="$why $7 not mapped;"
	[ "$(readlink "/proc/$p/fd/11")" = "$8" ] ||
		why="$why descriptor 11 is $(readlink "/proc/$p/fd/11");"
	grep -qF -- "$9/" <<<"$maps" && why="$why something of $9 still mapped;"
	echo "$why"
}
