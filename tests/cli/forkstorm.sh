#!/usr/bin/env bash
# forkstorm.sh: checkpoints of a tree that forks children, reaps them late and starts
# threads without pause (tests/fail/forker.c). Every checkpoint must succeed and
# leave every part of the tree running, untraced and unstopped; the context holds
# the processes and zombies of one instant. Killed and restarted (twice in a row),
# the tree goes on forking and counting. The restarts are made in a new pid namespace
# (--pidns): a fork storm goes through this machine's small pid space fast, and a
# saved pid may belong to anyone by the time of the restart.
#
#   BIN=build/bin TBIN=build/tests bash tests/cli/forkstorm.sh
# shellcheck source=tests/fail/common.bash
. "$(dirname "$0")/../fail/common.bash"
cd "$W" || exit 2
FORKER=$TBIN/fail/forker

val() { cat "$W/c/$1" 2>/dev/null; }
# Every counter grows within the wait limit.
all_grow() {
	local n a b
	for n in top w1 w2; do
		a=$(val $n)
		[ -n "$a" ] || return 1
		# shellcheck disable=SC2317 # called through wait_until
		grows() { b=$(val "$n") && [ -n "$b" ] && [ "$b" -gt "$a" ]; }
		wait_until grows || return 1
	done
}

# The processes of the tree under pid (itself included).
tree_of() { # pid
	local all=("$1") i=0 p t
	while [ $i -lt ${#all[@]} ]; do
		p=${all[$i]}
		for t in /proc/"$p"/task/*; do
			# shellcheck disable=SC2207 # pids
			all+=($(cat "$t/children" 2>/dev/null))
		done
		i=$((i + 1))
	done
	echo "${all[@]}"
}

# Nothing in the tree is traced or stopped.
untouched() { # top pid
	local p
	for p in $(tree_of "$1"); do
		[ -d "/proc/$p" ] || continue
		[ "$(tracer "$p")" = 0 ] || return 1
		case $(state "$p") in T | t) return 1 ;; esac
	done
}

mkdir -p "$W/c"
"$FORKER" "$W/c" </dev/null >/dev/null 2>"$W/forker.err" &
top=$!
started+=("$top")
if ! wait_until all_grow; then
	fail "setup" "the forker did not start: $(cat "$W/forker.err")"
	finish
fi

why=""
for i in 1 2 3 4 5 6 7 8; do
	run "$CKPT" -T -f "$W/ctx.$i" "$top"
	[ "$rc" = 0 ] || why="$why checkpoint $i: exit $rc: $(errline);"
	untouched "$top" || why="$why after checkpoint $i a process is traced or stopped;"
	all_grow || why="$why after checkpoint $i a counter stopped;"
	"$INFO" "$W/ctx.$i" >"$W/info.$i" 2>&1 || why="$why cr_info of checkpoint $i failed;"
done
verdict "8 checkpoints of a forking tree succeed and it runs on" "$why"

why=""
n=$(grep -c '^  - process' "$W/info.8")
[ "$n" -ge 3 ] || why="only $n processes saved;"
grep -q 'zombie' "$W/info.1" "$W/info.2" "$W/info.3" "$W/info.4" "$W/info.5" \
	"$W/info.6" "$W/info.7" "$W/info.8" || echo "NOTE forkstorm: no checkpoint met a zombie"
verdict "the context holds the tree ($n processes)" "$why"

# The top of a tree restarted with --pidns, as seen from here: the child of the
# namespace's init, cr_restart's child. Sets $top.
# shellcheck disable=SC2317 # called through wait_until
restored_top() {
	local t i c
	read -r t _ <<<"$(children "$rpid")"
	[ -n "$t" ] || return 1
	read -r i _ <<<"$(children "$t")"
	[ -n "$i" ] || return 1
	read -r c _ <<<"$(children "$i")"
	[ -n "$c" ] && ready_at "$c" forker && top=$c
}

# Kill and restart, twice: the restored tree forks and counts again.
rpid=""
for cycle in 1 2; do
	why=""
	members=$(tree_of "$top")
	run "$CKPT" -T --kill -f "$W/kill.$cycle" "$top"
	[ "$rc" = 0 ] || why="checkpoint --kill: exit $rc: $(errline);"
	# The top's parent: we, then the previous cr_restart, which exits as it dies.
	if [ -z "$rpid" ]; then kill_wait "$top"; else reap "$rpid"; fi
	for p in $members; do
		wait_until gone "$p" || why="$why pid $p still there;"
	done
	start_restart --pidns "$W/kill.$cycle"
	if wait_until restored_top; then
		all_grow || why="$why a counter does not grow after the restart;"
		untouched "$top" || why="$why a restored process is traced or stopped;"
	else
		why="$why pid $top did not come back: $(tr '\n' '|' <"$W/rerr");"
	fi
	verdict "checkpoint --kill and restart $cycle: the tree forks and counts again" "$why"
done
kill -KILL "$top" 2>/dev/null
reap "$rpid"
finish
