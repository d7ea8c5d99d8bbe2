#!/usr/bin/env bash
# checkpoint.sh: cr_checkpoint's failures and its destination policies
# (blcr-reference.md §3.2-§3.4, §3.9): no such process (ESRCH, 3), pid 1 (EPERM, 1)
# without touching the destination under any policy (BLCR's tests/clobber.sh), an
# existing file with --noclobber (EEXIST, 17), a directory (EISDIR, 21), a read-only
# descriptor (EBADF, 9); each fault point of the engine (CREST_FAULT) fails with
# "Checkpoint failed:", leaves no file and no temporary, and the target runs on as
# before; --atomic, --backup, --backup=NAME, --clobber on success; a stopped process
# stays stopped, comes back stopped, and --cont resumes it.
#
#   BIN=build/bin TBIN=build/tests bash tests/fail/checkpoint.sh
# shellcheck source=tests/fail/common.bash
. "$(dirname "$0")/common.bash"
cd "$W" || exit 2

NOPID=$(cat /proc/sys/kernel/pid_max)

if ! start_counter tgt; then
	fail "setup" "the counter did not start"
	exit 1
fi
T=$pid
TC=$W/tgt.count

# What must not change in the target when a checkpoint fails: its memory map, its
# descriptors, its signal state, and that nobody traces it.
snapshot() { # pid, file
	{
		cat "/proc/$1/maps"
		find "/proc/$1/fd" -mindepth 1 -printf '%f %l\n' | sort -n
		grep -E '^(Sig|Shd)(Blk|Ign|Cgt|Pnd)|^TracerPid' "/proc/$1/status"
	} >"$2" 2>&1
}

# The target after a failed request: untraced, not stopped, counting, as it was.
target_ok() { # snapshot taken before
	local why=""
	[ "$(tracer "$T")" = 0 ] || why="target traced by $(tracer "$T");"
	case $(state "$T") in
	T | t | Z | X | "") why="$why target state $(state "$T");" ;;
	esac
	progresses "$TC" || why="$why target does not count;"
	snapshot "$T" "$W/snap.after"
	cmp -s "$1" "$W/snap.after" ||
		why="$why target changed: $(diff "$1" "$W/snap.after" | grep '^[<>]' | head -n3 | tr '\n' '|')"
	echo "$why"
}

# Files that differ from a listing of the directory taken before.
new_files() { # listing
	find "$W/d" -mindepth 1 -printf '%P\n' | sort | comm -13 "$1" -
}

fileid() { stat -c '%i %s %Y %a' "$1" 2>/dev/null && md5sum <"$1"; }

mkdir "$W/d"

# ---- no such process, pid 1 ----
run "$CKPT" -f "$W/d/ctx" "$NOPID"
why=""
[ "$rc" = 3 ] || why="exit $rc, want 3;"
grep -q '^Checkpoint failed: ' "$W/err" || why="$why no 'Checkpoint failed:' line;"
[ -e "$W/d/ctx" ] && why="$why the file was created;"
verdict "no such process: ESRCH" "$why"

(cd "$W/d" && run "$CKPT" "$NOPID")
[ -e "$W/d/context.$NOPID" ] && fail "no such process: no context.ID" "context.$NOPID created"

sh -c 'sleep 0 & exec sleep 1000' </dev/null >/dev/null 2>&1 &
zparent=$!
started+=("$zparent")
z=""
# shellcheck disable=SC2317 # called through wait_until
zombie_found() {
	local c
	for c in $(children "$zparent"); do
		state_is "$c" Z && z=$c && return 0
	done
	return 1
}
if wait_until zombie_found; then
	run "$CKPT" -p -f "$W/d/ctx" "$z"
	why=""
	[ "$rc" = 3 ] || why="exit $rc, want 3: $(errline);"
	[ -e "$W/d/ctx" ] && why="$why the file was created;"
	verdict "a zombie: ESRCH" "$why"
else
	fail "a zombie: ESRCH" "could not make a zombie"
fi
kill_wait "$zparent"

run "$CKPT" -f "$W/d/ctx" 1
why=""
[ "$rc" = 1 ] || why="exit $rc, want 1;"
grep -q '^Checkpoint failed: ' "$W/err" || why="$why no 'Checkpoint failed:' line;"
[ -e "$W/d/ctx" ] && why="$why the file was created;"
verdict "pid 1: EPERM" "$why"

# BLCR's clobber test: a failed checkpoint of pid 1 leaves an existing file as it was,
# whatever the policy, and makes no backup and leaves no temporary.
printf 'precious\n' >"$W/d/ctx"
chmod 644 "$W/d/ctx"
touch -d '2001-01-01' "$W/d/ctx"
was=$(fileid "$W/d/ctx")
find "$W/d" -mindepth 1 -printf '%P\n' | sort >"$W/listing"
for pol in --noclobber --clobber --atomic --backup=$W/d/bak --backup ""; do
	run "$CKPT" ${pol:+"$pol"} -f "$W/d/ctx" 1
	want=1
	[ "$pol" = --noclobber ] && want=17
	why=""
	[ "$rc" = "$want" ] || why="exit $rc, want $want: $(errline);"
	[ "$(fileid "$W/d/ctx")" = "$was" ] || why="$why the file changed or went;"
	extra=$(new_files "$W/listing" | tr '\n' ' ')
	[ -n "$extra" ] && why="$why new files: $extra;"
	lab=${pol/=*/=NAME}
	verdict "pid 1 ${lab:-(default policy)}: the existing file is left as it was" "$why"
	# Put it back for the next policy, so one failure does not hide the others.
	if [ ! -e "$W/d/ctx" ] || [ "$(fileid "$W/d/ctx")" != "$was" ]; then
		rm -rf "$W/d" && mkdir "$W/d"
		printf 'precious\n' >"$W/d/ctx"
		chmod 644 "$W/d/ctx"
		touch -d '2001-01-01' "$W/d/ctx"
		was=$(fileid "$W/d/ctx")
		find "$W/d" -mindepth 1 -printf '%P\n' | sort >"$W/listing"
	fi
done

# ---- destinations that cannot be used, with a live target ----
snapshot "$T" "$W/snap"
run "$CKPT" -p --noclobber -f "$W/d/ctx" "$T"
why=""
[ "$rc" = 17 ] || why="exit $rc, want 17: $(errline);"
[ "$(fileid "$W/d/ctx")" = "$was" ] || why="$why the file changed;"
why="$why$(target_ok "$W/snap")"
verdict "--noclobber onto an existing file: EEXIST, file and target untouched" "$why"

# (--backup is left out: BLCR, and crest, move a directory there aside as the
# backup and put the context in its place.)
mkdir "$W/d/sub"
for pol in "" --clobber --atomic; do
	rm -rf "$W/d/sub" && mkdir "$W/d/sub"
	find "$W/d" -mindepth 1 -printf '%P\n' | sort >"$W/listing"
	run "$CKPT" -p ${pol:+"$pol"} -f "$W/d/sub" "$T"
	why=""
	[ "$rc" = 21 ] || why="exit $rc, want 21: $(errline);"
	[ -d "$W/d/sub" ] || why="$why the directory went;"
	extra=$(new_files "$W/listing" | tr '\n' ' ')
	[ -n "$extra" ] && why="$why new files: $extra;"
	why="$why$(target_ok "$W/snap")"
	verdict "destination is a directory ${pol:-(default policy)}: EISDIR" "$why"
done
run "$CKPT" -p --noclobber -f "$W/d/sub" "$T"
verdict "destination is a directory --noclobber: EEXIST" \
	"$([ "$rc" = 17 ] || echo "exit $rc, want 17: $(errline)")"

{
	timeout -k 5 "$TOOL_TIMEOUT" "$CKPT" -p -F 3 "$T" 3<"$W/d/ctx" >"$W/out" 2>"$W/err"
	rc=$?
} 2>/dev/null
why=""
[ "$rc" = 9 ] || why="exit $rc, want 9: $(errline);"
[ "$(fileid "$W/d/ctx")" = "$was" ] || why="$why the file changed;"
why="$why$(target_ok "$W/snap")"
verdict "-F with a read-only descriptor: EBADF" "$why"
run "$CKPT" -p -F 7 "$T"
why="$([ "$rc" = 9 ] || echo "exit $rc, want 9: $(errline);")$(target_ok "$W/snap")"
verdict "-F with a closed descriptor: EBADF" "$why"

# Another kind of file: a character device is refused (EINVAL) and left alone.
mknod "$W/d/null" c 1 3
run "$CKPT" -p --clobber -f "$W/d/null" "$T"
why=""
[ "$rc" = 22 ] || why="exit $rc, want 22: $(errline);"
[ -c "$W/d/null" ] || why="$why the device node went;"
why="$why$(target_ok "$W/snap")"
verdict "--clobber onto a character device: EINVAL, the node left alone" "$why"
rm -f "$W/d/null"

# -F may be a character device; a named FIFO works with --clobber.
{
	timeout -k 5 "$TOOL_TIMEOUT" "$CKPT" -p -F 3 "$T" 3>/dev/null >"$W/out" 2>"$W/err"
	rc=$?
} 2>/dev/null
verdict "-F onto /dev/null" "$([ "$rc" = 0 ] || echo "exit $rc: $(errline)")"
# cr_checkpoint opens without blocking, as BLCR does: a FIFO needs its reader first.
# Holding it open read-write here lets the reader open it at once; closing it after
# the checkpoint lets the reader see the end.
mkfifo "$W/fifo"
exec 7<>"$W/fifo"
timeout -k 5 "$TOOL_TIMEOUT" cat "$W/fifo" >"$W/fromfifo" 7>&- &
reader=$!
started+=("$reader")
run "$CKPT" -p --clobber -f "$W/fifo" "$T" 7>&-
exec 7>&-
wait "$reader"
crc=$?
why=""
[ "$rc" = 0 ] || why="exit $rc: $(errline);"
[ "$crc" = 0 ] || why="$why the reader ended with $crc (124: no end of file);"
[ -p "$W/fifo" ] || why="$why the FIFO went;"
run "$INFO" "$W/fromfifo"
[ "$rc" = 0 ] || why="$why cr_info of what came through: exit $rc: $(errline);"
verdict "--clobber onto a named FIFO: a whole context comes out" "$why"

# A pipe works, and what goes through it is a whole context.
{
	timeout -k 5 "$TOOL_TIMEOUT" "$CKPT" -p -F 1 "$T" 2>"$W/err" | cat >"$W/piped"
	rc=${PIPESTATUS[0]}
} 2>/dev/null
why=""
[ "$rc" = 0 ] || why="exit $rc: $(errline);"
run "$INFO" "$W/piped"
[ "$rc" = 0 ] || why="$why cr_info of what came through: exit $rc: $(errline);"
verdict "-F onto a pipe: a whole context" "$why"
snapshot "$T" "$W/snap"

# ---- fault points: nothing left behind, the target as it was ----
for fp in checkpoint:collect checkpoint:write; do
	for pol in --atomic --clobber --noclobber; do
		rm -f "$W/d/new" "$W/d/.new.tmp"
		find "$W/d" -mindepth 1 -printf '%P\n' | sort >"$W/listing"
		run env CREST_FAULT=$fp "$CKPT" -p "$pol" -f "$W/d/new" "$T"
		why=""
		{ [ "$rc" != 0 ] && ! crashed "$rc" "$W/err"; } || why="exit $rc;"
		grep -q '^Checkpoint failed: ' "$W/err" || why="$why no 'Checkpoint failed:' line;"
		extra=$(new_files "$W/listing" | tr '\n' ' ')
		[ -n "$extra" ] && why="$why left: $extra;"
		why="$why$(target_ok "$W/snap")"
		verdict "fault $fp $pol: fails, leaves nothing, target as it was" "$why"
	done
	for pol in --atomic --backup --backup=$W/d/bak; do
		find "$W/d" -mindepth 1 -printf '%P\n' | sort >"$W/listing"
		run env CREST_FAULT=$fp "$CKPT" -p "$pol" -f "$W/d/ctx" "$T"
		why=""
		[ "$rc" != 0 ] || why="exit 0;"
		[ "$(fileid "$W/d/ctx")" = "$was" ] || why="$why the existing file changed;"
		extra=$(new_files "$W/listing" | tr '\n' ' ')
		[ -n "$extra" ] && why="$why left: $extra;"
		why="$why$(target_ok "$W/snap")"
		verdict "fault $fp ${pol/=*/=NAME} onto an existing file: the file stays, no backup" "$why"
	done
done

# The target dies while frozen: ESRCH, nothing left.
if start_counter victim; then
	V=$pid
	find "$W/d" -mindepth 1 -printf '%P\n' | sort >"$W/listing"
	run env CREST_FAULT=checkpoint:target-exits "$CKPT" -p -f "$W/d/victim" "$V"
	why=""
	[ "$rc" = 3 ] || why="exit $rc, want 3 (ESRCH): $(errline);"
	grep -q '^Checkpoint failed: ' "$W/err" || why="$why no 'Checkpoint failed:' line;"
	extra=$(new_files "$W/listing" | tr '\n' ' ')
	[ -n "$extra" ] && why="$why left: $extra;"
	wait "$V" 2>/dev/null
	vst=$?
	[ "$vst" = 137 ] || why="$why the target ended with status $vst, not killed;"
	verdict "fault checkpoint:target-exits: ESRCH, nothing left" "$why"
else
	fail "fault checkpoint:target-exits" "the counter did not start"
fi
why="$(target_ok "$W/snap")"
verdict "the first target survived all the failed requests" "$why"

# ---- policies on success ----
ok_ctx() { # file: a whole context?
	run "$INFO" "$1"
	[ "$rc" = 0 ]
}

rm -rf "$W/p" && mkdir "$W/p"
printf 'old\n' >"$W/p/ctx"
old=$(stat -c %i "$W/p/ctx")
run "$CKPT" -p --atomic -f "$W/p/ctx" "$T"
why=""
[ "$rc" = 0 ] || why="exit $rc: $(errline);"
ok_ctx "$W/p/ctx" || why="$why not a whole context;"
[ "$(stat -c %i "$W/p/ctx")" != "$old" ] || why="$why written in place, not renamed over;"
[ "$(stat -c %a "$W/p/ctx")" = 400 ] || why="$why mode $(stat -c %a "$W/p/ctx"), want 400;"
[ -e "$W/p/.ctx.tmp" ] && why="$why the temporary is left;"
[ "$(find "$W/p" -mindepth 1 | wc -l)" = 1 ] || why="$why other files: $(find "$W/p" -mindepth 1 -printf '%P ');"
verdict "--atomic: a new file renamed over the old one" "$why"

printf 'old\n' >"$W/p/c2"
chmod 644 "$W/p/c2"
old=$(stat -c %i "$W/p/c2")
run "$CKPT" -p --clobber -f "$W/p/c2" "$T"
why=""
[ "$rc" = 0 ] || why="exit $rc: $(errline);"
ok_ctx "$W/p/c2" || why="$why not a whole context;"
[ "$(stat -c %i "$W/p/c2")" = "$old" ] || why="$why not written in place;"
[ -e "$W/p/.c2.tmp" ] && why="$why a temporary was made;"
verdict "--clobber: the file written in place" "$why"

run "$CKPT" -p --noclobber -f "$W/p/c3" "$T"
why=""
[ "$rc" = 0 ] || why="exit $rc: $(errline);"
ok_ctx "$W/p/c3" || why="$why not a whole context;"
verdict "--noclobber onto a new file" "$why"

(cd "$W/p" && run "$CKPT" -p "$T")
why=""
[ "$rc" = 0 ] || why="exit $rc: $(errline);"
ok_ctx "$W/p/context.$T" || why="$why no whole context.$T in the current directory;"
verdict "default destination context.ID" "$why"

rm -rf "$W/b" && mkdir "$W/b"
why=""
sums=()
for i in 1 2 3; do
	run "$CKPT" -p --backup -f "$W/b/ctx" "$T"
	[ "$rc" = 0 ] || why="$why checkpoint $i: exit $rc: $(errline);"
	sums[i]=$(md5sum <"$W/b/ctx")
done
[ -e "$W/b/ctx.~3~" ] && why="$why a third backup;"
[ "$(md5sum <"$W/b/ctx.~1~" 2>/dev/null)" = "${sums[1]}" ] || why="$why ctx.~1~ is not the first;"
[ "$(md5sum <"$W/b/ctx.~2~" 2>/dev/null)" = "${sums[2]}" ] || why="$why ctx.~2~ is not the second;"
[ "${sums[2]}" != "${sums[3]}" ] || why="$why two checkpoints are the same bytes;"
ok_ctx "$W/b/ctx.~1~" || why="$why ctx.~1~ is not a whole context;"
[ "$(find "$W/b" -mindepth 1 | wc -l)" = 3 ] || why="$why files: $(find "$W/b" -mindepth 1 -printf '%P ');"
verdict "--backup: FILE.~1~, FILE.~2~ keep the earlier ones" "$why"

rm -rf "$W/b" && mkdir "$W/b"
why=""
for i in 1 2 3; do
	run "$CKPT" -p --backup="$W/b/prev" -f "$W/b/ctx" "$T"
	[ "$rc" = 0 ] || why="$why checkpoint $i: exit $rc: $(errline);"
	[ "$i" = 1 ] && [ -e "$W/b/prev" ] && why="$why a backup of nothing;"
	[ "$i" -gt 1 ] && [ "$(md5sum <"$W/b/prev" 2>/dev/null)" != "${sums[i - 1]}" ] &&
		why="$why after checkpoint $i NAME is not the one before;"
	sums[i]=$(md5sum <"$W/b/ctx")
done
[ "$(find "$W/b" -mindepth 1 | wc -l)" = 2 ] || why="$why files: $(find "$W/b" -mindepth 1 -printf '%P ');"
verdict "--backup=NAME: NAME holds the one before" "$why"

# A long memory map (some hundreds of areas, most of them anonymous) reads back.
if start_counter areas 300; then
	A=$pid
	run "$CKPT" -p --kill -f "$W/p/areas" "$A"
	why=""
	[ "$rc" = 0 ] || why="checkpoint: exit $rc: $(errline);"
	wait "$A" 2>/dev/null
	run "$INFO" "$W/p/areas"
	[ "$rc" = 0 ] || why="$why cr_info: exit $rc: $(errline);"
	run "$RSTRT" --kill "$W/p/areas"
	[ "$rc" = 137 ] || why="$why cr_restart: exit $rc, want 137 (restarted, then --kill): $(errline);"
	wait_until gone "$A"
	verdict "a process with 300 more memory areas: its context reads back" "$why"
fi

# ---- signals after the checkpoint ----
if start_counter term; then
	X=$pid
	run "$CKPT" -p --term -f "$W/p/term" "$X"
	wait "$X" 2>/dev/null
	xst=$?
	why=""
	[ "$rc" = 0 ] || why="exit $rc: $(errline);"
	[ "$xst" = 143 ] || why="$why the target ended with $xst, want 143 (SIGTERM);"
	ok_ctx "$W/p/term" || why="$why not a whole context;"
	verdict "--term: checkpointed, then terminated" "$why"
fi

# ---- a stopped process ----
# shellcheck disable=SC2317 # called through wait_until
running() { alive "$1" && ! state_is "$1" T; }
kill -STOP "$T"
wait_until state_is "$T" T
run "$CKPT" -p -f "$W/p/stopped" "$T"
why=""
[ "$rc" = 0 ] || why="exit $rc: $(errline);"
state_is "$T" T || why="$why state $(state "$T") after the checkpoint, want T;"
still "$TC" || why="$why it counts;"
[ "$(tracer "$T")" = 0 ] || why="$why traced;"
verdict "a stopped process stays stopped after a plain checkpoint" "$why"

run "$CKPT" -p --cont -f "$W/p/cont" "$T"
why=""
[ "$rc" = 0 ] || why="exit $rc: $(errline);"
wait_until running "$T" || why="$why still stopped;"
progresses "$TC" || why="$why it does not count;"
verdict "--cont resumes a stopped process" "$why"

# Restarts of the context made while it was stopped.
# shellcheck disable=SC2317 # called through wait_until
back_stopped() { ready_at "$1" counter && state_is "$1" T; }
kill_wait "$T"
wait_until gone "$T"
: >"$TC"
start_restart "$W/p/stopped"
why=""
wait_until back_stopped "$T" ||
	why="not back stopped at pid $T (state $(state "$T"), $(tr '\n' '|' <"$W/rerr"));"
sleep 0.1
state_is "$T" T || why="$why it did not stay stopped;"
kill -CONT "$T" 2>/dev/null
wait_until has_count "$TC" && progresses "$TC" || why="$why it does not count after SIGCONT;"
kill -KILL "$T" 2>/dev/null
reap "$rpid"
[ "$rrc" = 137 ] || why="$why cr_restart exit $rrc, want 137;"
verdict "a process checkpointed stopped comes back stopped" "$why"
wait_until gone "$T"

: >"$TC"
start_restart --cont "$W/p/stopped"
why=""
wait_until ready_at "$T" counter || why="not back at pid $T: $(tr '\n' '|' <"$W/rerr");"
wait_until has_count "$TC" && progresses "$TC" || why="$why it does not count;"
kill -KILL "$T" 2>/dev/null
reap "$rpid"
verdict "cr_restart --cont runs a process checkpointed stopped" "$why"

finish
