#!/usr/bin/env bash
# test_evolve.sh BINARY TESTDATA - usage errors of `mergeguard evolve`, `cocktail`
# and `grid`: --help exits 0, bad command lines and bad configs exit 2 with one
# line naming the problem, and no output folder appears. (The end-to-end runs,
# resume and MPI are in tests/search/test_evolve.c.)
set -u
BIN=$1
DATA=$2
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fails=0
pass=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { pass=$((pass + 1)); }

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
printf '{"prompt": "a", "response": "b", "type": "alignment"}\n' >"$TMP/d.jsonl"
M=$DATA/golden/tiny-llama
expect_exit 2 "missing --data" evolve "$TMP/none.yml" -o "$TMP/o"
expect_exit 2 "missing -o" evolve "$TMP/none.yml" --data "$TMP/d.jsonl"
expect_exit 2 "--max-fevals expects" evolve x.yml --data d -o o --max-fevals 0
expect_exit 2 "exclude" evolve x.yml --data d -o o --resume --force
expect_exit 2 "none.yml" evolve "$TMP/none.yml" --data "$TMP/d.jsonl" -o "$TMP/o"
printf 'genome:\n  models: [%s]\n  merge_method: breadcrumbs\n' "$M" >"$TMP/bad.yml"
expect_exit 2 "breadcrumbs" evolve "$TMP/bad.yml" --data "$TMP/d.jsonl" -o "$TMP/o"
printf 'genome:\n  models: [%s]\n  merge_method: ties\n' "$M" >"$TMP/nobase.yml"
expect_exit 2 "base_model" evolve "$TMP/nobase.yml" --data "$TMP/d.jsonl" -o "$TMP/o"
printf 'genome:\n  models: [%s]\n  merge_method: linear\n  layer_granularity: 3\n' "$M" >"$TMP/g.yml"
expect_exit 2 "does not divide" evolve "$TMP/g.yml" --data "$TMP/d.jsonl" -o "$TMP/o"
[ -e "$TMP/o" ] && fail "evolve left $TMP/o behind" || ok
expect_exit 2 "at least two" cocktail --models "$M" --data "$TMP/d.jsonl"
expect_exit 2 "--temperature" cocktail --models "$M" "$M" --data "$TMP/d.jsonl" --temperature 0
expect_exit 2 "--param expects" grid x.yml --param weight --data d
expect_exit 2 "at least one --param" grid x.yml --data d

echo "tests: $pass passed, $fails failed"
[ $fails -eq 0 ]
