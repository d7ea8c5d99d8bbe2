#!/usr/bin/env bash
# dir.sh: -d/--dir DIR, which BLCR never implemented. cr_checkpoint -d DIR writes a
# directory holding one context file, context.PID, per file the engine writes (today
# one: a tree, group or session goes into the target's file), built as PARENT/.BASE.tmp
# and renamed into place: DIR appears whole or not at all, and no failure leaves a
# temporary behind. An existing DIR is swapped atomically for the new one (--atomic,
# only if it holds nothing but contexts), kept as DIR.~N~ or NAME (--backup), refused
# (--noclobber, EEXIST), or written in place (--clobber). cr_restart -d DIR restarts
# what DIR holds; a DIR that cannot be read, holds no context or holds several is
# refused in the right class.
#
#   BIN=build/bin TBIN=build/tests bash tests/cli/dir.sh
# shellcheck source=tests/fail/common.bash
. "$(dirname "$0")/../fail/common.bash"
cd "$W" || exit 2

if ! start_counter tgt; then
	fail "setup" "the counter did not start"
	exit 1
fi
T=$pid
TC=$W/tgt.count
NOPID=$(cat /proc/sys/kernel/pid_max)

# What a directory holds, names only, sorted, on one line.
list() { # dir
	(cd "$1" 2>/dev/null && find . -mindepth 1 -printf '%P ' | tr ' ' '\n' | sort | tr '\n' ' ')
}

# No temporary directory beside DIR.
no_tmp() { # dir
	local p b
	p=$(dirname "$1")
	b=$(basename "$1")
	[ ! -e "$p/.$b.tmp" ]
}

# A checkpoint into DIR that must work: DIR then holds exactly context.PID, read-only,
# in a private directory, the target runs on, and nothing else is left.
ckpt_ok() { # name, dir, args...
	local name=$1 d=$2 why="" mode
	shift 2
	run "$CKPT" "$@" -d "$d" "$T"
	[ "$rc" = 0 ] || why="exit $rc: $(errline);"
	[ "$(list "$d")" = "context.$T " ] || why="$why $d holds '$(list "$d")';"
	mode=$(stat -c %a "$d/context.$T" 2>/dev/null)
	[ "$mode" = 400 ] || why="$why context mode $mode;"
	mode=$(stat -c %a "$d" 2>/dev/null)
	[ "$mode" = 700 ] || why="$why directory mode $mode;"
	no_tmp "$d" || why="$why temporary left;"
	progresses "$TC" || why="$why the target does not count;"
	verdict "$name" "$why"
}

# A checkpoint that must fail with CODE and leave DIR as LISTED ("" = absent).
ckpt_fails() { # name, code, dir, listed before, args...
	local name=$1 want=$2 d=$3 before=$4 why=""
	shift 4
	run "$CKPT" "$@" -d "$d" "$T"
	[ "$rc" = "$want" ] || why="exit $rc, want $want;"
	if [ -z "$before" ]; then
		[ -e "$d" ] && why="$why $d exists;"
	elif [ "$before" = "(a file)" ]; then
		[ -f "$d" ] || why="$why $d is no longer a file;"
	else
		[ "$(list "$d")" = "$before" ] || why="$why $d now holds '$(list "$d")';"
	fi
	no_tmp "$d" || why="$why temporary left;"
	grep -q "^Checkpoint failed: " "$W/err" || why="$why no failure line;"
	crashed "$rc" "$W/err" && why="$why crashed;"
	[ "$(tracer "$T")" = 0 ] || why="$why target still traced;"
	progresses "$TC" || why="$why the target does not count;"
	[ -n "$why" ] && why="$why stderr: $(errline)"
	verdict "$name" "$why"
}

# ---- cr_checkpoint -d ----
ckpt_ok "new directory" "$W/a"
ino=$(stat -c %i "$W/a")
f_ino=$(stat -c %i "$W/a/context.$T")
ckpt_ok "existing directory of contexts: replaced" "$W/a"
why=""
[ "$(stat -c %i "$W/a")" != "$ino" ] || why="the same directory (not swapped);"
[ "$(stat -c %i "$W/a/context.$T")" != "$f_ino" ] || why="$why the same file;"
verdict "existing directory: a new one swapped in" "$why"
ckpt_ok "--atomic (explicit)" "$W/a" --atomic
run "$CKPT" --dir="$W/b" "$T"
why=""
[ "$rc" = 0 ] || why="exit $rc: $(errline);"
[ "$(list "$W/b")" = "context.$T " ] || why="$why $W/b holds '$(list "$W/b")';"
verdict "--dir=DIR" "$why"
ckpt_ok "--sync and --nosync" "$W/a" --nosync

mkdir "$W/c" && touch "$W/c/notes"
ckpt_fails "existing directory with other files: ENOTEMPTY" 39 "$W/c" "notes " --atomic
touch "$W/file"
ckpt_fails "DIR is a file: ENOTDIR" 20 "$W/file" "(a file)"
ckpt_fails "--noclobber onto an existing DIR: EEXIST" 17 "$W/a" "context.$T " --noclobber
ckpt_ok "--noclobber onto a new DIR" "$W/n" --noclobber

# --backup keeps the old directory.
cp -p "$W/a/context.$T" "$W/old.ctx"
ckpt_ok "--backup: new DIR" "$W/a" --backup
why=""
[ "$(list "$W/a.~1~")" = "context.$T " ] || why="$W/a.~1~ holds '$(list "$W/a.~1~")';"
cmp -s "$W/old.ctx" "$W/a.~1~/context.$T" || why="$why the backup is not the old context;"
verdict "--backup: the old DIR is DIR.~1~" "$why"
ckpt_ok "--backup again" "$W/a" --backup
why=""
[ -d "$W/a.~2~" ] || why="$W/a.~2~ missing"
verdict "--backup again: DIR.~2~" "$why"
ckpt_ok "--backup=NAME" "$W/a" --backup="$W/kept"
why=""
[ "$(list "$W/kept")" = "context.$T " ] || why="$W/kept holds '$(list "$W/kept")'"
verdict "--backup=NAME keeps the old DIR as NAME" "$why"
ckpt_ok "--backup onto a directory with other files" "$W/c" --backup
why=""
[ "$(list "$W/c.~1~")" = "notes " ] || why="$W/c.~1~ holds '$(list "$W/c.~1~")'"
verdict "--backup: foreign files kept" "$why"

# --clobber writes in place: the same directory, old contexts gone, other files kept.
mkdir -p "$W/k"
touch "$W/k/context.1" "$W/k/readme"
ino=$(stat -c %i "$W/k")
run "$CKPT" --clobber -d "$W/k" "$T"
why=""
[ "$rc" = 0 ] || why="exit $rc: $(errline);"
[ "$(list "$W/k")" = "context.$T readme " ] || why="$why holds '$(list "$W/k")';"
[ "$(stat -c %i "$W/k")" = "$ino" ] || why="$why not the same directory;"
verdict "--clobber: in place, old contexts removed, other files kept" "$why"
ckpt_ok "--clobber onto a new DIR" "$W/k2" --clobber

# Refused or failed requests leave nothing.
run "$CKPT" -d "$W/none" "$NOPID"
why=""
[ "$rc" = 3 ] || why="exit $rc, want 3;"
{ [ -e "$W/none" ] || ! no_tmp "$W/none"; } && why="$why something created;"
verdict "no such process: ESRCH, nothing created" "$why"
for fp in checkpoint:collect checkpoint:write; do
	run env CREST_FAULT=$fp "$CKPT" -d "$W/f" "$T"
	why=""
	[ "$rc" = 0 ] && why="it worked;"
	{ [ -e "$W/f" ] || ! no_tmp "$W/f"; } && why="$why something left;"
	verdict "fault $fp: nothing left" "$why"
	run env CREST_FAULT=$fp "$CKPT" -d "$W/a" "$T"
	why=""
	[ "$rc" = 0 ] && why="it worked;"
	[ "$(list "$W/a")" = "context.$T " ] || why="$why $W/a holds '$(list "$W/a")';"
	cmp -s "$W/a/context.$T" "$W/kept2" 2>/dev/null || cp -p "$W/a/context.$T" "$W/kept2"
	no_tmp "$W/a" || why="$why temporary left;"
	verdict "fault $fp onto an existing DIR: it stays" "$why"
	run env CREST_FAULT=$fp "$CKPT" --clobber -d "$W/k" "$T"
	why=""
	[ "$(list "$W/k")" = "readme " ] || why="$W/k holds '$(list "$W/k")';"
	verdict "fault $fp with --clobber: the file written goes" "$why"
done

# A temporary left by a checkpoint that died: replaced if it holds only contexts.
mkdir "$W/.s.tmp" && touch "$W/.s.tmp/context.77"
ckpt_ok "stale temporary of contexts: replaced" "$W/s"
mkdir "$W/.s2.tmp" && touch "$W/.s2.tmp/precious"
run "$CKPT" -d "$W/s2" "$T"
why=""
[ "$rc" = 39 ] || why="exit $rc, want 39;"
[ -e "$W/.s2.tmp/precious" ] || why="$why the foreign file went;"
[ -e "$W/s2" ] && why="$why $W/s2 created;"
verdict "stale temporary with other files: refused, left alone" "$why"

# Destinations are exclusive.
for args in "-d $W/x -d $W/y" "-d $W/x -f $W/y" "-F 1 -d $W/x" "-c -d $W/x"; do
	# shellcheck disable=SC2086 # split on purpose
	run "$CKPT" $args "$T"
	why=""
	[ "$rc" = 22 ] || why="exit $rc, want 22;"
	[ -e "$W/x" ] && why="$why $W/x created;"
	verdict "${args//$W\//}: EINVAL" "$why"
done

# ---- cr_restart -d ----
run "$CKPT" --kill -d "$W/r" "$T"
reap "$T"
why=""
[ "$rc" = 0 ] || why="checkpoint: exit $rc: $(errline);"
start_restart -d "$W/r"
wait_until ready_at "$T" counter || why="$why not back at pid $T: $(tr '\n' '|' <"$W/rerr");"
progresses "$TC" || why="$why it does not count;"
verdict "cr_restart -d DIR" "$why"
kill -KILL "$T" 2>/dev/null
reap "$rpid"
run "$INFO" "$W/r/context.$T"
why=""
[ "$rc" = 0 ] || why="exit $rc: $(errline)"
verdict "cr_info reads DIR/context.PID" "$why"

# A tree: today the engine writes it into one file, named after the target, which
# cr_restart -d restarts whole.
bash -c "sleep 1000 & exec \"$COUNTER\" \"$W/tree.count\"" </dev/null >/dev/null 2>&1 &
TP=$!
started+=("$TP")
wait_until has_count "$W/tree.count"
TK=$(children "$TP" | tr -d " ")
run "$CKPT" --kill -T -d "$W/t" "$TP"
reap "$TP"
wait_until gone "$TK"
why=""
[ "$rc" = 0 ] || why="checkpoint: exit $rc: $(errline);"
[ "$(list "$W/t")" = "context.$TP " ] || why="$why $W/t holds '$(list "$W/t")';"
start_restart -d "$W/t"
wait_until ready_at "$TP" counter || why="$why not back at pid $TP: $(tr '\n' '|' <"$W/rerr");"
wait_until ready_at "$TK" sleep || why="$why the child is not back at pid $TK;"
[ "$(children "$TP" | tr -d ' ')" = "$TK" ] || why="$why $TK is not the child of $TP;"
progresses "$W/tree.count" || why="$why it does not count;"
verdict "a tree: one context in DIR, restarted with -d" "$why"
kill -KILL "$TK" "$TP" 2>/dev/null
reap "$rpid"

# Refusals, in their classes.
r_fails() { # name, code, pattern, args...
	local name=$1 want=$2 pat=$3 why=""
	shift 3
	run "$RSTRT" "$@"
	[ "$rc" = "$want" ] || why="exit $rc, want $want;"
	if [ -n "$pat" ] && ! grep -qiE -- "$pat" "$W/err"; then
		why="$why message does not say '$pat';"
	fi
	crashed "$rc" "$W/err" && why="$why crashed;"
	[ -n "$why" ] && why="$why stderr: $(errline)"
	verdict "$name" "$why"
}
mkdir "$W/empty" "$W/two" "$W/odd"
cp -p "$W/r/context.$T" "$W/two/context.$T"
cp -p "$W/r/context.$T" "$W/two/context.1"
touch "$W/odd/context.abc" "$W/odd/context."
r_fails "cr_restart -d missing: args, 255" 255 "$W/missing" -d "$W/missing"
r_fails "cr_restart -d a file: args, 255" 255 "$W/file" -d "$W/file"
r_fails "cr_restart -d empty: args, EINVAL" 22 "no context" -d "$W/empty"
r_fails "cr_restart -d with no context.PID names: EINVAL" 22 "no context" -d "$W/odd"
r_fails "cr_restart -d empty: --run-on-fail-args" 42 "" --run-on-fail-args "exit 42" -d "$W/empty"
r_fails "cr_restart -d two contexts: perm, ENOTSUP" 95 "2 context files" -d "$W/two"
r_fails "cr_restart -d two contexts: --run-on-fail-perm" 42 "" --run-on-fail-perm "exit 42" \
	-d "$W/two"
r_fails "cr_restart -d and a FILE: EINVAL" 22 "one source" -d "$W/r" "$W/r/context.$T"
r_fails "cr_restart -d and -f: EINVAL" 22 "one source" -d "$W/r" -f "$W/r/context.$T"
finish
