#!/usr/bin/env bash
# A shell pipeline producer | filter | consumer, checkpointed as a tree with data in
# flight in its pipes, killed, and restarted: the consumer's output goes on from where
# it was, with no number lost or repeated. Env: BIN (tools).
set -u
work=$(mktemp -d /tmp/crest-pipeline.XXXXXX)
cd "$work" || exit 2
pids=()
trap 'for p in "${pids[@]}"; do pkill -9 -g "$p" 2>/dev/null; kill -9 "$p" 2>/dev/null; done; rm -rf "$work"' EXIT
fails=0
pass() { echo "PASS pipeline/$1"; }
fail() { echo "FAIL pipeline/$1: $2"; fails=$((fails + 1)); }
lines() { wc -l <out 2>/dev/null || echo 0; }
at_least() { for _ in $(seq 1000); do [ "$(lines)" -ge "$1" ] && return 0; sleep 0.01; done; return 1; }
gone() { for _ in $(seq 1000); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.01; done; return 1; }
# 1..N, one a line, nothing missing, nothing twice.
in_order() { awk 'NR != $1 {bad = 1} END {exit bad}' out; }

# Its own process group, so that everything it started can be found.
setsid bash -c 'i=0; while :; do i=$((i+1)); echo $i; sleep 0.002; done | cat |
	while read -r l; do echo "$l" >> out; done' </dev/null >/dev/null 2>&1 &
job=$!
pids+=("$job")
at_least 50 || fail start "the pipeline did not start"
members=$(ps -e -o pid=,pgid= | awk -v g="$job" '$2 == g {print $1}' | tr '\n' ' ')
"$BIN/cr_checkpoint" --tree --kill -f ctx "$job" 2>err || fail checkpoint "$(cat err)"
n=$("$BIN/cr_info" ctx | grep -c '^  - process')
[ "$n" -ge 4 ] && pass "whole-pipeline-saved" || fail "whole-pipeline-saved" "$n processes"
for p in $members; do gone "$p" || fail checkpoint "pid $p left"; done
before=$(lines)
"$BIN/cr_restart" ctx >/dev/null 2>rerr &
r=$!
pids+=("$r")
if at_least $((before + 100)); then
	pass "goes-on-after-restart"
else
	fail "goes-on-after-restart" "$(lines) lines, $before before ($(cat rerr))"
fi
in_order && pass "nothing-lost-or-repeated" || fail "nothing-lost-or-repeated" \
	"$(awk 'NR != $1 {print NR": "$1; exit}' out)"
pkill -9 -P "$job" 2>/dev/null
kill -9 "$job" 2>/dev/null
wait "$r" 2>/dev/null
[ $fails = 0 ]
