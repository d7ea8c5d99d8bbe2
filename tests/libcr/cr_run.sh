#!/usr/bin/env bash
# cr_run: BLCR's cr_run, cr_targ, cr_targ2 and cr_omit tests, and LD_PRELOAD handling
# (blcr-reference.md 5.1). Needs CR_RUN, CR_CHECKPOINT, CR_RESTART, LT (the directory of
# the libcr test programs) and LD_LIBRARY_PATH with crest's libraries; runs in a
# scratch directory. Prints "PASS name" or "FAIL name: why" per case.
set -u
target=$LT/plain_target
pids=()
# shellcheck disable=SC2317 # called by the trap
cleanup() {
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
	wait 2>/dev/null
}
trap cleanup EXIT

pass() { echo "PASS cr_run: $1"; }
fail() { echo "FAIL cr_run: $1: $2"; }
# verdict NAME WHY COMMAND...: PASS if COMMAND succeeds, else FAIL with WHY.
verdict() {
	local name=$1 why=$2
	shift 2
	if "$@"; then pass "$name"; else fail "$name" "$why"; fi
}

# Start "$@" in the background, its first output line (a pid) in $started.
start() {
	local out=out.$RANDOM
	"$@" >"$out" 2>&1 &
	pids+=($!)
	for _ in $(seq 200); do
		[ -s "$out" ] && break
		sleep 0.02
	done
	started=$(head -n1 "$out")
}

alive() { kill -0 "$1" 2>/dev/null && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }

# --- help, version, no command, exit status ---
out=$("$CR_RUN" --help)
verdict "--help" "exit $? '$out'" [ "${out%%:*}" = Usage ]
out=$("$CR_RUN" -\?)
verdict "-?" "exit $?" [ "${out%%:*}" = Usage ]
out=$("$CR_RUN" --version)
verdict "--version" "'$out'" [ "${out%% [0-9]*}" = "cr_run: version" ]
"$CR_RUN"
verdict "no command: exit 0" "exit $?" [ $? = 0 ]
"$CR_RUN" "$target" exit 5
verdict "the command's exit status" "not 5" [ $? = 5 ]
out=$("$CR_RUN" "$target" hello)
verdict "cr_run hello" "'$out'" [ "$out" = hello ]
"$CR_RUN" --bogus 2>/dev/null
verdict "an unknown option is the command" "not 127" [ $? = 127 ]

# --- LD_PRELOAD: the bare soname first, old entries kept, earlier ones dropped ---
libm=$(ldconfig -p | awk '/libm\.so\.6 .*x86-64/ {print $NF; exit}')
out=$(LD_PRELOAD=":$libm::/x/libcr_run.so.0:libcr_omit.so.0.5.5" "$CR_RUN" --omit "$target" env 2>/dev/null)
verdict "LD_PRELOAD with --omit" "'$out'" [ "$out" = "libcr_omit.so.0:$libm" ]
out=$(env -u LD_PRELOAD "$CR_RUN" "$target" env)
verdict "LD_PRELOAD by default" "'$out'" [ "$out" = libcr_run.so.0 ]
out=$("$CR_RUN" --omit --run -- "$target" env)
verdict "the last of --omit/--run wins" "'$out'" [ "$out" = libcr_run.so.0 ]

# --- cr_targ: a cr_run process is checkpointed, killed, restarted ---
start "$CR_RUN" "$target" pause
pid=$started
if "$CR_CHECKPOINT" --kill -f ctx.targ "$pid"; then
	wait "$pid" 2>/dev/null
	"$CR_RESTART" ctx.targ >/dev/null 2>&1 &
	rp=$!
	pids+=("$rp")
	ok=
	for _ in $(seq 200); do
		alive "$pid" && { ok=1; break; }
		sleep 0.02
	done
	verdict "cr_targ: checkpoint and restart of a cr_run process" \
		"pid $pid did not come back" [ -n "$ok" ]
	kill -9 "$pid" 2>/dev/null
	wait "$rp" 2>/dev/null
else
	fail "cr_targ" "cr_checkpoint exited $?"
fi

# --- cr_targ2: --omit --run: the last wins, the process is checkpointed ---
start "$CR_RUN" --omit --run "$target" pause
pid=$started
"$CR_CHECKPOINT" -f ctx.targ2 "$pid"
verdict "cr_targ2: --omit --run" "cr_checkpoint exited $?" [ -s ctx.targ2 ]
kill -9 "$pid"

# --- cr_omit: --term on a cr_run --omit process exits 3 and it survives ---
start "$CR_RUN" --omit "$target" pause
pid=$started
"$CR_CHECKPOINT" --term -f ctx.omit "$pid" 2>/dev/null
rc=$?
sleep 0.1
if [ $rc = 3 ] && alive "$pid" && [ ! -e ctx.omit ]; then
	pass "cr_omit: --term on an omitted process exits 3, the process survives"
else
	fail "cr_omit" "exit $rc, alive $(alive "$pid" && echo yes || echo no)"
fi
kill -9 "$pid"

# --- omitted with its descendants: they inherit LD_PRELOAD ---
start "$CR_RUN" --omit sh -c "$target pause & echo \$!; wait"
child=$started
"$CR_CHECKPOINT" --pid -f ctx.omit2 "$child" 2>/dev/null
rc=$?
verdict "cr_omit: a child of an omitted process is omitted too" "exit $rc" [ $rc = 3 ]
kill -9 "$child" 2>/dev/null
exit 0
