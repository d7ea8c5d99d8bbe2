#!/usr/bin/env bash
# changed.sh: restarting when a file the process had open or mapped, its working
# directory or its executable has vanished, moved or changed since the checkpoint
# (blcr-reference.md §6.2, §6.3, §10). Each is an env-class failure (ENOENT 2, EPERM
# 1, ENOTDIR 20, EISDIR 21) whose message names the file and the pid; the
# --run-on-fail-env hook decides the exit code and the perm hook does not; nothing is
# left at the pid. With --relocate to where the file went, the restart works. A file
# that is there but another one, or changed, is used with a warning naming it.
#
#   BIN=build/bin TBIN=build/tests bash tests/fail/changed.sh
# shellcheck source=tests/fail/common.bash
. "$(dirname "$0")/common.bash"
# shellcheck source=tests/fail/movable.bash
. "$(dirname "$0")/movable.bash"
cd "$W" || exit 2

H=$RW/home
C=$RW/m.count
CTX=$RW/ctx
ELSE=$RW/elsewhere
mkdir -p "$ELSE"
make_home "$H"
if ! start_movable "$H" "$C"; then
	fail "setup" "the process did not start: $(cat "$C" 2>/dev/null)"
	exit 1
fi
P=$pid
if ! save_movable "$P" "$CTX"; then
	fail "setup" "cannot checkpoint pid $P: exit $rc: $(errline)"
	exit 1
fi

# The restart fails in the env class: CODE, "Restart failed:" naming PATH and the pid
# (and a word), nothing at the pid; then the env hook decides, the perm hook does not.
env_failure() { # name, code, path, pattern, args...
	local name=$1 want=$2 path=$3 pat=$4 why=""
	shift 4
	run "$RSTRT" "$@" "$CTX"
	[ "$rc" = "$want" ] || why="exit $rc, want $want;"
	grep -q "^Restart failed: .*$pat" "$W/err" || why="$why no 'Restart failed: ...$pat';"
	grep -qF -- "'$path'" "$W/err" || why="$why message does not name '$path';"
	grep -q "pid $P" "$W/err" || why="$why message does not name pid $P;"
	crashed "$rc" "$W/err" && why="$why crashed;"
	alive "$P" && why="$why pid $P is alive;" && kill -KILL "$P"
	[ -n "$why" ] && why="$why stderr: $(errline)"
	verdict "$name" "$why"
	run "$RSTRT" --run-on-fail-env "exit 42" "$@" "$CTX"
	why=""
	[ "$rc" = 42 ] || why="exit $rc, want 42: $(errline)"
	[ -s "$W/err" ] && why="$why; it printed: $(errline)"
	verdict "$name: --run-on-fail-env decides" "$why"
	run "$RSTRT" --run-on-fail-perm "exit 43" --run-on-fail-temp "exit 44" \
		--run-on-fail-args "exit 45" "$@" "$CTX"
	[ "$rc" = "$want" ] && why="" || why="exit $rc, want $want: $(errline)"
	verdict "$name: the other hooks do not apply" "$why"
}

# The restart works: the process is back at its pid, counting, with no "BAD". Its
# messages (--kmsg-warning) are left in $W/rerr.
comes_back() { # name, args...
	local name=$1 why=""
	shift
	start_restart --kmsg-warning "$@" "$CTX"
	wait_until ready_at "$P" prog || why="not back at pid $P: $(tr '\n' '|' <"$W/rerr");"
	[ -z "$why" ] && ! progresses "$C" && why="it does not count: $(head -c 40 "$C");"
	kill -KILL "$P" 2>/dev/null
	reap "$rpid"
	wait_until gone "$P"
	verdict "$name" "$why"
}

comes_back "nothing changed"

# ---- the open file ----
mv "$H/file" "$ELSE/file"
env_failure "open file gone: ENOENT" 2 "$H/file" "reopen"
comes_back "open file moved: --relocate to it" --relocate "$H/file=$ELSE/file"
mkdir "$H/file"
env_failure "open file replaced by a directory: EISDIR" 21 "$H/file" "reopen"
rmdir "$H/file"
mv "$ELSE/file" "$H/file"
chattr +i "$H/file" 2>/dev/null
if lsattr "$H/file" 2>/dev/null | grep -q '^[^ ]*i'; then
	env_failure "open file immutable (cannot be opened for writing): EPERM" 1 "$H/file" \
		"reopen"
	chattr -i "$H/file"
else
	echo "# chattr +i does not work here: no EPERM case"
fi
# Another file of the same name and contents: used, and said.
cp "$H/file" "$H/file.new" && mv "$H/file.new" "$H/file"
comes_back "open file replaced by a copy: restarts"
grep -q "^- pid $P: '$H/file' (descriptor 10) is not the file checkpointed" "$W/rerr" &&
	why="" || why="no warning naming it: $(tr '\n' '|' <"$W/rerr")"
verdict "open file replaced by a copy: a warning names it" "$why"

# ---- mapped files: data, shared, library ----
for f in data shared libx.so; do
	mv "$H/$f" "$ELSE/$f"
	env_failure "mapped $f gone: ENOENT" 2 "$H/$f" "mapped at"
	comes_back "mapped $f moved: --relocate to it" --relocate "$H/$f=$ELSE/$f"
	mv "$ELSE/$f" "$H/$f"
done
# Changed in place: used, and said.
printf 'the private mapping\nand more\n' >"$H/data"
comes_back "mapped file changed: restarts"
grep -q "^- pid $P: mapped file '$H/data' changed since the checkpoint" "$W/rerr" &&
	why="" || why="no warning naming it: $(tr '\n' '|' <"$W/rerr")"
verdict "mapped file changed: a warning names it" "$why"
printf 'the private mapping\n' >"$H/data"

# ---- the named FIFO: made again where it was (as BLCR does), or where --relocate says
rm "$H/fifo"
comes_back "FIFO gone: made again, with its data"
[ -p "$H/fifo" ] && why="" || why="no FIFO at $H/fifo"
verdict "FIFO gone: the new one is at its path" "$why"

# ---- the working directory ----
mv "$H/work" "$ELSE/work"
env_failure "working directory gone: ENOENT" 2 "$H/work" "working directory"
comes_back "working directory moved: --relocate to it" --relocate "$H/work=$ELSE/work"
touch "$H/work"
env_failure "working directory replaced by a file: ENOTDIR" 20 "$H/work" "working directory"
rm "$H/work"
mv "$ELSE/work" "$H/work"

# ---- the executable ----
mv "$H/prog" "$ELSE/prog"
env_failure "executable gone: ENOENT" 2 "$H/prog" "cannot open"
comes_back "executable moved: --relocate to it" --relocate "$H/prog=$ELSE/prog"
mv "$ELSE/prog" "$H/prog"

# ---- everything gone at once: the first one named, the whole directory relocated ----
mv "$H" "$RW/moved"
env_failure "home gone: ENOENT" 2 "$H/file" "reopen"
comes_back "home moved: --relocate to it" --relocate "$H=$RW/moved"
mv "$RW/moved" "$H"
comes_back "all back: restarts as before"
finish
