#!/usr/bin/env bash
# Run every crest test and end with "N passed, N failed"; exit non-zero on any failure.
#
#   tests/run-tests.sh [GROUP...]     groups: unit state cli fail libcr fuzz (default: all)
#
# Expects both builds (make all test-progs; make SAN=1 all test-progs). State tests
# run with the plain tools and again with the sanitizer-built tools; the programs
# under test are always plain builds. Each test prints "PASS name" or "FAIL name: why".
set -u
cd "$(dirname "$0")/.." || exit 2
top=$PWD
groups=${*:-unit state cli fail libcr fuzz}
passed=0
failed=0
TREE_TESTS="tree fd_unix_tree fd_shared_tree fd_unix_server fd_many sigtrap"
NEWPID_TESTS="mem_anon mem_maps pipes proc fpu syscalls creds ids fd_eventfd fd_signalfd fd_timerfd fd_epoll fd_inotify fd_unix fd_memfd fd_deleted fd_fifo locks fd_shared_tree fd_unix_server fd_many"
failures=()
export LIBCR_DISABLE_NSCD=1

# Record the verdict lines a test printed; a test that printed none counts by its
# exit status.
tally() { # name, exit status, output
	local name=$1 rc=$2 out=$3 seen=0 line
	while IFS= read -r line; do
		case $line in
		PASS\ *) passed=$((passed + 1)); seen=1; echo "$line" ;;
		FAIL\ *) failed=$((failed + 1)); seen=1; echo "$line"; failures+=("$line") ;;
		esac
	done <<<"$out"
	if [ $seen = 0 ]; then
		if [ "$rc" = 0 ]; then
			passed=$((passed + 1)); echo "PASS $name"
		else
			failed=$((failed + 1)); echo "FAIL $name (exit $rc)"; failures+=("FAIL $name (exit $rc)")
			echo "$out" | tail -n 20 | sed 's/^/  | /'
		fi
	elif [ "$rc" != 0 ] && ! grep -q '^FAIL ' <<<"$out"; then
		failed=$((failed + 1)); echo "FAIL $name (exit $rc)"; failures+=("FAIL $name (exit $rc)")
	fi
}

# Bound every test: a hang is a failure, not a stuck CI.
run() { # name, timeout, command...
	local name=$1 secs=$2 out rc
	shift 2
	out=$(timeout -k 5 "$secs" "$@" 2>&1)
	rc=$?
	[ $rc = 124 ] && out="$out
FAIL $name: timed out after ${secs}s"
	tally "$name" $rc "$out"
}

for g in $groups; do
	case $g in
	unit)
		for b in build build-asan; do
			for t in "$b"/tests/unit/*; do
				[ -x "$t" ] || continue
				run "unit/$(basename "$t") ($b)" 300 "$t"
			done
		done
		;;
	state)
		for b in build build-asan; do
			export CR_CHECKPOINT=$top/$b/bin/cr_checkpoint CR_RESTART=$top/$b/bin/cr_restart
			for t in build/tests/state/*; do
				[ -x "$t" ] || continue
				n=$(basename "$t")
				# Every one also runs restarted in a new pid namespace (--pidns).
				modes="continue restart cycles pidns"
				# Tests that do not compare pids or tids with saved ones also
				# run at new ids.
				case " $NEWPID_TESTS " in *" $n "*) modes="$modes newpid" ;; esac
				# Tests of process trees are checkpointed whole (-T).
				scope=
				case " $TREE_TESTS " in *" $n "*) scope=-T ;; esac
				for m in $modes; do
					run "state/$n $m ($b)" 120 build/tests/ct_run $scope -m "$m" "$n [$b]" "$t"
				done
				# And through a directory of contexts, one file per process (-d).
				if [ -n "$scope" ]; then
					run "state/$n cycles -D ($b)" 120 build/tests/ct_run $scope -D -m cycles \
						"$n -D [$b]" "$t"
				fi
			done
		done
		;;
	cli | fail)
		for b in build build-asan; do
			for t in tests/$g/*.sh; do
				[ -f "$t" ] || continue
				run "$g/$(basename "$t" .sh) ($b)" 300 env BIN="$top/$b/bin" \
					TBIN="$top/build/tests" bash "$t"
			done
		done
		;;
	libcr)
		# libcr, cr_run and their programs (tests/libcr/run.sh), with each build's
		# tools; the programs and libraries are the plain ones.
		for b in build build-asan; do
			for t in build/tests/libcr/* tests/libcr/*.sh; do
				n=$(basename "$t" .sh)
				case $n in run | plain_target) continue ;; esac
				[ -f "$t" ] || continue
				run "libcr/$n ($b)" 300 env BIN="$top/$b/bin" TBIN="$top/build/tests" \
					LIB="$top/build/lib" bash tests/libcr/run.sh "$n"
			done
		done
		;;
	fuzz)
		if [ -x tests/fuzz/run.sh ]; then
			run "fuzz/context_load" 600 tests/fuzz/run.sh
		fi
		;;
	*)
		echo "unknown group $g" >&2
		exit 2
		;;
	esac
done

if [ ${#failures[@]} -gt 0 ]; then
	echo
	echo "Failures:"
	printf '  %s\n' "${failures[@]}"
fi
echo "$passed passed, $failed failed"
[ $failed = 0 ]
