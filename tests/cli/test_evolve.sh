#!/usr/bin/env bash
# test_evolve.sh BINARY TESTDATA - `mergeguard evolve`, `cocktail` and `grid`
# --help exits 0. (Bad command lines and configs: tests/bad/cli_usage and
# tests/bad/evolve_yaml; end-to-end runs, resume and MPI:
# tests/search/test_evolve.c.)
. "$(dirname "$0")/lib/testlib.sh"
BIN=$1
DATA=$2

expect_exit() { # CODE NEEDLE ARGS...
    local code=$1 needle=$2
    shift 2
    "$BIN" "$@" >"$TMP/out" 2>"$TMP/err"
    local rc=$?
    if [ $rc -ne "$code" ]; then fail "$*: exit $rc, expected $code: $(head -3 "$TMP/err")"; return; fi
    if [ -n "$needle" ] && ! grep -qF -- "$needle" "$TMP/err" "$TMP/out"; then
        fail "$*: '$needle' not in output: $(head -3 "$TMP/err")"; return
    fi
    ok
}

for c in evolve cocktail grid; do
    expect_exit 0 "usage: mergeguard $c" $c --help
done
summary
