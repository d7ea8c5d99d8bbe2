#!/usr/bin/env bash
# Install what the tests need, build everything (plain and sanitizer builds, warnings
# as errors), and run every test. Ends with "N passed, N failed".
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh --test
make -j"$(nproc)" WERROR=1 all test-progs
make -j"$(nproc)" WERROR=1 SAN=1 all test-progs
exec tests/run-tests.sh
