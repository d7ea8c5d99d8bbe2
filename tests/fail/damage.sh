#!/usr/bin/env bash
# damage.sh: damaged context files. A real context of a small process is damaged
# record by record (a byte flipped in the record's header, one in its payload, the
# file cut in the middle of the record or just before it), and at the ends of the
# file. For each: cr_info fails with EIO (5) or EINVAL (22) naming the file;
# cr_restart fails the same way (PERM class), never crashes (no signal, no sanitizer
# report), and leaves nothing at the saved pid. Then damage the reader can only see
# by meaning (fields changed with their CRCs fixed): records missing, unknown record
# types, another architecture, bad fields; and bytes changed anywhere must never
# crash either tool. docs/context-format.md describes what is damaged here.
#
#   BIN=build/bin TBIN=build/tests bash tests/fail/damage.sh
# shellcheck source=tests/fail/common.bash
. "$(dirname "$0")/common.bash"
cd "$W" || exit 2

# ---- a real context ----
if ! start_counter tgt; then
	fail "setup" "the counter did not start"
	exit 1
fi
P=$pid
run "$CKPT" -p -f "$W/ctx" "$P"
if [ "$rc" != 0 ]; then
	fail "setup" "cannot checkpoint the counter: exit $rc: $(errline)"
	exit 1
fi
kill_wait "$P"
chmod 600 "$W/ctx"
cp "$W/ctx" "$W/ctx.orig"

run "$INFO" "$W/ctx"
verdict "intact context: cr_info" "$([ "$rc" = 0 ] || echo "exit $rc: $(errline)")"

# The intact context restarts (else nothing below means anything): it comes back at
# its pid and counts on.
: >"$W/tgt.count"
start_restart "$W/ctx"
why=""
wait_until has_count "$W/tgt.count" || why="restored counter does not count;"
[ "$(comm "$P")" = counter ] || why="$why pid $P is not the counter;"
kill -KILL "$P" 2>/dev/null
reap "$rpid"
[ "$rrc" = 137 ] || why="$why cr_restart exit $rrc, want 137: $(tr '\n' '|' <"$W/rerr")"
verdict "intact context: cr_restart" "$why"
wait_until gone "$P"

# ---- the record list ----
nrec=0
size=0
declare -a R_NAME R_OFF R_LEN
while read -r a b c d e _; do
	if [ "$a" = size ]; then
		size=$b
		continue
	fi
	R_NAME[a]=$c
	R_OFF[a]=$d
	R_LEN[a]=$e
	nrec=$((a + 1))
done < <("$CTXTOOL" list "$W/ctx.orig")
last=$((nrec - 1))

kinds=" ${R_NAME[*]} "
why=""
for k in header process memory-map pages thread signals timers file descriptors \
	credentials end; do
	case $kinds in
	*" $k "*) ;;
	*) why="$why no $k record;" ;;
	esac
done
[ "${R_NAME[last]}" = end ] || why="$why the last record is not the end record;"
[ "$size" = $((R_OFF[last] + 24 + R_LEN[last])) ] || why="$why the end record does not end the file;"
echo "# $nrec records, $size bytes: ${R_NAME[*]}"
verdict "the context has every kind of record" "$why"

# ---- checking one damaged file ----

# Who is at the saved pid, if anyone: "" or "mine" or "other".
at_pid() {
	alive "$P" || return 0
	if [ "$(comm "$P")" = counter ]; then echo mine; else echo other; fi
}

# cr_info must fail with one of the codes, naming the file; cr_restart as well, and
# leave nothing at the pid. A restart that succeeds is killed at once (--kill), so a
# wrong success shows as exit 137.
expect_fail() { # name, file, codes (e.g. "5 22")
	local name=$1 f=$2 codes=" $3 " why="" before
	run "$INFO" "$f"
	case $codes in *" $rc "*) ;; *) why="cr_info exit $rc, want${codes% };" ;; esac
	grep -qF -- "$f" "$W/err" || why="$why cr_info message does not name the file;"
	crashed "$rc" "$W/err" && why="$why cr_info crashed;"
	[ -s "$W/out" ] && why="$why cr_info printed a description;"
	[ -n "$why" ] && why="$why [$(errline)]"

	before=$(at_pid)
	[ "$before" = other ] && codes="${codes}16 " # someone else took the pid meanwhile
	run "$RSTRT" --kill "$f"
	if [ "$rc" = 137 ]; then
		why="$why cr_restart restarted it (exit 137 after --kill), want${codes% };"
	else
		case $codes in *" $rc "*) ;; *) why="$why cr_restart exit $rc, want${codes% };" ;; esac
		grep -q '^Restart failed: ' "$W/err" || why="$why no 'Restart failed:' line;"
		grep -qF -- "$f" "$W/err" || why="$why cr_restart message does not name the file;"
		crashed "$rc" "$W/err" && why="$why cr_restart crashed;"
	fi
	if [ "$(at_pid)" = mine ]; then
		why="$why a process is left at pid $P;"
		kill_gone "$P"
	fi
	case $why in *"cr_restart"* | *"Restart"* | *"left"*) why="$why [$(errline)]" ;; esac
	verdict "$name" "$why"
}

fresh() { cp "$W/ctx.orig" "$W/bad"; }

# ---- damage to every record's framing ----
for ((i = 0; i < nrec; i++)); do
	o=${R_OFF[i]}
	l=${R_LEN[i]}
	what="record $i (${R_NAME[i]})"

	fresh
	"$CTXTOOL" flip "$W/bad" $((o + 8))
	expect_fail "$what: header length byte flipped" "$W/bad" "5 22"

	fresh
	"$CTXTOOL" flip "$W/bad" "$o"
	expect_fail "$what: header type byte flipped" "$W/bad" "5 22"

	fresh
	"$CTXTOOL" flip "$W/bad" $((o + 20))
	expect_fail "$what: header CRC flipped" "$W/bad" "5 22"

	if [ "$l" -gt 0 ]; then
		fresh
		"$CTXTOOL" flip "$W/bad" $((o + 24 + l / 2))
		expect_fail "$what: payload byte flipped" "$W/bad" "5 22"
		fresh
		"$CTXTOOL" flip "$W/bad" $((o + 24))
		expect_fail "$what: first payload byte flipped" "$W/bad" "5 22"
		fresh
		"$CTXTOOL" flip "$W/bad" $((o + 24 + l - 1))
		expect_fail "$what: last payload byte flipped" "$W/bad" "5 22"
	fi
	if [ "${R_NAME[i]}" = pages ]; then
		# The run list: an address moved by a multiple of 64 KiB, a page count.
		fresh
		"$CTXTOOL" flip "$W/bad" $((o + 24 + 16 + 2))
		expect_fail "$what: first run's address flipped" "$W/bad" "5 22"
		fresh
		"$CTXTOOL" flip "$W/bad" $((o + 24 + 16 + 8)) 0x01
		expect_fail "$what: first run's page count changed" "$W/bad" "5 22"
	fi

	fresh
	"$CTXTOOL" trunc "$W/bad" $((o + (24 + l) / 2))
	expect_fail "$what: file cut in its middle" "$W/bad" "5"

	fresh
	"$CTXTOOL" trunc "$W/bad" $((o + 12))
	expect_fail "$what: file cut in its header" "$W/bad" "5"

	fresh
	"$CTXTOOL" trunc "$W/bad" "$o"
	expect_fail "$what: file cut just before it" "$W/bad" "5"
done

# ---- the ends of the file ----
fresh
"$CTXTOOL" trunc "$W/bad" $((size - 1))
expect_fail "file without its last byte" "$W/bad" "5"
: >"$W/bad"
expect_fail "empty file" "$W/bad" "5"
fresh
"$CTXTOOL" trunc "$W/bad" 16
expect_fail "file cut right after the preamble" "$W/bad" "5"
fresh
"$CTXTOOL" trunc "$W/bad" 8
expect_fail "file cut inside the preamble" "$W/bad" "5"
fresh
"$CTXTOOL" flip "$W/bad" 3
expect_fail "magic damaged" "$W/bad" "22"
fresh
"$CTXTOOL" poke "$W/bad" 8 2
expect_fail "format version 2" "$W/bad" "22"
fresh
printf 'more' >>"$W/bad"
expect_fail "bytes after the end record" "$W/bad" "22"
fresh
cat "$W/ctx.orig" >>"$W/bad"
expect_fail "two contexts in one file" "$W/bad" "22"

# ---- damage by meaning: fields changed, CRCs fixed ----
index_of() { # record name: the first record of that kind
	local k
	for ((k = 0; k < nrec; k++)); do
		[ "${R_NAME[k]}" = "$1" ] && echo "$k" && return 0
	done
	return 1
}

# Set a little-endian u32 in record k's payload at byte pos, and fix its CRCs.
set_u32() { # file, record, pos, value
	local at=$((R_OFF[$2] + 24 + $3)) b
	for b in 0 1 2 3; do
		"$CTXTOOL" poke "$1" $((at + b)) $((($4 >> (8 * b)) & 255))
	done
	"$CTXTOOL" fixcrc "$1" "$2"
}

h=$(index_of header)
fresh
set_u32 "$W/bad" "$h" 0 3 # EM_386
expect_fail "header: another architecture (CR_EBADARCH)" "$W/bad" "55"
grep -qi 'architecture' "$W/err" || fail "header: another architecture: message" "$(errline)"
fresh
set_u32 "$W/bad" "$h" 4 8192
expect_fail "header: 8 KiB pages (CR_EBADARCH)" "$W/bad" "55"
fresh
set_u32 "$W/bad" "$h" 8 100
expect_fail "header: FPU state size out of range" "$W/bad" "22"
fresh
hl=${R_LEN[h]}
set_u32 "$W/bad" "$h" $((hl - 4)) 2
expect_fail "header: two processes announced, one described" "$W/bad" "22"
fresh
set_u32 "$W/bad" "$h" $((hl - 4)) 0
expect_fail "header: no process" "$W/bad" "22"

p=$(index_of process)
fresh
set_u32 "$W/bad" "$p" 0 0
expect_fail "process: pid 0" "$W/bad" "22"
fresh
set_u32 "$W/bad" "$p" 0 $((P + 1))
expect_fail "process: another pid than its other records" "$W/bad" "22"
t=$(index_of thread)
fresh
set_u32 "$W/bad" "$t" 4 $((P + 1))
expect_fail "thread: no record for the main thread" "$W/bad" "22"
d=$(index_of descriptors)
fresh
set_u32 "$W/bad" "$d" 4 100000
expect_fail "descriptors: count larger than the record" "$W/bad" "22"
fresh
set_u32 "$W/bad" "$d" 16 999
expect_fail "descriptors: a descriptor refers to no file" "$W/bad" "22"
m=$(index_of memory-map)
fresh
set_u32 "$W/bad" "$m" 8 0x7fff
expect_fail "memory map: start of code past its end" "$W/bad" "22"
pg=$(index_of pages)
fresh
set_u32 "$W/bad" "$pg" 4 100000
expect_fail "pages: run count larger than the record" "$W/bad" "22"

# A record hidden (made an unknown, optional type): each is required.
for ((i = 0; i < last; i++)); do
	fresh
	"$CTXTOOL" retype "$W/bad" "$i" 0x100 0
	expect_fail "record $i (${R_NAME[i]}) missing" "$W/bad" "22"
done

# Unknown types: a required one is refused, an optional one skipped.
fresh
"$CTXTOOL" retype "$W/bad" "$t" 0x100 1
expect_fail "record of an unknown required type" "$W/bad" "22"
grep -q 'does not know' "$W/err" || fail "unknown required type: message" "$(errline)"
fresh
"$CTXTOOL" insert "$W/bad" 0x100 1 40
expect_fail "an added record of an unknown required type" "$W/bad" "22"
fresh
"$CTXTOOL" insert "$W/bad" 0x100 0 40
run "$INFO" "$W/bad"
verdict "an added unknown optional record is skipped: cr_info" \
	"$([ "$rc" = 0 ] || echo "exit $rc: $(errline)")"
run "$RSTRT" --kill "$W/bad"
verdict "an added unknown optional record is skipped: cr_restart" \
	"$([ "$rc" = 137 ] || echo "exit $rc, want 137 (restarted, then --kill): $(errline)")"
wait_until gone "$P"

# ---- bytes changed anywhere, CRCs fixed: never a crash ----
codes() { tr ' ' '\n' <<<"${1# }" | sort -n | uniq | tr '\n' ' '; }

# Each record, at a few places: whatever the verdict, no tool may crash, and a
# restart that fails leaves nothing behind. A restart that succeeds is killed by
# --kill (exit 137).
for ((i = 0; i < last; i++)); do
	l=${R_LEN[i]}
	[ "$l" -gt 0 ] || continue
	problems=""
	seen_info=""
	seen_rst=""
	for at in 0 1 4 8 12 16 20 24 28 32 40 48 64 $((l / 3)) $((l / 2)) $((l - 5)) $((l - 1)); do
		if [ "$at" -lt 0 ] || [ "$at" -ge "$l" ]; then
			continue
		fi
		fresh
		"$CTXTOOL" flip "$W/bad" $((R_OFF[i] + 24 + at)) 0x81
		"$CTXTOOL" fixcrc "$W/bad" "$i"
		run "$INFO" "$W/bad"
		crashed "$rc" "$W/err" && problems="$problems cr_info crashed at +$at (exit $rc);"
		seen_info="$seen_info $rc"
		run "$RSTRT" --kill "$W/bad"
		seen_rst="$seen_rst $rc"
		if [ "$rc" != 137 ] && crashed "$rc" "$W/err"; then
			problems="$problems cr_restart crashed at +$at (exit $rc: $(errline));"
		fi
		if [ "$(at_pid)" = mine ]; then
			problems="$problems a process left at pid $P after +$at;"
			kill_gone "$P"
		fi
	done
	echo "# record $i (${R_NAME[i]}): cr_info exits $(codes "$seen_info"), cr_restart exits $(codes "$seen_rst")"
	verdict "record $i (${R_NAME[i]}): changed bytes with good CRCs never crash" "$problems"
done

finish
