#!/usr/bin/env bash
# unsupported.sh: state crest cannot checkpoint yet fails the checkpoint cleanly
# (design.md, "Errors"). For each kind, a holder process (tests/fail/holder.c) keeps one
# such descriptor; cr_checkpoint must exit with ENOTSUP (95) and a message naming the
# pid, the descriptor and the kind, write no context file (nor leave any other file),
# and leave the holder running exactly as before: not traced, not stopped, the same
# memory map and descriptors, its object intact, and still answering on its pipe.
#
#   BIN=build/bin TBIN=build/tests bash tests/fail/unsupported.sh
# shellcheck source=tests/fail/common.bash
. "$(dirname "$0")/common.bash"
HOLDER=$TBIN/fail/holder
if [ ! -x "$HOLDER" ]; then
	fail "setup" "$HOLDER is missing (make test-progs)"
	exit 1
fi

# The holder's descriptors, as "N -> target" lines.
fdlist() { # pid
	local f
	for f in /proc/"$1"/fd/*; do
		printf '%s -> %s\n' "${f##*/}" "$(readlink "$f")"
	done
}

# Send a command to the holder, read one line of answer with a bound.
ask() { # command; sets $answer
	answer=""
	printf '%s\n' "$1" >&"$to" || return 1
	read -r -t "$WAIT_TIMEOUT" -u "$from" answer
}

# One case: a holder of KIND; the checkpoint must fail naming the kind (a regular
# expression, matched without regard to case).
refused() { # name, kind, pattern
	local name=$1 kind=$2 pat=$3 why="" d=$W/$2 hpid fd line maps0 fds0 files0
	mkdir "$d" && cd "$d" || exit 2
	# Its stdio are pipes.
	coproc HOLD { exec "$HOLDER" "$kind" 2>holder.err; }
	hpid=$HOLD_PID
	started+=("$hpid")
	to=${HOLD[1]} from=${HOLD[0]}
	if ! read -r -t "$WAIT_TIMEOUT" -u "$from" line || [ "${line%% *}" != FD ]; then
		fail "$name" "holder did not start: '$line' $(cat holder.err)"
		kill_wait "$hpid"
		cd "$W" || exit 2
		return
	fi
	fd=${line#FD }
	maps0=$(cat "/proc/$hpid/maps")
	fds0=$(fdlist "$hpid")
	files0=$(find . | sort)

	run "$CKPT" -f "$d/context" "$hpid"
	[ "$rc" = 95 ] || why="exit $rc, want 95 (ENOTSUP);"
	crashed "$rc" "$W/err" && why="$why crashed;"
	grep -q "pid $hpid" "$W/err" || why="$why message does not name pid $hpid;"
	if [ "$fd" != -1 ] && ! grep -q "descriptor $fd\b" "$W/err"; then
		why="$why message does not name descriptor $fd;"
	fi
	grep -qiE -- "$pat" "$W/err" || why="$why message does not say '$pat';"
	grep -q '^Checkpoint failed: ' "$W/err" || why="$why no 'Checkpoint failed:' line;"
	[ -e "$d/context" ] && why="$why context file written;"
	[ "$(find . | sort)" = "$files0" ] || why="$why files left behind: $(find . | tr '\n' ' ');"

	# The holder runs on as before.
	if ! alive "$hpid"; then
		why="$why holder died;"
	else
		[ "$(tracer "$hpid")" = 0 ] || why="$why still traced by $(tracer "$hpid");"
		case $(state "$hpid") in
		T | t) why="$why left stopped;" ;;
		esac
		[ "$(cat "/proc/$hpid/maps")" = "$maps0" ] || why="$why memory map changed;"
		[ "$(fdlist "$hpid")" = "$fds0" ] || why="$why descriptors changed;"
		if ! ask check; then
			why="$why no answer;"
		elif [ "$answer" != ok ]; then
			why="$why holder says '$answer';"
		fi
	fi
	[ -n "$why" ] && why="$why stderr: $(errline)"
	verdict "$name" "$why"
	ask quit
	wait_until gone "$hpid" || why=still
	kill_wait "$hpid"
	[ "$why" = still ] && fail "$name" "holder did not exit on quit"
	cd "$W" || exit 2
}

refused "unix socket with descriptors in flight" scm-rights 'descriptors in flight \(SCM_RIGHTS\)'
refused "unix socket receiving credentials, holding data" passcred 'receiving credentials'
refused "listening TCP socket" tcp-listen 'listening TCP socket'
refused "TCP connection within the process" tcp-self 'TCP connection between two of its own'
refused "UDP socket" udp 'UDP socket'
refused "netlink socket" netlink 'netlink socket'
refused "epoll watching a file no process holds" epoll-lost 'epoll instance watching a file no process of the checkpoint holds'
refused "inotify watch on a file of /proc" inotify-proc 'inotify watch 1 is on a file crest cannot find again'
refused "io_uring" io_uring 'io_uring'
refused "named FIFO holding packets" packet-fifo 'FIFO .*packet'
refused "file lease" lease 'lease'
refused "pipe holding packets" packet-pipe 'packet'
refused "signal-driven I/O" async 'signal-driven I/O'
refused "a seccomp filter of its own" seccomp 'runs under seccomp \(filters of its own\)'
refused "memory-deny-write-execute" mdwe 'denies itself writable executable memory'
refused "pseudo-terminal whose slave is held outside" ptmx 'pseudo-terminal master whose slave /dev/pts/[0-9]+ is open as descriptor [0-9]+ of pid [0-9]+, outside the checkpoint'
finish
