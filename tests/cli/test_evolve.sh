#!/usr/bin/env bash
# test_evolve.sh BINARY TESTDATA - `mergeguard evolve`, `cocktail` and `grid`
# --help exits 0. (Bad command lines and configs: tests/bad/cli_usage and
# tests/bad/evolve_yaml; end-to-end runs, resume and MPI:
# tests/search/test_evolve.c.)
. "$(dirname "$0")/lib/testlib.sh"
BIN=$1
DATA=$2

for c in evolve cocktail grid; do
    expect_exit 0 "usage: mergeguard $c" $c --help
done
summary
