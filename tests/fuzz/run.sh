#!/usr/bin/env bash
# Fuzz context_load() for a bounded time and say "PASS fuzz/context_load" or
# "FAIL fuzz/context_load: why"; exit non-zero on any crash.
#
#   tests/fuzz/run.sh               FUZZ_SECONDS (default 60) of fuzzing
#
# Builds tests/fuzz/fuzz_context.c and the engine sources with clang
# (-fsanitize=fuzzer,address,undefined) in build-fuzz/ (FUZZ_BUILD), makes a seed
# corpus there with the real encoders, adds a real context when build/bin/cr_checkpoint
# (CR_CHECKPOINT) can make one, and keeps what the fuzzer learns in build-fuzz/corpus
# for next time. A crashing input is left in build-fuzz/artifacts/; replay it with
# build-fuzz/fuzz_context FILE. Needs the Debian packages clang, libclang-rt-14-dev
# (libFuzzer) and libisal-dev; installs nothing.
set -u
cd "$(dirname "$0")/../.." || exit 2
name=fuzz/context_load
secs=${FUZZ_SECONDS:-60}
out=${FUZZ_BUILD:-build-fuzz}
cc=${FUZZ_CC:-clang}
jobs=$(nproc 2>/dev/null || echo 2)

fail() {
	echo "FAIL $name: $*"
	exit 1
}

case $secs in
'' | *[!0-9]*) fail "FUZZ_SECONDS must be a number of seconds, not '$secs'" ;;
esac
command -v "$cc" >/dev/null || fail "$cc not found (Debian packages: clang libclang-rt-14-dev)"
mkdir -p "$out/obj" "$out/seeds" "$out/corpus" "$out/artifacts" || fail "cannot create $out"

# libFuzzer's runtime comes in a package of its own; say so rather than fail to link.
printf 'int LLVMFuzzerTestOneInput(const char *d, long n);\n%s\n' \
	'int LLVMFuzzerTestOneInput(const char *d, long n) { return d && n < 0; }' >"$out/probe.c"
if ! "$cc" -fsanitize=fuzzer,address,undefined -o "$out/probe" "$out/probe.c" \
	>"$out/probe.log" 2>&1; then
	fail "$cc cannot link a libFuzzer program (Debian package libclang-rt-14-dev):" \
		"$(head -c 300 "$out/probe.log")"
fi

flags=(-std=gnu11 -D_GNU_SOURCE -Isrc -g -O1 -fno-omit-frame-pointer
	"-fsanitize=address,undefined" -fno-sanitize-recover=undefined)

# The engine, instrumented for coverage. An object is rebuilt when its source or any
# header is newer; up to $jobs compilers run at once.
objs=()
: >"$out/build.log"
for src in src/util/*.c src/engine/*.c src/engine/state/*.c src/engine/arch/x86_64/*.c; do
	obj=$out/obj/$(echo "$src" | tr / _).o
	objs+=("$obj")
	if [ -e "$obj" ] && [ ! "$src" -nt "$obj" ] &&
		[ -z "$(find src -name '*.h' -newer "$obj" -print -quit)" ]; then
		continue
	fi
	rm -f "$obj"
	while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do
		wait -n
	done
	"$cc" "${flags[@]}" -fsanitize=fuzzer-no-link -c -o "$obj" "$src" >>"$out/build.log" 2>&1 &
done
wait
for obj in "${objs[@]}"; do
	[ -e "$obj" ] || fail "cannot build the engine with $cc: $(grep -m3 'error' "$out/build.log")"
done
if ! "$cc" "${flags[@]}" -fsanitize=fuzzer -o "$out/fuzz_context" tests/fuzz/fuzz_context.c \
	"${objs[@]}" -lisal -lpthread >"$out/link.log" 2>&1; then
	fail "cannot build the fuzzer: $(grep -m3 -E 'error|undefined' "$out/link.log")"
fi

# A real context of a sleeping process, if the tools are built.
real=
ckpt=${CR_CHECKPOINT:-build/bin/cr_checkpoint}
if [ -x "$ckpt" ]; then
	real=$out/sleep.context
	rm -f "$real"
	sleep 100 &
	target=$!
	disown "$target" # cr_checkpoint --kill ends it; no "Killed" from the shell
	if ! timeout 30 "$ckpt" -p "$target" -f "$real" --kill >"$out/ckpt.log" 2>&1; then
		echo "note: $ckpt could not checkpoint a sleep process; fuzzing without a real" \
			"context: $(tail -n 1 "$out/ckpt.log")"
		real=
	fi
	kill -9 "$target" 2>/dev/null
fi

# Seeds, made with the real encoders (and from the real context, its page data left out).
rm -f "$out"/seeds/*
if ! CREST_FUZZ_SEEDS=$out/seeds CREST_FUZZ_REAL=$real "$out/fuzz_context" \
	>"$out/seeds.log" 2>&1; then
	fail "cannot make the seed corpus: $(tail -n 3 "$out/seeds.log")"
fi
[ -n "$real" ] || rm -f "$out/seeds/real-without-pages"

# The whole real context, page data and all, must load as it is.
if [ -n "$real" ] && ! "$out/fuzz_context" -runs=1 "$real" >"$out/real.log" 2>&1; then
	tail -n 30 "$out/real.log" | sed 's/^/  | /'
	fail "loading the real context $real crashed"
fi

# Fuzz. libFuzzer exits non-zero on a crash, a leak, a timeout or running out of memory.
rm -f "$out"/artifacts/*
"$out/fuzz_context" -max_total_time="$secs" -timeout=20 -rss_limit_mb=2048 -max_len=65536 \
	-print_final_stats=1 -artifact_prefix="$out/artifacts/" "$out/corpus" "$out/seeds" \
	>"$out/fuzz.log" 2>&1
rc=$?
if [ $rc != 0 ]; then
	art=$(find "$out/artifacts" -type f -print -quit)
	why=$(grep -m1 -E 'ERROR:|runtime error|fuzz_context:' "$out/fuzz.log")
	tail -n 40 "$out/fuzz.log" | sed 's/^/  | /'
	fail "libFuzzer exit $rc: ${why:-see $out/fuzz.log}${art:+ (input: $art)}"
fi
runs=$(grep -m1 -o 'number_of_executed_units: *[0-9]*' "$out/fuzz.log" | grep -o '[0-9]*$')
echo "PASS $name (${runs:-?} inputs in ${secs}s)"
