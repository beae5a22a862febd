#!/usr/bin/env bash
# test_kill.sh BINARY TESTDATA - the SIGKILL crash-safety test of merge,
# gen-data and evolve (bench/killtest.sh, which documents every check) with 6
# kill points per command (3 at deterministic kill points, 3 at random times;
# the seed is printed) on small runs. The full run with 40 points per command
# is `bash bench/killtest.sh build/mergeguard tests/data`.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
KILL_GD_N=8 KILL_EV_FEVALS=120 exec bash "$HERE/../../bench/killtest.sh" "$1" "$2" 6 ${KILL_SEED:-}
