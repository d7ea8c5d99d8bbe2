#!/usr/bin/env bash
# A script checkpoints its own tree (cr_checkpoint --tree $$, as BLCR's tests do):
# cr_checkpoint leaves its worker out, the script is saved while it waits, and after
# a restart it carries on as if cr_checkpoint had returned 0. Env: BIN (tools).
set -u
work=$(mktemp -d /tmp/crest-selftree.XXXXXX)
cd "$work" || exit 2
trap 'rm -rf "$work"' EXIT
fails=0
pass() { echo "PASS selftree/$1"; }
fail() { echo "FAIL selftree/$1: $2"; fails=$((fails + 1)); }

cat >job.sh <<'JOB'
#!/bin/bash
for i in 1 2 3; do echo "step $i" >> log; done
"$BIN/cr_checkpoint" --tree --kill -f ctx $$
echo "checkpoint said $?" >> log
for i in 4 5 6; do echo "step $i" >> log; done
exit 5
JOB
chmod +x job.sh

timeout 60 env BIN="$BIN" ./job.sh >out 2>&1
rc=$?
[ $rc = 137 ] && pass "killed-by-its-own-checkpoint" ||
	fail "killed-by-its-own-checkpoint" "job exited $rc, not 137 (SIGKILL): $(cat out)"
[ "$(cat log)" = "$(printf 'step 1\nstep 2\nstep 3')" ] && pass "log-before" ||
	fail "log-before" "$(tr '\n' '|' <log)"
"$BIN/cr_info" ctx >info 2>&1 && [ "$(grep -c '^  - process' info)" = 2 ] &&
	pass "two-processes-saved" || fail "two-processes-saved" "$(head -c 300 info)"

timeout 60 env BIN="$BIN" "$BIN/cr_restart" ctx >rout 2>&1
rc=$?
[ $rc = 5 ] && pass "restart-exits-as-the-job" ||
	fail "restart-exits-as-the-job" "cr_restart exited $rc, not 5: $(cat rout)"
want=$(printf 'step 1\nstep 2\nstep 3\ncheckpoint said 0\nstep 4\nstep 5\nstep 6')
[ "$(cat log)" = "$want" ] && pass "job-goes-on-after-restart" ||
	fail "job-goes-on-after-restart" "$(tr '\n' '|' <log)"
[ $fails = 0 ]
