#!/usr/bin/env bash
# dir.sh: -d/--dir DIR, which BLCR never implemented. cr_checkpoint -d DIR writes a
# directory holding one context file, context.PID, per process saved (zombies
# included; a single process gives one ordinary context), built as PARENT/.BASE.tmp
# and renamed into place: DIR appears whole or not at all, and no failure leaves a
# temporary behind. An existing DIR is swapped atomically for the new one (--atomic,
# only if it holds nothing but contexts), kept as DIR.~N~ or NAME (--backup), refused
# (--noclobber, EEXIST), or written in place (--clobber). cr_restart -d DIR restarts
# every process DIR holds together: a tree with a zombie and data in a pipe comes
# back whole, also after --kill and restart three times over. A DIR that cannot be
# read or holds no context, and a set with a part missing, twice, truncated, damaged
# (every record of the first part in turn), renamed or of another checkpoint, are
# refused in the right class, naming the file, before anything is made. cr_info reads
# DIR as one context, and says of one of its files which part it is.
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
	# The files are made as they are written: a failure before leaves DIR as it was.
	[ "$fp" = checkpoint:collect ] && want="context.$T readme " || want="readme "
	run env CREST_FAULT=$fp "$CKPT" --clobber -d "$W/k" "$T"
	why=""
	[ "$(list "$W/k")" = "$want" ] || why="$W/k holds '$(list "$W/k")', want '$want';"
	verdict "fault $fp with --clobber: only what was written goes" "$why"
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
r_fails "cr_restart -d two whole contexts: perm, EINVAL" 22 "whole context of its own" -d "$W/two"
r_fails "cr_restart -d two whole contexts: --run-on-fail-perm" 42 "" --run-on-fail-perm "exit 42" \
	-d "$W/two"
r_fails "cr_restart -d and a FILE: EINVAL" 22 "one source" -d "$W/r" "$W/r/context.$T"
r_fails "cr_restart -d and -f: EINVAL" 22 "one source" -d "$W/r" -f "$W/r/context.$T"

# ---- a tree: one file per process ----
# dirtree (tests/fail/dirtree.c): a top that counts, a zombie child, and a writer and
# a reader joined by a pipe holding a line until DIR/go appears; the reader then
# writes the line to DIR/got.
DT=$TBIN/fail/dirtree
if [ ! -x "$DT" ]; then
	fail "setup" "$DT is missing (make test-progs)"
	finish
fi

# Start a tree working in DIR: sets TOP, ZOMB (the zombie) and KIDS (the other two).
start_tree() { # dir
	local c
	rm -rf "$1" && mkdir -p "$1"
	"$DT" "$1" </dev/null >/dev/null 2>&1 &
	TOP=$!
	started+=("$TOP")
	disown "$TOP" # killed by --kill: no notice from bash (bash still reaps it)
	wait_until test -e "$1/written" && wait_until has_count "$1/top.count" || return 1
	ZOMB="" KIDS=""
	for c in $(children "$TOP"); do
		if state_is "$c" Z; then ZOMB=$c; else KIDS="$KIDS $c"; fi
	done
	# shellcheck disable=SC2086 # a list of pids
	[ -n "$ZOMB" ] && [ "$(echo $KIDS | wc -w)" = 2 ]
}

# The files a checkpoint of the tree must give, as list() prints them.
tree_files() {
	local p
	for p in "$TOP" "$ZOMB" $KIDS; do echo "context.$p"; done | sort | tr '\n' ' '
}

# The tree is whole at its pids: the top counts, the zombie is its zombie child,
# the others its children (and not stopped or traced). Prints what is wrong.
tree_ok() { # dir
	local k why=""
	wait_until ready_at "$TOP" dirtree || why="the top is not back at $TOP;"
	progresses "$1/top.count" || why="$why the top does not count;"
	state_is "$ZOMB" Z || why="$why $ZOMB is not a zombie;"
	for k in $KIDS; do
		wait_until ready_at "$k" dirtree || why="$why $k is not back;"
	done
	[ "$(children "$TOP" | tr ' ' '\n' | grep . | sort -n | tr '\n' ' ')" = \
		"$(echo "$ZOMB $KIDS" | tr ' ' '\n' | grep . | sort -n | tr '\n' ' ')" ] ||
		why="$why the top's children are '$(children "$TOP")';"
	echo "$why"
}

# How many processes of this test's trees run (a failed restart must add none): the
# restored ones would have the same command line.
ntree() { pgrep -fc -- "$DT $W/dt"; }

if ! start_tree "$W/dt"; then
	fail "setup" "the tree did not start"
	finish
fi
run "$CKPT" -T -d "$W/tree" "$TOP"
why=""
[ "$rc" = 0 ] || why="exit $rc: $(errline);"
[ "$(list "$W/tree")" = "$(tree_files)" ] ||
	why="$why $W/tree holds '$(list "$W/tree")', want '$(tree_files)';"
for f in "$W"/tree/context.*; do
	[ "$(stat -c %a "$f")" = 400 ] || why="$why $f mode $(stat -c %a "$f");"
done
no_tmp "$W/tree" || why="$why temporary left;"
progresses "$W/dt/top.count" || why="$why the tree does not count;"
verdict "a tree with a zombie and a pipe: one context.PID per process" "$why"

run "$INFO" "$W/tree"
why=""
[ "$rc" = 0 ] || why="exit $rc: $(errline);"
[ "$(grep -c '^  - process' "$W/out")" = 4 ] || why="$why not 4 processes;"
grep -q "^  parts: 4" "$W/out" || why="$why no 'parts: 4';"
verdict "cr_info DIR: the whole set" "$why"
run "$INFO" --json "$W/tree/context.$ZOMB"
why=""
[ "$rc" = 0 ] || why="exit $rc: $(errline);"
grep -q '"parts": 4' "$W/out" && grep -q '"alone": true' "$W/out" &&
	grep -qE '"part": [0-9]' "$W/out" || why="$why does not say it is a part: $(head -c 300 "$W/out");"
verdict "cr_info of one part: which part of which set" "$why"

# Broken sets, refused before anything is made (the tree runs on at its pids, so a
# restart that went further would fail with EBUSY instead).
run "$CKPT" -T -d "$W/tree2" "$TOP"
[ "$rc" = 0 ] || fail "second checkpoint" "exit $rc: $(errline)"
# shellcheck disable=SC2086 # a list of pids
set -- $KIDS
K1=$1 K2=$2
broken() { # name
	rm -rf "${W:?}/$1" && cp -a "$W/tree" "$W/$1" && chmod u+w "$W/$1"/*
}
set_fails() { # name, code, pattern, dir
	local n0 why=""
	n0=$(ntree)
	r_fails "$@"
	[ "$(ntree)" = "$n0" ] || why="$(ntree) dirtree processes, $n0 before;"
	progresses "$W/dt/top.count" || why="$why the tree does not count;"
	[ -n "$why" ] && fail "$1: nothing made" "$why"
}
broken miss && rm "$W/miss/context.$K1"
set_fails "-d: a part missing: EIO, named" 5 "part [0-9] of 4 .*\(pid $K1\) is missing" -d "$W/miss"
broken dup && cp -p "$W/dup/context.$K1" "$W/dup/context.99999999"
set_fails "-d: a part twice: EINVAL" 22 "context.$K1 and .*context.99999999 are both part" \
	-d "$W/dup"
broken trunc && truncate -s "$(($(stat -c %s "$W/trunc/context.$K2") / 2))" "$W/trunc/context.$K2"
set_fails "-d: a part truncated: EIO, named" 5 "context.$K2: truncated" -d "$W/trunc"
broken swap && cp -p "$W/tree2/context.$K1" "$W/swap/context.$K1"
set_fails "-d: a part of another checkpoint of the tree: EINVAL" 22 \
	"context.$K1 belongs to another checkpoint" -d "$W/swap"
broken ren && mv "$W/ren/context.$K1" "$W/ren/x" && mv "$W/ren/context.$K2" "$W/ren/context.$K1" &&
	mv "$W/ren/x" "$W/ren/context.$K2"
set_fails "-d: two parts' names swapped: EINVAL" 22 "holds pid $K2, not pid $K1" -d "$W/ren"
broken whole && cp -p "$W/r/context.$T" "$W/whole/context.$T"
set_fails "-d: a whole context among the parts: EINVAL" 22 "whole context of its own" \
	-d "$W/whole"
broken damaged && "$CTXTOOL" flip "$W/damaged/context.$ZOMB" 100 >/dev/null
set_fails "-d: a part damaged: EIO, named" 5 "context.$ZOMB" -d "$W/damaged"
set_fails "one part as FILE: EINVAL, says to use -d" 22 "part [0-9] of 4 .*cr_restart -d" \
	"$W/tree/context.$TOP"
set_fails "-d: a part missing: --run-on-fail-perm" 42 "" --run-on-fail-perm "exit 42" \
	-d "$W/miss"

# Every record of the first part (its process's and the shared ones) damaged in turn:
# the set is refused (5 or 22) by cr_info, and by cr_restart before it makes anything
# (page data, checked as it is loaded, only by cr_info: the tree runs on here).
why="" nrec=0
while read -r idx _ rname off len _; do
	[ "$rname" = size ] && continue
	nrec=$((nrec + 1))
	broken dmg
	"$CTXTOOL" flip "$W/dmg/context.$TOP" $((off + 24 + (len > 0 ? len / 2 : -1))) >/dev/null
	run "$INFO" "$W/dmg"
	case $rc in 5 | 22) ;; *) why="$why cr_info, record $idx ($rname): exit $rc;" ;; esac
	crashed "$rc" "$W/err" && why="$why cr_info, record $idx: crashed;"
	[ "$rname" = pages ] && continue
	run "$RSTRT" -d "$W/dmg"
	case $rc in 5 | 22) ;; *) why="$why cr_restart, record $idx ($rname): exit $rc;" ;; esac
	crashed "$rc" "$W/err" && why="$why cr_restart, record $idx: crashed;"
done < <("$CTXTOOL" list "$W/tree/context.$TOP")
[ "$nrec" -ge 10 ] || why="$why only $nrec records;"
progresses "$W/dt/top.count" || why="$why the tree does not count;"
verdict "-d: every record of part 1 damaged: refused, no crash" "$why"
# The part record's fields, with its checksums made right again: EINVAL.
why=""
at=$("$CTXTOOL" list "$W/tree/context.$K1" | awk '$1 == 1 && $3 == "part" {print $4 + 24}')
[ -n "$at" ] || why="no part record in context.$K1;"
for field in 0 16 20 24 28; do
	broken dmg
	"$CTXTOOL" flip "$W/dmg/context.$K1" $((at + field)) 0x40 >/dev/null
	"$CTXTOOL" fixcrc "$W/dmg/context.$K1" 1 >/dev/null
	run "$RSTRT" -d "$W/dmg"
	[ "$rc" = 22 ] || why="$why byte $field: exit $rc: $(errline);"
	crashed "$rc" "$W/err" && why="$why byte $field: crashed;"
done
verdict "-d: a part record's fields changed, checksums right: EINVAL" "$why"

# --clobber writes the set into an existing DIR and removes the contexts it did not
# write.
mkdir -p "$W/kt" && touch "$W/kt/context.1" "$W/kt/readme" && cp -p "$W/tree/context.$TOP" "$W/kt/"
run "$CKPT" --clobber -T -d "$W/kt" "$TOP"
why=""
[ "$rc" = 0 ] || why="exit $rc: $(errline);"
[ "$(list "$W/kt")" = "$(tree_files)readme " ] || why="$why holds '$(list "$W/kt")';"
run "$INFO" "$W/kt"
[ "$rc" = 0 ] || why="$why cr_info: exit $rc: $(errline);"
verdict "--clobber with a tree: the new set in place, old contexts gone" "$why"
# A part of another tree's checkpoint.
TOP1=$TOP ZOMB1=$ZOMB KIDS1=$KIDS
if start_tree "$W/dt2"; then
	run "$CKPT" -T -d "$W/other" "$TOP"
	broken extra && cp -p "$W/other/context.$TOP" "$W/extra/"
	# Which file is the stranger depends on which one is read first (pid order).
	set_fails "-d: a part of another tree's checkpoint: EINVAL" 22 \
		"context.[0-9]+ belongs to another checkpoint" -d "$W/extra"
	# shellcheck disable=SC2086 # a list of pids
	kill -KILL "$TOP" $KIDS 2>/dev/null
	wait_until gone "$TOP"
else
	fail "a second tree" "it did not start"
fi
TOP=$TOP1 ZOMB=$ZOMB1 KIDS=$KIDS1

# --kill, then cr_restart -d, three times over; then the line in the pipe arrives.
run "$CKPT" --kill -T -d "$W/cyc" "$TOP"
wait_until gone "$TOP"
for k in $KIDS; do wait_until gone "$k"; done
why=""
[ "$rc" = 0 ] || why="checkpoint: exit $rc: $(errline);"
rm -rf "$W/damaged2" && cp -a "$W/cyc" "$W/damaged2" && chmod u+w "$W/damaged2"/*
# Page data is checked while it is loaded: the file holding it is named.
off=$("$CTXTOOL" list "$W/damaged2/context.$K1" | awk '$3 == "pages" {print $4 + 24 + $5 - 100; exit}')
"$CTXTOOL" flip "$W/damaged2/context.$K1" "$off" >/dev/null
run "$RSTRT" -d "$W/damaged2"
[ "$rc" = 5 ] || why="$why damaged page data: exit $rc, want 5;"
grep -q "context.$K1: page data at offset" "$W/err" || why="$why damaged page data: $(errline);"
for p in "$TOP" "$ZOMB" $KIDS; do
	gone "$p" || why="$why damaged page data: pid $p left;"
done
verdict "-d: page data damaged in a part: EIO, the file named, nothing left" "$why"
for cycle in 1 2 3; do
	why=""
	start_restart -d "$W/cyc"
	why=$(tree_ok "$W/dt")
	[ -n "$why" ] && why="$why stderr: $(tr '\n' '|' <"$W/rerr")"
	verdict "--kill and cr_restart -d, cycle $cycle: the tree is back" "$why"
	[ "$cycle" = 3 ] && break
	run "$CKPT" --kill -T -d "$W/cyc" "$TOP"
	[ "$rc" = 0 ] || fail "cycle $cycle: checkpoint" "exit $rc: $(errline)"
	reap "$rpid"
	for k in $KIDS; do wait_until gone "$k"; done
	[ "$(list "$W/cyc")" = "$(tree_files)" ] || fail "cycle $cycle: files" "$(list "$W/cyc")"
done
touch "$W/dt/go"
why=""
wait_until test -s "$W/dt/got" || why="nothing arrived;"
[ "$(cat "$W/dt/got" 2>/dev/null)" = "through the pipe" ] || why="$why got '$(cat "$W/dt/got")';"
verdict "after three cycles the line in the pipe arrives" "$why"
# shellcheck disable=SC2086 # a list of pids
kill -KILL "$TOP" $KIDS 2>/dev/null
reap "$rpid"
finish
