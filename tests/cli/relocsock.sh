#!/usr/bin/env bash
# relocsock.sh: --relocate applies to unix socket names. A server listening on a path
# (tests/fail/sockserv.c) is checkpointed and killed; its directory is moved. Restarted
# with --relocate OLD=NEW it listens at the new path (and nothing is made at the old
# one), clients get its answer there; restarted without, the directory being gone, it
# fails in the env class naming the path. A relocated name too long for a socket
# address is refused clearly.
#
#   BIN=build/bin TBIN=build/tests bash tests/cli/relocsock.sh
# shellcheck source=tests/fail/common.bash
. "$(dirname "$0")/../fail/common.bash"
cd "$W" || exit 2
SRV=$TBIN/fail/sockserv

mkdir -p "$W/old"
"$SRV" "$W/old/sock" </dev/null >/dev/null 2>"$W/srv.err" &
P=$!
started+=("$P")
# shellcheck disable=SC2317 # called through wait_until
answers() { [ "$("$SRV" -c "$1" 2>/dev/null)" = "pong $P" ]; }
if ! wait_until answers "$W/old/sock"; then
	fail "setup" "the server does not answer: $(cat "$W/srv.err")"
	finish
fi
run "$CKPT" --kill -f "$W/ctx" "$P"
if [ "$rc" != 0 ]; then
	fail "setup" "checkpoint: exit $rc: $(errline)"
	finish
fi
kill_wait "$P"
mv "$W/old" "$W/new"

# Without --relocate: the directory is gone.
why=""
run "$RSTRT" "$W/ctx"
[ "$rc" = 2 ] || why="exit $rc, want 2 (ENOENT);"
grep -qF "$W/old" "$W/err" || why="$why the message does not name $W/old;"
alive "$P" && why="$why pid $P exists;"
verdict "socket directory gone, no --relocate: ENOENT naming it" "$why"

# With --relocate: listening at the new name.
why=""
rm -f "$W/new/sock"
start_restart --relocate "$W/old=$W/new" "$W/ctx"
if wait_until ready_at "$P" sockserv; then
	wait_until answers "$W/new/sock" || why="no answer at $W/new/sock;"
	[ -e "$W/old" ] && why="$why $W/old was made;"
	grep -qE " $W/new/sock\$" /proc/net/unix || why="$why /proc/net/unix does not list it;"
else
	why="pid $P did not come back: $(tr '\n' '|' <"$W/rerr")"
fi
kill -KILL "$P" 2>/dev/null
reap "$rpid"
verdict "--relocate OLD=NEW: the server listens at the new path" "$why"

# A relocated name longer than a socket address holds.
why=""
long=$W/$(printf 'd%.0s' $(seq 120))
mkdir -p "$long"
run "$RSTRT" --relocate "$W/old=$long" "$W/ctx"
[ "$rc" = 36 ] || why="exit $rc, want 36 (ENAMETOOLONG);"
grep -q "too long" "$W/err" || why="$why the message does not say too long;"
alive "$P" && why="$why pid $P exists;"
verdict "a relocated socket name too long: ENAMETOOLONG" "$why"
finish
