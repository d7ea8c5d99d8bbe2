#!/usr/bin/env bash
# pty.sh: a job running inside a pseudo-terminal (tests/fail/ptyjob.c: a driver holding
# the master, a session leader whose controlling terminal is the slave, a shell in the
# foreground group reading commands from it), checkpointed as a tree and killed.
#
# Restarted with --restore-pgid --restore-sid: every pid, pgid and sid as before; the
# controlling terminal (tty_nr in /proc/PID/stat) of the leader and of the shell, its
# child, is the driver's new pty, its foreground group (tpgid) the shell's; the
# terminal's settings (stty -g) and window size are those saved; a command sent to the
# master after the restart reaches the shell and its output comes back through the
# master, also through its descriptor of /dev/tty, which is one of the new pty. The
# same in a new pid namespace (--pidns), the ids as seen from there. Without
# --restore-sid: a warning says the session is not back, and commands still flow. A
# leader that holds no descriptor of its terminal ("bare") gets it back all the same,
# with the shell's group in the foreground.
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
answers() { grep -q "$2" "$1"; } # output file, text
# Does a process hold a descriptor of a pty slave?
# shellcheck disable=SC2317 # called through wait_until
holds_pts() { # pid
	local f
	for f in /proc/"$1"/fd/*; do
		case $(readlink "$f") in /dev/pts/*) return 0 ;; esac
	done
	return 1
}
# shellcheck disable=SC2317 # called through wait_until
no_pts() { ! holds_pts "$1"; }
# Not even zombies left: a restored process is then told by its pid alone.
# shellcheck disable=SC2317 # called through wait_until
vanished() { [ ! -d "/proc/$1" ]; }
# The pid here of the process with pid $1 in the pid namespace of the restart
# (--pidns): a descendant of cr_restart whose last NSpid is $1; nothing if none.
# shellcheck disable=SC2317 # called through wait_until
host_pid() { # pid in the namespace
	local todo=("$rpid") p
	while [ ${#todo[@]} -gt 0 ]; do
		p=${todo[0]}
		todo=("${todo[@]:1}")
		if awk -v want="$1" '/^NSpid:/ {exit !(NF >= 3 && $NF == want)}' \
			"/proc/$p/status" 2>/dev/null; then
			echo "$p"
			return 0
		fi
		# shellcheck disable=SC2207 # a list of pids
		todo+=($(children "$p"))
	done
	return 1
}
# shellcheck disable=SC2317 # called through wait_until
ns_ready() { local h; h=$(host_pid "$1") && ready_at "$h" "$2"; } # pid in the namespace, name

# Start a job (extra argument "bare" or nothing) with its commands from the FIFO
# NAME.in and its output in NAME.out, and check it runs: sets drv, lead, sh, pts, the
# writer fd w, and before (the ids of leader and shell). Returns 1 after a failure.
start_job() { # name [bare]
	local why="" want
	mkfifo "$1.in"
	"$PTYJOB" "$W/$1.ready" ${2:+"$2"} <"$1.in" >>"$1.out" 2>"$1.err" &
	drv=$!
	started+=("$drv")
	exec {w}>"$1.in"
	wait_until test -s "$1.ready" || {
		fail "$1 start" "ptyjob did not start: $(cat "$1.err")"
		return 1
	}
	read -r drv2 lead sh pts <"$1.ready"
	[ "$drv2" = "$drv" ] || why="driver $drv2 is not $drv;"
	[ -z "${2:-}" ] || wait_until no_pts "$lead" || why="$why the leader still holds the pty;"
	# shellcheck disable=SC2016 # the job's shell expands it
	echo 'echo one-$((20+3))' >&"$w"
	wait_until answers "$1.out" one-23 ||
		why="$why no answer before the checkpoint: $(tr '\r\n' '  ' <"$1.out");"
	before="$(ids "$lead") / $(ids "$sh")"
	want="$lead $lead $lead $(pts_nr "$pts") $sh / $sh $sh $lead $(pts_nr "$pts") $sh"
	[ "$before" = "$want" ] || why="$why ids before: $before, want $want;"
	[ -z "$why" ] || {
		fail "$1 start" "$why"
		return 1
	}
}

# Checkpoint the job as a tree into NAME.ctx and kill it.
checkpoint_job() { # name
	local p
	run "$CKPT" -T --kill -f "$W/$1.ctx" "$drv"
	[ "$rc" = 0 ] || {
		fail "$1 checkpoint" "exit $rc: $(errline)"
		return 1
	}
	wait "$drv" 2>/dev/null
	for p in "$lead" "$sh"; do wait_until vanished "$p"; done
}

# After a restart with --restore-pgid --restore-sid: the ids, with the leader's and
# the shell's controlling terminal the new pty and the shell's group in its
# foreground, as pids hd, hl, hs see them (the saved ones but with --pidns). Appends
# to why.
check_session() { # host pids of driver, leader, shell
	local hd=$1 hl=$2 hs=$3 npts after want
	npts=$(master_pts "$hd")
	if [ -z "$npts" ]; then
		why="$why the driver has no pty master;"
		return
	fi
	after="$(ids "$hl") / $(ids "$hs")"
	want="$hl $hl $hl $(pts_nr "$npts") $hs / $hs $hs $hl $(pts_nr "$npts") $hs"
	[ "$after" = "$want" ] || why="$why ids after: $after, want $want (before: $before);"
}

# Kill a restored job and wait until its pids are free.
end_job() { # pids...
	local p
	kill -KILL "$@" 2>/dev/null
	reap "$rpid"
	for p in "$@"; do wait_until vanished "$p"; done
}

start_job a || finish
set0=$(settings "$pts")
checkpoint_job a || finish

# ---- with its session and groups ----
start_restart --restore-pgid --restore-sid "$W/a.ctx"
wait_until ready_at "$sh" sh && wait_until ready_at "$drv" ptyjob
why=""
check_session "$drv" "$lead" "$sh"
npts=$(master_pts "$drv")
[ "$(readlink "/proc/$lead/fd/0")" = "/dev/pts/$npts" ] || why="$why the leader's stdin is $(readlink "/proc/$lead/fd/0");"
[ -z "$why" ] && [ "$(settings "$npts")" != "$set0" ] && why="settings $(settings "$npts"), want $set0;"
# shellcheck disable=SC2016 # the job's shell expands it
echo 'echo two-$((40+2))' >&"$w"
wait_until answers a.out two-42 || why="$why no answer after the restart: $(tr '\r\n' '  ' <a.out) ($(cat "$W/rerr"));"
# /dev/tty, open on the pty, leads to the new one.
[ "$(readlink "/proc/$sh/fd/9")" = "/dev/pts/$npts" ] || why="$why the shell's /dev/tty is $(readlink "/proc/$sh/fd/9");"
echo 'echo via-tty >&9' >&"$w"
wait_until answers a.out via-tty || why="$why nothing written to /dev/tty came out;"
verdict restore-sid "$why"
end_job "$drv" "$lead" "$sh"

# ---- the same in a new pid namespace ----
start_restart --pidns --restore-pgid --restore-sid "$W/a.ctx"
why=""
if wait_until ns_ready "$sh" sh && wait_until ns_ready "$drv" ptyjob; then
	hd=$(host_pid "$drv") hl=$(host_pid "$lead") hs=$(host_pid "$sh")
	check_session "$hd" "$hl" "$hs"
	echo 'echo in-pidns' >&"$w"
	wait_until answers a.out in-pidns || why="$why no answer: $(tr '\r\n' '  ' <a.out) ($(cat "$W/rerr"));"
	verdict pidns "$why"
	end_job "$hd" "$hl" "$hs"
else
	verdict pidns "not restored: $(cat "$W/rerr")"
	reap "$rpid"
fi

# ---- without: cr_restart's session, the pty nobody's terminal ----
start_restart --kmsg-warning --restore-pgid "$W/a.ctx"
wait_until ready_at "$sh" sh && wait_until ready_at "$drv" ptyjob
why=""
grep -q "without --restore-sid" "$W/rerr" || why="no warning: $(tr '\n' ' ' <"$W/rerr");"
read -r _ _ lsid ltty _ <<<"$(ids "$lead")"
[ "$lsid" != "$lead" ] || why="$why the leader leads its session;"
npts=$(master_pts "$drv")
[ "$ltty" != "$(pts_nr "$npts")" ] || why="$why the pty is the leader's terminal;"
# shellcheck disable=SC2016 # the job's shell expands it
echo 'echo three-$((60+1))' >&"$w"
wait_until answers a.out three-61 || why="$why no answer: $(tr '\r\n' '  ' <a.out);"
verdict no-restore-sid "$why"
end_job "$drv" "$lead" "$sh"

# ---- a leader with no descriptor of its terminal ----
if ! start_job b bare || ! checkpoint_job b; then finish; fi
start_restart --restore-pgid --restore-sid "$W/b.ctx"
wait_until ready_at "$sh" sh && wait_until ready_at "$drv" ptyjob
why=""
check_session "$drv" "$lead" "$sh"
holds_pts "$lead" && why="$why the leader holds the pty;"
echo 'echo bare-leader' >&"$w"
wait_until answers b.out bare-leader || why="$why no answer: $(tr '\r\n' '  ' <b.out) ($(cat "$W/rerr"));"
verdict bare-leader "$why"
end_job "$drv" "$lead" "$sh"
finish
