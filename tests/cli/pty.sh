#!/usr/bin/env bash
# pty.sh: a job running inside a pseudo-terminal (tests/fail/ptyjob.c: a driver holding
# the master, a session leader whose controlling terminal is the slave, a shell in the
# foreground group reading commands from it), checkpointed as a tree and killed.
#
# Restarted with --restore-pgid --restore-sid: every pid, pgid and sid as before; the
# leader's controlling terminal (tty_nr in /proc/PID/stat) is the driver's new pty, its
# foreground group (tpgid) the shell's; the terminal's settings (stty -g) and window
# size are those saved; a command sent to the master after the restart reaches the
# shell and its output comes back through the master, also through its descriptor of
# /dev/tty, which is one of the new pty. Restarted without
# --restore-sid: a warning says the session is not back, and commands still flow.
#
#   BIN=build/bin TBIN=build/tests bash tests/cli/pty.sh
# shellcheck source=tests/fail/common.bash
. "$(dirname "$0")/../fail/common.bash"
PTYJOB=$TBIN/fail/ptyjob
if [ ! -x "$PTYJOB" ]; then
	fail "setup" "$PTYJOB is missing (make test-progs)"
	finish
fi
cd "$W" || exit 2

# pid pgid sid tty_nr tpgid of a process.
ids() { # pid
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	s=${s##*) }
	read -r _ _ pgid sid tty tpgid _ <<<"$s"
	echo "$1 $pgid $sid $tty $tpgid"
}
# tty_nr of /dev/pts/N (the kernel's new_encode_dev of 136:N).
pts_nr() { echo $(((136 << 8) | ($1 & 0xff) | (($1 & ~0xff) << 12))); }
# The pts number of the driver's master.
master_pts() { # driver pid
	local f
	for f in /proc/"$1"/fd/*; do
		[ "$(readlink "$f")" = /dev/ptmx ] || continue
		awk '/^tty-index:/ {print $2}' "/proc/$1/fdinfo/${f##*/}"
		return
	done
}
settings() { stty -g -F "/dev/pts/$1" && stty size -F "/dev/pts/$1"; }
# The job's answer to a command, within the bound.
# shellcheck disable=SC2317 # called through wait_until
answers() { grep -q "$1" out; }

mkfifo in
"$PTYJOB" "$W/ready" <in >>out 2>err &
drv=$!
started+=("$drv")
exec {w}>in
wait_until test -s ready || {
	fail start "ptyjob did not start: $(cat err)"
	finish
}
read -r drv2 lead sh pts <ready
why=""
[ "$drv2" = "$drv" ] || why="driver $drv2 is not $drv;"
# shellcheck disable=SC2016 # the job's shell expands it
echo 'echo one-$((20+3))' >&"$w"
wait_until answers one-23 || why="$why no answer before the checkpoint: $(tr '\r\n' '  ' <out);"
[ -n "$why" ] && {
	fail start "$why"
	finish
}
before="$(ids "$lead") / $(ids "$sh")"
want="$lead $lead $lead $(pts_nr "$pts") $sh / $sh $sh $lead"
case $before in
"$want"*) ;;
*) fail start "ids before: $before, want $want" && finish ;;
esac
set0=$(settings "$pts")

run "$CKPT" -T --kill -f "$W/ctx" "$drv"
[ "$rc" = 0 ] || {
	fail checkpoint "exit $rc: $(errline)"
	finish
}
wait "$drv" 2>/dev/null
# Not even zombies left: a restored process is then told by its pid alone.
# shellcheck disable=SC2317 # called through wait_until
vanished() { [ ! -d "/proc/$1" ]; }
for p in "$lead" "$sh"; do wait_until vanished "$p"; done

# ---- with its session and groups ----
start_restart --restore-pgid --restore-sid "$W/ctx"
wait_until ready_at "$sh" sh && wait_until ready_at "$drv" ptyjob
why=""
npts=$(master_pts "$drv")
[ -n "$npts" ] || why="the driver has no pty master;"
after="$(ids "$lead") / $(ids "$sh")"
want="$lead $lead $lead $(pts_nr "$npts") $sh / $sh $sh $lead"
case $after in
"$want"*) ;;
*) why="$why ids after: $after, want $want (before: $before);" ;;
esac
[ "$(readlink "/proc/$lead/fd/0")" = "/dev/pts/$npts" ] || why="$why the leader's stdin is $(readlink "/proc/$lead/fd/0");"
[ -z "$why" ] && [ "$(settings "$npts")" != "$set0" ] && why="settings $(settings "$npts"), want $set0;"
# shellcheck disable=SC2016 # the job's shell expands it
echo 'echo two-$((40+2))' >&"$w"
wait_until answers two-42 || why="$why no answer after the restart: $(tr '\r\n' '  ' <out) ($(cat "$W/rerr"));"
# /dev/tty, open on the pty, leads to the new one.
[ "$(readlink "/proc/$sh/fd/9")" = "/dev/pts/$npts" ] || why="$why the shell's /dev/tty is $(readlink "/proc/$sh/fd/9");"
echo 'echo via-tty >&9' >&"$w"
wait_until answers via-tty || why="$why nothing written to /dev/tty came out;"
verdict restore-sid "$why"
# The shell is born before its leader has the terminal back, so it has none yet
# (a missing step of the restart, see the report of issue 3): say what it has.
read -r _ _ _ shtty _ <<<"$(ids "$sh")"
[ "$shtty" = "$(pts_nr "$npts")" ] || echo "NOTE $SUITE: the shell's controlling terminal is $shtty, not the pty ($(pts_nr "$npts"))"
kill -KILL "$drv" "$lead" "$sh" 2>/dev/null
wait "$rpid" 2>/dev/null
for p in "$drv" "$lead" "$sh"; do wait_until vanished "$p"; done

# ---- without: cr_restart's session, the pty nobody's terminal ----
start_restart --kmsg-warning --restore-pgid "$W/ctx"
wait_until ready_at "$sh" sh && wait_until ready_at "$drv" ptyjob
why=""
grep -q "without --restore-sid" "$W/rerr" || why="no warning: $(tr '\n' ' ' <"$W/rerr");"
read -r _ _ lsid ltty _ <<<"$(ids "$lead")"
[ "$lsid" != "$lead" ] || why="$why the leader leads its session;"
npts=$(master_pts "$drv")
[ "$ltty" != "$(pts_nr "$npts")" ] || why="$why the pty is the leader's terminal;"
# shellcheck disable=SC2016 # the job's shell expands it
echo 'echo three-$((60+1))' >&"$w"
wait_until answers three-61 || why="$why no answer: $(tr '\r\n' '  ' <out);"
verdict no-restore-sid "$why"
kill -KILL "$drv" "$lead" "$sh" 2>/dev/null
wait "$rpid" 2>/dev/null
finish
