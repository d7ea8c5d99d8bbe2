#!/usr/bin/env bash
# files.sh: context files that cannot be used (blcr-reference.md §4.2, §5.2, §6.2,
# §6.3). A context that cannot be opened is an ARGS failure (exit 255, the message
# names it); an empty or truncated one is PERM with EIO (5); one that is not a context
# at all, or of another format version, is PERM with EINVAL (22), and the message
# says so. cr_info answers the same. The --run-on-* hook of the class, and only that
# one, decides the exit code.
#
#   BIN=build/bin TBIN=build/tests bash tests/fail/files.sh
# shellcheck source=tests/fail/common.bash
. "$(dirname "$0")/common.bash"
cd "$W" || exit 2

# A failure: exit code, a message naming the file, maybe a word it must contain.
check() { # name, code, file named, pattern ("" for none), command...
	local name=$1 want=$2 file=$3 pat=$4 why=""
	shift 4
	run "$@"
	[ "$rc" = "$want" ] || why="exit $rc, want $want;"
	grep -qF -- "$file" "$W/err" || why="$why message does not name $file;"
	[ -n "$pat" ] && ! grep -qiE -- "$pat" "$W/err" && why="$why message does not say '$pat';"
	crashed "$rc" "$W/err" && why="$why crashed;"
	[ -n "$why" ] && why="$why stderr: $(errline)"
	verdict "$name" "$why"
}

# Only the exit code (a hook decided it, silently).
code() { # name, code, command...
	local name=$1 want=$2 why=""
	shift 2
	run "$@"
	[ "$rc" = "$want" ] || why="exit $rc, want $want: $(errline)"
	verdict "$name" "$why"
}

missing=$W/no-such-context
mkdir "$W/dir"
head -c 8192 /dev/urandom >"$W/random"
printf 'This is not a context file.\nJust text.\n' >"$W/text"
printf 'CRESTCTX, then text that is no format version.\n' >"$W/magic-text"
printf 'CRESTCTX' >"$W/magic-only"
printf 'CRESTCTX\002\000\000\000\000\000\000\000' >"$W/version2"
printf 'CRESTCTX\000\000\000\000\000\000\000\000' >"$W/version0"
printf 'CRESTCTX\001\000\000\000\000\000\000\000' >"$W/preamble-only"
printf 'CRESTCTX\001\000\000\000\000\001\000\000' >"$W/reserved"
printf 'CRESTCTX\001\000\000\000\000\000\000\000\001\000\000' >"$W/cut-header"

# ---- cr_restart ----
R=cr_restart
check "$R missing file" 255 "$missing" "" "$RSTRT" "$missing"
check "$R missing file (-f)" 255 "$missing" "" "$RSTRT" -f "$missing"
check "$R closed descriptor (-F 7)" 255 "fd7" "" "$RSTRT" -F 7
check "$R a directory: EISDIR" 21 "$W/dir" "" "$RSTRT" "$W/dir"
check "$R /dev/null: empty, EIO" 5 /dev/null "" "$RSTRT" /dev/null
check "$R random bytes: EINVAL" 22 "$W/random" "not a .*context" "$RSTRT" "$W/random"
check "$R a text file: EINVAL" 22 "$W/text" "not a .*context" "$RSTRT" "$W/text"
check "$R magic, then text: EINVAL" 22 "$W/magic-text" "version" "$RSTRT" "$W/magic-text"
check "$R magic only: truncated, EIO" 5 "$W/magic-only" "truncated" "$RSTRT" "$W/magic-only"
check "$R format version 2: EINVAL" 22 "$W/version2" "version" "$RSTRT" "$W/version2"
check "$R format version 0: EINVAL" 22 "$W/version0" "version" "$RSTRT" "$W/version0"
check "$R reserved preamble field not zero: EINVAL" 22 "$W/reserved" "reserved" \
	"$RSTRT" "$W/reserved"
check "$R preamble only: truncated, EIO" 5 "$W/preamble-only" "truncated" \
	"$RSTRT" "$W/preamble-only"
check "$R cut in the first record header: EIO" 5 "$W/cut-header" "truncated" \
	"$RSTRT" "$W/cut-header"

# Unreadable: as root, permissions do not stop us; ask as nobody.
if command -v setpriv >/dev/null && setpriv --reuid=65534 --regid=65534 --clear-groups \
	"$RSTRT" --version >/dev/null 2>&1; then
	chmod 711 "$W"
	cp "$W/text" "$W/secret"
	chmod 400 "$W/secret"
	nobody=(setpriv --reuid=65534 --regid=65534 --clear-groups)
	check "$R unreadable file (as nobody)" 255 "$W/secret" "permission" \
		"${nobody[@]}" "$RSTRT" "$W/secret"
	code "$R unreadable file: --run-on-fail-args" 42 \
		"${nobody[@]}" "$RSTRT" --run-on-fail-args "exit 42" "$W/secret"
	check "cr_info unreadable file (as nobody)" 255 "$W/secret" "permission" \
		"${nobody[@]}" "$INFO" "$W/secret"
	chmod 700 "$W"
else
	echo "# setpriv cannot run the tools as nobody: unreadable-file cases use -F"
fi

# From a pipe: the same verdicts.
pipe_case() { # name, code, pattern, input file, tool
	local name=$1 want=$2 pat=$3 why=""
	timeout -k 5 "$TOOL_TIMEOUT" "$5" -F 0 <"$4" >"$W/out" 2>"$W/err"
	rc=$?
	[ "$rc" = "$want" ] || why="exit $rc, want $want;"
	grep -qiE -- "$pat" "$W/err" || why="$why message does not say '$pat';"
	crashed "$rc" "$W/err" && why="$why crashed;"
	[ -n "$why" ] && why="$why stderr: $(errline)"
	verdict "$name" "$why"
}
mkfifo "$W/fifo"
for t in "$RSTRT" "$INFO"; do
	n=$(basename "$t")
	cat "$W/random" >"$W/fifo" &
	pipe_case "$n random bytes from a pipe: EINVAL" 22 "not a .*context" "$W/fifo" "$t"
	wait
	: >"$W/empty"
	cat "$W/empty" >"$W/fifo" &
	pipe_case "$n nothing from a pipe: EIO" 5 "fd0" "$W/fifo" "$t"
	wait
	cat "$W/magic-only" >"$W/fifo" &
	pipe_case "$n magic only from a pipe: EIO" 5 "truncated" "$W/fifo" "$t"
	wait
done

# Hooks: the class's hook decides, the others do not.
code "$R /dev/null: --run-on-fail-perm" 42 "$RSTRT" --run-on-fail-perm "exit 42" /dev/null
code "$R /dev/null: --run-on-failure" 42 "$RSTRT" --run-on-failure "exit 42" /dev/null
code "$R /dev/null: --run-on-fail-env does not apply" 5 \
	"$RSTRT" --run-on-fail-env "exit 42" /dev/null
code "$R /dev/null: --run-on-fail-temp does not apply" 5 \
	"$RSTRT" --run-on-fail-temp "exit 42" /dev/null
code "$R /dev/null: --run-on-fail-args does not apply" 5 \
	"$RSTRT" --run-on-fail-args "exit 42" /dev/null
code "$R /dev/null: a later --run-on-fail-perm overrides --run-on-failure" 43 \
	"$RSTRT" --run-on-failure "exit 42" --run-on-fail-perm "exit 43" /dev/null
code "$R random bytes: --run-on-fail-perm" 42 \
	"$RSTRT" --run-on-fail-perm "exit 42" "$W/random"
code "$R missing file: --run-on-fail-args" 42 \
	"$RSTRT" --run-on-fail-args "exit 42" "$missing"
code "$R missing file: --run-on-failure" 42 "$RSTRT" --run-on-failure "exit 42" "$missing"
code "$R missing file: --run-on-fail-perm does not apply" 255 \
	"$RSTRT" --run-on-fail-perm "exit 42" "$missing"
code "$R a directory: --run-on-fail-env" 42 "$RSTRT" --run-on-fail-env "exit 42" "$W/dir"
# shellcheck disable=SC2016 # for the hook's shell
code "$R /dev/null: hook sees cr_restart's environment" 42 \
	env CREST_T=42 "$RSTRT" --run-on-fail-perm 'exit $CREST_T' /dev/null

# ---- cr_info ----
I=cr_info
check "$I missing file" 255 "$missing" "" "$INFO" "$missing"
check "$I closed descriptor (-F 7)" 255 "fd7" "" "$INFO" -F 7
# A directory is read as a set of contexts (cr_checkpoint -d): one with none is EINVAL.
check "$I a directory holding no context: EINVAL" 22 "$W/dir" "no context" "$INFO" "$W/dir"
check "$I /dev/null: empty, EIO" 5 /dev/null "" "$INFO" /dev/null
check "$I random bytes: EINVAL" 22 "$W/random" "not a .*context" "$INFO" "$W/random"
check "$I a text file: EINVAL" 22 "$W/text" "not a .*context" "$INFO" "$W/text"
check "$I magic only: truncated, EIO" 5 "$W/magic-only" "truncated" "$INFO" "$W/magic-only"
check "$I format version 2: EINVAL" 22 "$W/version2" "version" "$INFO" "$W/version2"
check "$I format version 0: EINVAL" 22 "$W/version0" "version" "$INFO" "$W/version0"
check "$I reserved preamble field not zero: EINVAL" 22 "$W/reserved" "reserved" \
	"$INFO" "$W/reserved"
check "$I preamble only: truncated, EIO" 5 "$W/preamble-only" "truncated" \
	"$INFO" "$W/preamble-only"
[ -s "$W/out" ] && fail "$I prints nothing on stdout for a bad file" "$(head -c 200 "$W/out")"

finish
