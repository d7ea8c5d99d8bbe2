#!/usr/bin/env bash
# options.sh: bad command lines for cr_checkpoint, cr_restart and cr_info, as BLCR
# answers them (blcr-reference.md §2, §3.1, §4.1, §5.2): usage errors exit 255 with
# the usage on stderr; -q silences stderr but keeps the code; help goes to stdout
# with exit 0; --version prints "NAME version X"; conflicting destinations or
# sources, bad signals and times exit 22; a cr_restart hook given before a bad
# argument decides the exit code.
#
#   BIN=build/bin TBIN=build/tests bash tests/fail/options.sh
# shellcheck source=tests/fail/common.bash
. "$(dirname "$0")/common.bash"
cd "$W" || exit 2

# A pid that cannot exist (pids stay below pid_max): a command line that parses
# gets as far as "no such process" (ESRCH, 3) and no further.
NOPID=$(cat /proc/sys/kernel/pid_max)
CTX=$W/missing-context

# Usage error: 255, usage on stderr, nothing on stdout.
usage_err() { # name, command...
	local name=$1 why=""
	shift
	run "$@"
	[ "$rc" = 255 ] || why="exit $rc, want 255;"
	grep -q '^Usage:' "$W/err" || why="$why no usage on stderr;"
	[ -s "$W/out" ] && why="$why stdout not empty;"
	crashed "$rc" "$W/err" && why="$why crashed;"
	verdict "$name" "$why"
}

# Silent failure with a given code: nothing at all on stdout or stderr.
quiet_err() { # name, code, command...
	local name=$1 want=$2 why=""
	shift 2
	run "$@"
	[ "$rc" = "$want" ] || why="exit $rc, want $want;"
	[ -s "$W/err" ] && why="$why stderr not empty: $(errline);"
	[ -s "$W/out" ] && why="$why stdout not empty;"
	verdict "$name" "$why"
}

# Help: usage on stdout, exit 0, stderr empty.
help_ok() { # name, command...
	local name=$1 why=""
	shift
	run "$@"
	[ "$rc" = 0 ] || why="exit $rc, want 0;"
	grep -q '^Usage:' "$W/out" || why="$why no usage on stdout;"
	[ -s "$W/err" ] && why="$why stderr not empty: $(errline);"
	verdict "$name" "$why"
}

# Version: one line "PROG version X" on stdout, exit 0.
version_ok() { # name, prog, command...
	local name=$1 prog=$2 why=""
	shift 2
	run "$@"
	[ "$rc" = 0 ] || why="exit $rc, want 0;"
	[ "$(wc -l <"$W/out")" = 1 ] && grep -qE "^$prog version [^ ]+\$" "$W/out" ||
		why="$why stdout is '$(tr '\n' '|' <"$W/out")';"
	[ -s "$W/err" ] && why="$why stderr not empty: $(errline);"
	verdict "$name" "$why"
}

# A failure with a given exit code and a message on stderr.
code_err() { # name, code, command...
	local name=$1 want=$2 why=""
	shift 2
	run "$@"
	[ "$rc" = "$want" ] || why="exit $rc, want $want: $(errline);"
	[ -s "$W/err" ] || why="$why no message on stderr;"
	crashed "$rc" "$W/err" && why="$why crashed;"
	verdict "$name" "$why"
}

# ---- cr_checkpoint ----
C=cr_checkpoint
usage_err "$C unknown long option" "$CKPT" --bogus "$NOPID"
usage_err "$C unknown short option" "$CKPT" -x "$NOPID"
usage_err "$C ambiguous abbreviation --no" "$CKPT" --no "$NOPID"
usage_err "$C -f without argument" "$CKPT" "$NOPID" -f
usage_err "$C --file without argument" "$CKPT" "$NOPID" --file
usage_err "$C -S without argument" "$CKPT" "$NOPID" -S
usage_err "$C -t without argument" "$CKPT" "$NOPID" -t
usage_err "$C -F without argument" "$CKPT" "$NOPID" -F
usage_err "$C -S abc" "$CKPT" -S abc "$NOPID"
usage_err "$C -S 9x" "$CKPT" -S 9x "$NOPID"
usage_err "$C -S empty" "$CKPT" -S "" "$NOPID"
usage_err "$C -t 5s" "$CKPT" -t 5s "$NOPID"
usage_err "$C -t empty" "$CKPT" --time= "$NOPID"
usage_err "$C -F x" "$CKPT" -F x "$NOPID"
usage_err "$C ID 12a" "$CKPT" 12a
usage_err "$C ID empty" "$CKPT" ""
usage_err "$C ID with a space" "$CKPT" " 12"
usage_err "$C no ID" "$CKPT"
usage_err "$C no ID with options" "$CKPT" -p -f "$W/x"
usage_err "$C two IDs" "$CKPT" "$NOPID" "$NOPID"
usage_err "$C --backup NAME without = is a second ID" "$CKPT" --backup "$W/b" "$NOPID"

quiet_err "$C -q unknown option" 255 "$CKPT" -q --bogus "$NOPID"
quiet_err "$C --quiet bad integer" 255 "$CKPT" --quiet -S x "$NOPID"
quiet_err "$C -q no ID" 255 "$CKPT" -q
quiet_err "$C -q two destinations" 22 "$CKPT" -q -f "$W/a" -f "$W/b" "$NOPID"
quiet_err "$C -q no such process" 3 "$CKPT" -q "$NOPID"
code_err "$C -q -v is normal verbosity" 3 "$CKPT" -q -v "$NOPID"

help_ok "$C --help" "$CKPT" --help
help_ok "$C -h" "$CKPT" -h
help_ok "$C -?" "$CKPT" '-?'
help_ok "$C --he (abbreviated)" "$CKPT" --he
help_ok "$C --help among other options" "$CKPT" -p --help "$NOPID"
version_ok "$C --version" "$C" "$CKPT" --version
version_ok "$C --vers (abbreviated)" "$C" "$CKPT" --vers

code_err "$C -f twice" 22 "$CKPT" -f "$W/a" -f "$W/b" "$NOPID"
code_err "$C -c and -f" 22 "$CKPT" -c -f "$W/a" "$NOPID"
code_err "$C -c twice" 22 "$CKPT" -c -c "$NOPID"
code_err "$C -f and -F" 22 "$CKPT" -f "$W/a" -F 1 "$NOPID"
code_err "$C -F and -d" 22 "$CKPT" -F 1 -d "$W" "$NOPID"
code_err "$C -S 0" 22 "$CKPT" -S 0 "$NOPID"
code_err "$C -S 65" 22 "$CKPT" -S 65 "$NOPID"
code_err "$C -S -1" 22 "$CKPT" -S -1 "$NOPID"
code_err "$C --signal=1000" 22 "$CKPT" --signal=1000 "$NOPID"
code_err "$C -t -1" 22 "$CKPT" -t -1 "$NOPID"
code_err "$C -F -1" 22 "$CKPT" -F -1 "$NOPID"
# -d, which BLCR never implemented, works in crest (tests/cli/dir.sh): a failed
# request creates nothing.
code_err "$C -d, no such process" 3 "$CKPT" -d "$W/dir" "$NOPID"
[ -e "$W/dir" ] && fail "$C -d creates nothing" "$W/dir was created"

# Edges that parse: they reach "no such process".
code_err "$C -S 1 parses" 3 "$CKPT" -S 1 "$NOPID"
code_err "$C -S 64 parses" 3 "$CKPT" -S 64 "$NOPID"
code_err "$C -t 0 parses" 3 "$CKPT" -t 0 "$NOPID"
code_err "$C --nocl (abbreviated) parses" 3 "$CKPT" --nocl "$NOPID"
code_err "$C --file=FILE parses" 3 "$CKPT" --file="$W/x" "$NOPID"
code_err "$C --backup=NAME parses" 3 "$CKPT" --backup="$W/b" "$NOPID"
code_err "$C options after the ID parse" 3 "$CKPT" "$NOPID" --pid --kill
code_err "$C -- ends options" 3 "$CKPT" -p -- "$NOPID"
left=$(find "$W" -mindepth 1 ! -name out ! -name err ! -name '*.count' | tr '\n' ' ')
verdict "$C failed requests leave no files" "${left:+left: $left}"

# ---- cr_restart ----
R=cr_restart
usage_err "$R unknown long option" "$RSTRT" --bogus "$CTX"
usage_err "$R unknown short option" "$RSTRT" -x "$CTX"
usage_err "$R ambiguous abbreviation --re" "$RSTRT" --re "$CTX"
usage_err "$R -f without argument" "$RSTRT" -f
usage_err "$R -S without argument" "$RSTRT" "$CTX" -S
usage_err "$R -F without argument" "$RSTRT" -F
usage_err "$R --run-on-success without argument" "$RSTRT" "$CTX" --run-on-success
usage_err "$R -S abc" "$RSTRT" -S abc "$CTX"
usage_err "$R -S empty" "$RSTRT" -S "" "$CTX"
usage_err "$R -F x" "$RSTRT" -F x
usage_err "$R -F 3x" "$RSTRT" -F 3x
usage_err "$R no file" "$RSTRT"
usage_err "$R no file with options" "$RSTRT" --no-restore-pid --kill
usage_err "$R two files" "$RSTRT" "$CTX" "$CTX"
usage_err "$R -f FILE and a file" "$RSTRT" -f "$CTX" "$CTX"
usage_err "$R -F FD and a file" "$RSTRT" -F 0 "$CTX"

quiet_err "$R -q unknown option" 255 "$RSTRT" -q --bogus "$CTX"
quiet_err "$R --quiet bad integer" 255 "$RSTRT" --quiet -S x "$CTX"
quiet_err "$R -q no file" 255 "$RSTRT" -q
quiet_err "$R -q two sources" 22 "$RSTRT" -q -f "$CTX" -F 0
quiet_err "$R -q missing context" 255 "$RSTRT" -q "$CTX"
quiet_err "$R -q empty context" 5 "$RSTRT" -q /dev/null

help_ok "$R --help" "$RSTRT" --help
help_ok "$R -h" "$RSTRT" -h
help_ok "$R -?" "$RSTRT" '-?'
help_ok "$R --help among other options" "$RSTRT" --kill --help "$CTX"
version_ok "$R --version" "$R" "$RSTRT" --version
version_ok "$R -v" "$R" "$RSTRT" -v
version_ok "$R --vers (abbreviated)" "$R" "$RSTRT" --vers

code_err "$R -f and -F" 22 "$RSTRT" -f "$CTX" -F 0
code_err "$R -f twice" 22 "$RSTRT" -f "$CTX" -f "$CTX"
code_err "$R -F and -d" 22 "$RSTRT" -F 0 -d "$W"
code_err "$R -d (not implemented)" 22 "$RSTRT" -d "$W"
code_err "$R -d with a file too" 22 "$RSTRT" -d "$W" "$CTX"
code_err "$R -S 0" 22 "$RSTRT" -S 0 "$CTX"
code_err "$R -S 65" 22 "$RSTRT" -S 65 "$CTX"
code_err "$R -S -1" 22 "$RSTRT" -S -1 "$CTX"
code_err "$R -F -1" 22 "$RSTRT" -F -1
code_err "$R --relocate without =" 22 "$RSTRT" --relocate /a "$CTX"
code_err "$R --relocate relative path" 22 "$RSTRT" --relocate a=/b "$CTX"
code_err "$R --relocate two =" 22 "$RSTRT" --relocate /a=/b=/c "$CTX"
# Parses, then cannot open the context: ARGS class, 255.
code_err "$R -S 64 parses" 255 "$RSTRT" -S 64 "$CTX"
code_err "$R --file=FILE parses" 255 "$RSTRT" --file="$CTX"
code_err "$R options after the file parse" 255 "$RSTRT" "$CTX" --no-restore-pid --cont
code_err "$R -- ends options" 255 "$RSTRT" --kill -- "$CTX"

# Hooks apply from left to right: one given before the bad argument decides.
code_hook() { # name, code, command...
	local name=$1 want=$2 why=""
	shift 2
	run "$@"
	[ "$rc" = "$want" ] || why="exit $rc, want $want: $(errline)"
	verdict "$name" "$why"
}
code_hook "$R --run-on-fail-args before a bad option" 42 \
	"$RSTRT" --run-on-fail-args "exit 42" --bogus "$CTX"
code_hook "$R --run-on-failure before a bad option" 42 \
	"$RSTRT" --run-on-failure "exit 42" --bogus "$CTX"
code_hook "$R --run-on-fail-args before a bad integer" 42 \
	"$RSTRT" --run-on-fail-args "exit 42" -S x "$CTX"
code_hook "$R --run-on-fail-args before -S 0" 42 \
	"$RSTRT" --run-on-fail-args "exit 42" -S 0 "$CTX"
code_hook "$R --run-on-fail-args before two sources" 42 \
	"$RSTRT" --run-on-fail-args "exit 42" -f "$CTX" -F 0
code_hook "$R --run-on-fail-args before -d" 42 "$RSTRT" --run-on-fail-args "exit 42" -d "$W"
code_hook "$R --run-on-fail-args with no file" 42 "$RSTRT" --run-on-fail-args "exit 42"
code_hook "$R --run-on-fail-args after a bad option does not apply" 255 \
	"$RSTRT" --bogus --run-on-fail-args "exit 42" "$CTX"
code_hook "$R --run-on-fail-perm is not the args hook" 255 \
	"$RSTRT" --run-on-fail-perm "exit 42" --bogus "$CTX"
code_hook "$R a later hook replaces an earlier one" 43 \
	"$RSTRT" --run-on-failure "exit 42" --run-on-fail-args "exit 43" --bogus "$CTX"
code_hook "$R hook value 0 keeps the normal code" 255 \
	"$RSTRT" --run-on-fail-args "exit 0" --bogus "$CTX"
code_hook "$R empty hook is no hook" 255 "$RSTRT" --run-on-fail-args "" --bogus "$CTX"
code_hook "$R hook killed by a signal: 255" 255 \
	"$RSTRT" --run-on-fail-args 'kill -9 $$' --bogus "$CTX"
code_hook "$R hook exit 300 is 300 & 0xff" 44 \
	"$RSTRT" --run-on-fail-args "exit 300" --bogus "$CTX"
quiet_err "$R hook value is exited with silently" 42 \
	"$RSTRT" --run-on-fail-args "exit 42" --bogus "$CTX"

# ---- cr_info ----
I=cr_info
usage_err "$I unknown long option" "$INFO" --bogus "$CTX"
usage_err "$I unknown short option" "$INFO" -x "$CTX"
usage_err "$I -F without argument" "$INFO" -F
usage_err "$I -F x" "$INFO" -F x
usage_err "$I -F -1" "$INFO" -F -1
usage_err "$I no file" "$INFO"
usage_err "$I two files" "$INFO" "$CTX" "$CTX"
usage_err "$I -F FD and a file" "$INFO" -F 0 "$CTX"
help_ok "$I --help" "$INFO" --help
help_ok "$I -h" "$INFO" -h
help_ok "$I -?" "$INFO" '-?'
version_ok "$I --version" "$I" "$INFO" --version

finish
