#!/usr/bin/env bash
# tty.sh: a process whose stdio is a terminal (blcr-reference.md §4.7). Its terminal
# leads outside the checkpoint: the checkpoint succeeds and says so with
# --kmsg-warning; restarted from another terminal, the process's descriptors 0, 1 and
# 2 are cr_restart's terminal, which is also its controlling terminal, and it has no
# descriptor it did not have; /dev/tty, which it had open, is reopened and so leads to
# the new terminal; it reads and writes there; cr_restart exits as it does.
# Each terminal is a pseudo-terminal made by script(1).
#
#   BIN=build/bin TBIN=build/tests bash tests/fail/tty.sh
# shellcheck source=tests/fail/common.bash
. "$(dirname "$0")/common.bash"
TTYECHO=$TBIN/fail/ttyecho
if [ ! -x "$TTYECHO" ] || ! command -v script >/dev/null; then
	fail "setup" "$TTYECHO or script(1) is missing"
	exit 1
fi
cd "$W" || exit 2

# The controlling terminal (tty_nr) of a process.
ctty() { # pid
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	s=${s##*) }
	read -r _ _ _ _ tty _ <<<"$s"
	echo "$tty"
}

# Run a command on a new pseudo-terminal; its input is fed through a FIFO we hold
# open on fd $2's variable, its output (the terminal's) goes to a file. Sets $spid.
on_terminal() { # fifo, output file, command
	mkfifo "$1"
	script -qfec "$3" /dev/null <"$1" >"$2" 2>&1 &
	spid=$!
	started+=("$spid")
}

# Has the restart finished: pid runs ttyecho again, untraced?
# shellcheck disable=SC2317 # called through wait_until
restored() { # pid
	[ "$(readlink "/proc/$1/exe")" = "$TTYECHO" ] && [ "$(tracer "$1")" = 0 ]
}

stop() { # why: a failure that ends the test
	fail "$1" "$2"
	finish
}

# ---- on a first terminal ----
on_terminal in1 out1 "exec '$TTYECHO' '$W/pid'"
s1=$spid
exec {w1}>in1
wait_until test -s "$W/pid" || stop "start" "ttyecho did not start: $(cat out1)"
pid=$(cat "$W/pid")
started+=("$pid")
tty1=$(readlink "/proc/$pid/fd/0")
why=""
case $tty1 in
/dev/pts/*) ;;
*) why="stdin is $tty1, not a pseudo-terminal;" ;;
esac
for f in 1 2; do
	[ "$(readlink "/proc/$pid/fd/$f")" = "$tty1" ] || why="$why fd $f is not $tty1;"
done
printf 'one\n' >&"$w1"
wait_until grep -q 'tty: one' out1 || why="$why no answer on the first terminal: $(tr '\r\n' '  ' <out1);"
[ "$(readlink "/proc/$pid/fd/3")" = /dev/tty ] || why="$why fd 3 is not /dev/tty;"
[ -n "$why" ] && stop "start" "$why"
# Whatever else it inherited comes back too, as cr_restart's descriptors.
fds0=$(cd "/proc/$pid/fd" && echo *)
# Keep the first terminal allocated: the second must be another one.
exec {keep}<>"$tty1"

# ---- checkpoint: the terminal leads outside, no failure ----
run "$CKPT" --kmsg-warning -f "$W/context" --kill "$pid"
why=""
[ "$rc" = 0 ] || why="exit $rc;"
crashed "$rc" "$W/err" && why="$why crashed;"
[ -s "$W/context" ] || why="$why no context file;"
for f in 0 1 2; do
	grep -q "pid $pid: descriptor $f (terminal, $tty1)" "$W/err" ||
		why="$why no warning about descriptor $f;"
done
wait_until gone "$pid" || why="$why pid $pid still there after --kill;"
[ -n "$why" ] && stop "checkpoint on a terminal" "$why stderr: $(errline)"
pass "checkpoint on a terminal"
exec {w1}>&-
kill_wait "$s1"

# ---- restart on a second terminal ----
on_terminal in2 out2 "exec '$RSTRT' '$W/context'"
s2=$spid
exec {w2}>in2
wait_until restored "$pid" || stop "restart on another terminal" "pid $pid not restored: $(tr '\r\n' '  ' <out2)"
rpid=$(awk '/^PPid:/ {print $2}' "/proc/$pid/status")
tty2=$(readlink "/proc/$rpid/fd/0")
why=""
[ "$(comm "$rpid")" = cr_restart ] || why="parent is $(comm "$rpid"), not cr_restart;"
case $tty2 in
/dev/pts/*) [ "$tty2" != "$tty1" ] || why="$why the second terminal is the first one;" ;;
*) why="$why cr_restart's stdin is $tty2;" ;;
esac
for f in 0 1 2; do
	t=$(readlink "/proc/$pid/fd/$f")
	[ "$t" = "$tty2" ] || why="$why fd $f is $t, not $tty2;"
done
t=$(readlink "/proc/$pid/fd/3")
[ "$t" = /dev/tty ] || why="$why fd 3 is $t, not /dev/tty;"
fds=$(cd "/proc/$pid/fd" && echo *)
[ "$fds" = "$fds0" ] || why="$why descriptors are $fds, not $fds0;"
[ "$(ctty "$pid")" = "$(ctty "$rpid")" ] ||
	why="$why controlling terminal $(ctty "$pid"), cr_restart's is $(ctty "$rpid");"
verdict "restart on another terminal" "$why"

printf 'two\n' >&"$w2"
why=""
wait_until grep -q 'echo: two' out2 || why="no echo on stdout;"
wait_until grep -q 'err: two' out2 || why="$why no echo on stderr;"
wait_until grep -q 'tty: two' out2 || why="$why no echo on /dev/tty;"
[ -n "$why" ] && why="$why terminal shows: $(tr '\r\n' '  ' <out2)"
verdict "restarted process uses the new terminal" "$why"

printf 'quit\n' >&"$w2"
why=""
wait_until gone "$pid" || why="ttyecho did not exit on quit;"
wait_until gone "$s2" || why="$why cr_restart did not exit;"
wait "$s2"
st=$?
[ "$st" = 0 ] || why="$why cr_restart (through script) exited $st;"
exec {w2}>&- {keep}>&-
verdict "exit status through cr_restart" "$why"
finish
