#!/usr/bin/env bash
# Run one libcr test in a scratch directory:
#
#   tests/libcr/run.sh NAME      NAME: a program of tests/libcr (built in $TBIN/libcr)
#                                 or a script tests/libcr/NAME.sh
#
# Environment: BIN (the tools under test: cr_checkpoint, cr_restart, cr_run), TBIN (the
# test programs' build, e.g. build/tests), LIB (the libraries the programs load). libcr
# finds cr_checkpoint and cr_restart through $CR_CHECKPOINT and $CR_RESTART.
set -u
name=$1
here=$(cd "$(dirname "$0")" && pwd)
scratch=$(mktemp -d "${TMPDIR:-/tmp}/crest-libcr.XXXXXX") || exit 2
trap 'rm -rf "$scratch"' EXIT
export CR_CHECKPOINT=$BIN/cr_checkpoint CR_RESTART=$BIN/cr_restart CR_RUN=$BIN/cr_run
export LD_LIBRARY_PATH=$LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export LT=$TBIN/libcr EX=$TBIN/examples/libcr_reconnect
export LIBCR_DISABLE_NSCD=1
cd "$scratch" || exit 2
if [ -f "$here/$name.sh" ]; then
	bash "$here/$name.sh"
else
	"$TBIN/libcr/$name"
fi
