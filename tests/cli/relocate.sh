#!/usr/bin/env bash
# relocate.sh: cr_restart --relocate OLD=NEW (blcr-reference.md §4.4; BLCR's tests
# reloc_exe, reloc_file, reloc_fifo, reloc_dir and reloc_all). A process whose
# executable, open file, named FIFO, private and shared mappings, library and working
# directory live in one directory is checkpointed and killed; then parts of that
# directory, or all of it, move. Without a matching relocation the restart fails in
# the env class naming the file and the pid; with one, the process comes back using
# the new paths (as /proc shows them) and carries on. Also: \= and \\ escapes on both sides, whole path
# components only, the first matching pair wins, a pair that matches nothing first,
# more than 16 pairs, trailing slashes, a NEW that is not canonical, a result too
# long for a path (ENAMETOOLONG, perm class), and the hooks of both classes.
#
#   BIN=build/bin TBIN=build/tests bash tests/cli/relocate.sh
# shellcheck source=tests/fail/common.bash
. "$(dirname "$0")/../fail/common.bash"
# shellcheck source=tests/fail/movable.bash
. "$(dirname "$0")/../fail/movable.bash"
cd "$W" || exit 2

D=$RW/d
O=$D/old
N=$D/new
C=$RW/m.count
CTX=$RW/ctx
make_home "$O"
if ! start_movable "$O" "$C"; then
	fail "setup" "the process did not start: $(cat "$C" 2>/dev/null)"
	exit 1
fi
P=$pid
if ! save_movable "$P" "$CTX"; then
	fail "setup" "cannot checkpoint pid $P: exit $rc: $(errline)"
	exit 1
fi

# Restart with ARGS; the process must come back at its pid using the paths given
# (exe cwd file data shared lib, none under FORBIDDEN), and count.
comes_back() { # name, dir of exe, cwd, file, data, shared, lib, fifo; forbidden; args...
	local name=$1 exe=$2/prog cwd=$3/work file=$4/file data=$5/data shared=$6/shared
	local lib=$7/libx.so fifo=$8/fifo forbid=$9 why=""
	shift 9
	start_restart "$@" "$CTX"
	wait_until ready_at "$P" prog || why="not back at pid $P: $(tr '\n' '|' <"$W/rerr");"
	if [ -z "$why" ]; then
		why=$(paths_are "$P" "$exe" "$cwd" "$file" "$data" "$shared" "$lib" "$fifo" "$forbid")
		progresses "$C" || why="$why it does not count: $(head -c 40 "$C");"
	fi
	kill -KILL "$P" 2>/dev/null
	reap "$rpid"
	wait_until gone "$P"
	verdict "$name" "$why"
}

# Everything under one directory.
all_in() { # name, dir, forbidden, args...
	local name=$1 dir=$2 forbid=$3
	shift 3
	comes_back "$name" "$dir" "$dir" "$dir" "$dir" "$dir" "$dir" "$dir" "$forbid" "$@"
}

# The restart fails with CODE, naming the pid and PATH (a fixed string), and leaves
# nothing at the pid.
refused() { # name, code, path, args...
	local name=$1 want=$2 path=$3 why=""
	shift 3
	run "$RSTRT" "$@" "$CTX"
	[ "$rc" = "$want" ] || why="exit $rc, want $want;"
	if [ -n "$path" ]; then
		grep -qF -- "$path" "$W/err" || why="$why message does not name $path;"
	fi
	# A failure about the saved process names it; a bad command line cannot.
	if [ "$want" != 42 ] && [ "$want" != 22 ]; then
		grep -q "pid $P" "$W/err" || why="$why message does not name pid $P;"
	fi
	crashed "$rc" "$W/err" && why="$why crashed;"
	alive "$P" && why="$why pid $P is alive;"
	kill -KILL "$P" 2>/dev/null
	[ -n "$why" ] && why="$why stderr: $(errline)"
	verdict "$name" "$why"
}

# ---- the whole directory moved (reloc_all) ----
all_in "in place, no relocation" "$O" "$N"
mv "$O" "$N"
refused "moved, no relocation: ENOENT" 2 "$O/"
refused "moved, no relocation: --run-on-fail-env" 42 "" --run-on-fail-env "exit 42"
refused "moved, no relocation: --run-on-fail-perm does not apply" 2 "$O/" \
	--run-on-fail-perm "exit 42"
all_in "moved, --relocate OLD=NEW" "$N" "$O" --relocate "$O=$N"
all_in "--relocate=OLD=NEW" "$N" "$O" --relocate="$O=$N"
all_in "trailing slashes on both sides" "$N" "$O" --relocate "$O//=$N/"
all_in "NEW not canonical" "$N" "$O" --relocate "$O=$D/../d/./new/"
all_in "a pair that matches nothing first" "$N" "$O" \
	--relocate /nowhere=/elsewhere --relocate "$O/fil=$RW/bogus" --relocate "$O=$N"
all_in "the first matching pair wins" "$N" "$O" --relocate "$O=$N" --relocate "$O=$RW/bogus"
refused "a later pair does not undo the first" 2 "$RW/bogus/" \
	--relocate "$O=$RW/bogus" --relocate "$O=$N"
refused "a prefix that is not a whole component does not match" 2 "$O/" \
	--relocate "$D/ol=$N"
refused "OLD longer than the saved directory does not match" 2 "$O/" \
	--relocate "$O/prog2=$N/prog" --relocate "$O/work/x=$N/work"
# More than BLCR's 16 pairs: the one that matches is the 21st.
many=()
for i in $(seq 20); do
	many+=(--relocate "/nowhere$i=/elsewhere$i")
done
all_in "more than 16 pairs" "$N" "$O" "${many[@]}" --relocate "$O=$N"
# A result of PATH_MAX bytes or more: ENAMETOOLONG, in the perm class.
long=$RW
while [ ${#long} -lt 4100 ]; do
	long=$long/xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
done
refused "a relocated path too long: ENAMETOOLONG" 36 "PATH_MAX" --relocate "$O=$long"
refused "a relocated path too long: --run-on-fail-perm" 42 "" \
	--run-on-fail-perm "exit 42" --relocate "$O=$long"
refused "a relocated path too long: --run-on-fail-env does not apply" 36 "PATH_MAX" \
	--run-on-fail-env "exit 42" --relocate "$O=$long"
mv "$N" "$O"
# The parent directory moved: a pair on the parent covers everything below.
mv "$D" "$RW/e"
all_in "a pair on a parent component" "$RW/e/old" "$D" --relocate "$D=$RW/e"
mv "$RW/e" "$D"

# ---- one thing moved (reloc_exe, reloc_file, reloc_dir) ----
mkdir -p "$RW/elsewhere"
mv "$O/prog" "$RW/elsewhere/prog"
refused "executable moved, no relocation" 2 "$O/prog"
comes_back "executable moved, relocated" "$RW/elsewhere" "$O" "$O" "$O" "$O" "$O" "$O" "$RW/none" \
	--relocate "$O/prog=$RW/elsewhere/prog"
mv "$RW/elsewhere/prog" "$O/prog"

mv "$O/file" "$RW/elsewhere/file"
refused "open file moved, no relocation" 2 "$O/file"
comes_back "open file moved, relocated" "$O" "$O" "$RW/elsewhere" "$O" "$O" "$O" "$O" "$RW/none" \
	--relocate "$O/file=$RW/elsewhere/file"
mv "$RW/elsewhere/file" "$O/file"

mv "$O/work" "$RW/elsewhere/work"
refused "working directory moved, no relocation" 2 "$O/work"
comes_back "working directory moved, relocated" "$O" "$RW/elsewhere" "$O" "$O" "$O" "$O" "$O" \
	"$RW/none" --relocate "$O/work=$RW/elsewhere/work"
mv "$RW/elsewhere/work" "$O/work"

mv "$O/libx.so" "$RW/elsewhere/libx.so"
refused "library moved, no relocation" 2 "$O/libx.so"
comes_back "library moved, relocated" "$O" "$O" "$O" "$O" "$O" "$RW/elsewhere" "$O" "$RW/none" \
	--relocate "$O/libx.so=$RW/elsewhere/libx.so"
mv "$RW/elsewhere/libx.so" "$O/libx.so"

mv "$O/data" "$RW/elsewhere/data"
mv "$O/shared" "$RW/elsewhere/shared"
refused "mapped files moved, no relocation" 2 "$O/"
comes_back "mapped files moved, relocated" "$O" "$O" "$O" "$RW/elsewhere" "$RW/elsewhere" "$O" \
	"$O" "$RW/none" --relocate "$O/data=$RW/elsewhere/data" \
	--relocate "$O/shared=$RW/elsewhere/shared"
mv "$RW/elsewhere/data" "$RW/elsewhere/shared" "$O/"

# A named FIFO (BLCR's reloc_fifo): moved, it is reopened where it went; gone, it
# is made again, at the relocated path; its data come back either way.
mv "$O/fifo" "$RW/elsewhere/fifo"
comes_back "FIFO moved, relocated" "$O" "$O" "$O" "$O" "$O" "$O" "$RW/elsewhere" "$RW/none" \
	--relocate "$O/fifo=$RW/elsewhere/fifo"
rm "$RW/elsewhere/fifo"
comes_back "FIFO gone, relocated: made again there" "$O" "$O" "$O" "$O" "$O" "$O" \
	"$RW/elsewhere" "$RW/none" --relocate "$O/fifo=$RW/elsewhere/fifo"
why=""
[ -p "$RW/elsewhere/fifo" ] || why="no FIFO at $RW/elsewhere/fifo;"
[ -e "$O/fifo" ] && why="$why one made at the old path;"
verdict "FIFO gone, relocated: the new one is where NEW says" "$why"
mv "$RW/elsewhere/fifo" "$O/fifo"

# ---- escapes: '=' and '\' in both OLD and NEW ----
E=$RW/'e=q\s'
make_home "$E"
if start_movable "$E" "$C" && save_movable "$pid" "$CTX"; then
	P=$pid
	X=$RW/'n=e\w'
	mv "$E" "$X"
	refused "escapes: moved, no relocation" 2 "$E/"
	all_in "escapes: \\= and \\\\ on both sides" "$X" "$E" \
		--relocate "$RW/e\\=q\\\\s=$RW/n\\=e\\\\w"
	refused "escapes: an unescaped = is refused (args)" 22 "relocation" \
		--relocate "$RW/e=q\\\\s=$RW/n\\=e\\\\w"
	# "\s" is no escape: it stays as it is, and matches the saved name.
	all_in "escapes: a backslash before another character stays" "$X" "$E" \
		--relocate "$RW/e\\=q\\s=$RW/n\\=e\\\\w/"
else
	fail "escapes: setup" "cannot start or checkpoint the process in $E: $(errline)"
fi
finish
