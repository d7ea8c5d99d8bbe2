#!/usr/bin/env bash
# The crest demo, from a fresh Debian 12 machine: install what is missing, build,
# then start a counting program, checkpoint it, kill it, and restart it. It carries
# on counting where it stopped, at the same pid, with its log file where it was.
set -eu
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
	echo "The demo needs root (ptrace of any process, pids restored with clone3)." >&2
	exit 1
fi
scripts/deps.sh
make -j"$(nproc)" all build/examples/counter >/dev/null
bin=$PWD/build/bin
work=$(mktemp -d /tmp/crest-demo.XXXXXX)
cd "$work"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "Starting a program that counts"
"$OLDPWD/build/examples/counter" counter.log &
pid=$!
disown "$pid" # no job notices from the shell
trap 'kill -9 $pid 2>/dev/null; kill $rpid 2>/dev/null; true' EXIT
rpid=
sleep 1.2

say "cr_checkpoint --kill $pid: save it to context.$pid, then kill it"
"$bin/cr_checkpoint" --kill -f "context.$pid" "$pid"
for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
kill -0 "$pid" 2>/dev/null || echo "(pid $pid is gone)"
"$bin/cr_info" "context.$pid" | sed -n '1,4p;/^  - process/,/cwd/p'

say "cr_restart context.$pid: it comes back and carries on"
"$bin/cr_restart" "context.$pid" &
rpid=$!
sleep 1.2
kill "$pid"
{ wait "$rpid"; } 2>/dev/null || true

say "counter.log: one unbroken count, before and after the restart"
tail -n 12 counter.log
echo
echo "Done. Files are in $work"
