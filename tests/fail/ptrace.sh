#!/usr/bin/env bash
# ptrace.sh: cr_checkpoint's ptrace policies (blcr-reference.md §3.6). A traced target
# fails with CR_EPTRACED (56) unless --ptraced-skip leaves it out (nothing is left:
# ESRCH, 3); --ptraced-allow cannot be honoured by an engine that freezes with ptrace
# (a process has one tracer) and fails with 56 saying why. A target that traces others
# (found through every task's TracerPid, also when it traces one thread of another
# process) fails with CR_EPTRACER (57) unless --ptracer-skip leaves it out. The last
# option of each group wins; the policies of one group do not touch the other. Every
# refusal names both processes, writes no file, and leaves tracer and tracee running
# and the trace link in place. The tracer is tests/fail/tracer.c (PTRACE_SEIZE).
#
#   BIN=build/bin TBIN=build/tests bash tests/fail/ptrace.sh
# shellcheck source=tests/fail/common.bash
. "$(dirname "$0")/common.bash"
cd "$W" || exit 2

TRACER=$TBIN/fail/tracer
if [ ! -x "$TRACER" ]; then
	fail "setup" "$TRACER is missing (make test-progs)"
	exit 1
fi

# Start a tracer of pid; sets $tpid once it traces.
start_tracer() { # mode, pid, name
	"$TRACER" "$1" "$2" </dev/null >"$W/$3.out" 2>&1 &
	tpid=$!
	started+=("$tpid")
	wait_until grep -qs '^READY' "$W/$3.out"
}

# The traced one: a counter, traced by a tracer of its leader.
if ! start_counter tracee; then
	fail "setup" "the counter did not start"
	exit 1
fi
T=$pid
if ! start_tracer seize "$T" r; then
	fail "setup" "the tracer did not start: $(cat "$W/r.out")"
	exit 1
fi
R=$tpid

# A process with two threads, only the second one traced.
"$TRACER" threads "$W/mt.count" </dev/null >/dev/null 2>&1 &
MT=$!
started+=("$MT")
wait_until has_count "$W/mt.count"
if ! start_tracer seize-thread "$MT" r2; then
	fail "setup" "the thread tracer did not start: $(cat "$W/r2.out")"
	exit 1
fi
R2=$tpid
MT2=$(awk '/^READY/ {print $2}' "$W/r2.out")

# A refusal: the code, a message naming both pids (and maybe a word), no context
# left, and the target, its tracer and the link between them as they were.
refused() { # name, code, target, other pid, pattern ("" none), tracee, its tracer, args...
	local name=$1 want=$2 tgt=$3 other=$4 pat=$5 tracee=$6 tr=$7 why="" f
	shift 7
	run "$CKPT" "$@" -f "$W/ctx" "$tgt"
	[ "$rc" = "$want" ] || why="exit $rc, want $want;"
	if ! grep -q "pid $tgt" "$W/err" || ! grep -q "pid $other" "$W/err"; then
		why="$why message does not name $tgt and $other;"
	fi
	if [ -n "$pat" ] && ! grep -qiE -- "$pat" "$W/err"; then
		why="$why message does not say '$pat';"
	fi
	crashed "$rc" "$W/err" && why="$why crashed;"
	for f in "$W/ctx" "$W/.ctx.tmp"; do
		[ -e "$f" ] && why="$why $f left;" && rm -f "$f"
	done
	[ "$(tracer "$tracee")" = "$tr" ] || why="$why $tracee now traced by '$(tracer "$tracee")';"
	alive "$tr" || why="$why the tracer $tr is gone;"
	state_is "$tgt" T && why="$why $tgt left stopped;"
	state_is "$tgt" t && why="$why $tgt left in a trace stop;"
	[ -n "$why" ] && why="$why stderr: $(errline)"
	verdict "$name" "$why"
}

# ---- a traced target ----
refused "traced: CR_EPTRACED" 56 "$T" "$R" "traced" "$T" "$R" -p
refused "traced, tree scope: CR_EPTRACED" 56 "$T" "$R" "traced" "$T" "$R" -T
refused "traced, --ptraced-error: CR_EPTRACED" 56 "$T" "$R" "" "$T" "$R" --ptraced-error
refused "traced, --ptraced-skip: left out, ESRCH" 3 "$T" "$R" "left out" "$T" "$R" \
	--ptraced-skip -p
refused "traced, --ptraced-skip, tree scope: ESRCH" 3 "$T" "$R" "left out" "$T" "$R" \
	--ptraced-skip -T
refused "traced, --ptraced-allow: CR_EPTRACED, says why" 56 "$T" "$R" "one tracer" "$T" "$R" \
	--ptraced-allow
refused "traced, --ptracer-skip does not apply" 56 "$T" "$R" "" "$T" "$R" --ptracer-skip
refused "traced, --ptraced-skip then --ptraced-error: the last wins" 56 "$T" "$R" "" "$T" "$R" \
	--ptraced-skip --ptraced-error
refused "traced, --ptraced-error then --ptraced-skip: the last wins" 3 "$T" "$R" "" "$T" "$R" \
	--ptraced-error --ptraced-skip
refused "traced, abbreviated --ptraced-s" 3 "$T" "$R" "" "$T" "$R" --ptraced-s
refused "traced, --kmsg-error: a detail line says why it was left out" 3 "$T" "$R" \
	"^- pid $T is traced by pid $R" "$T" "$R" --ptraced-skip
refused "traced thread: CR_EPTRACED" 56 "$MT" "$R2" "traced" "$MT2" "$R2" -p
refused "traced thread, --ptraced-skip: ESRCH" 3 "$MT" "$R2" "" "$MT2" "$R2" --ptraced-skip

# Quiet: the code without a word.
run "$CKPT" -q -f "$W/ctx" "$T"
why=""
[ "$rc" = 56 ] || why="exit $rc, want 56;"
[ -s "$W/err" ] && why="$why stderr: $(errline)"
verdict "traced, -q: 56 and nothing said" "$why"

# With -d: no directory either.
run "$CKPT" --ptraced-skip -d "$W/dir" "$T"
why=""
[ "$rc" = 3 ] || why="exit $rc, want 3;"
[ -e "$W/dir" ] && why="$why $W/dir created;"
compgen -G "$W/.dir*" >/dev/null && why="$why a temporary directory left;"
verdict "traced, --ptraced-skip with -d: no directory" "$why"

# ---- a tracing target ----
refused "tracer: CR_EPTRACER" 57 "$R" "$T" "traces" "$T" "$R" -p
refused "tracer, tree scope: CR_EPTRACER" 57 "$R" "$T" "traces" "$T" "$R" -T
refused "tracer, --ptracer-error: CR_EPTRACER" 57 "$R" "$T" "" "$T" "$R" --ptracer-error
refused "tracer, --ptracer-skip: left out, ESRCH" 3 "$R" "$T" "left out" "$T" "$R" \
	--ptracer-skip
refused "tracer, --ptraced-skip does not apply" 57 "$R" "$T" "" "$T" "$R" --ptraced-skip
refused "tracer, --ptraced-allow does not apply" 57 "$R" "$T" "" "$T" "$R" --ptraced-allow
refused "tracer, --ptracer-skip then --ptracer-error: the last wins" 57 "$R" "$T" "" "$T" "$R" \
	--ptracer-skip --ptracer-error
refused "tracer of one thread of another process: CR_EPTRACER" 57 "$R2" "$MT2" "traces" \
	"$MT2" "$R2" -p
refused "tracer of one thread, --ptracer-skip: ESRCH" 3 "$R2" "$MT2" "" "$MT2" "$R2" \
	--ptracer-skip

# The processes took no harm: they still count.
why=""
progresses "$W/tracee.count" || why="the tracee does not count;"
progresses "$W/mt.count" || why="$why the threaded tracee does not count;"
verdict "tracees run on" "$why"

# ---- once the tracer lets go, the same process checkpoints ----
kill_wait "$R"
wait_until test "$(tracer "$T")" = 0
run "$CKPT" -p -f "$W/ctx" "$T"
why=""
[ "$rc" = 0 ] || why="exit $rc: $(errline)"
[ -s "$W/ctx" ] || why="$why no context;"
verdict "untraced again: checkpointed" "$why"
for p in "$R2" "$MT" "$T"; do
	kill -KILL "$p" 2>/dev/null
	reap "$p"
done
finish
