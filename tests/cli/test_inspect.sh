#!/usr/bin/env bash
# test_inspect.sh BINARY TESTDATA - `mergeguard inspect` on the golden fixtures
# (the malformed corpus runs in tests/bad/test_bad.c).
. "$(dirname "$0")/lib/testlib.sh"
BIN=$1
DATA=$2

expect_in() { # FILE NEEDLE WHAT
    if grep -qF -- "$2" "$1"; then ok; else fail "$3: '$2' not in output:"; head -5 "$1"; fi
}

# ---- the golden fixtures ----
declare -A PARAMS=([tiny-llama]=151,872 [tiny-llama3]=119,104 [tiny-qwen2]=119,360 [tiny-qwen3]=151,936)
declare -A ARCH=([tiny-llama]=LlamaForCausalLM [tiny-llama3]=LlamaForCausalLM
                 [tiny-qwen2]=Qwen2ForCausalLM [tiny-qwen3]=Qwen3ForCausalLM)
for m in tiny-llama tiny-llama3 tiny-qwen2 tiny-qwen3; do
    dir=$DATA/golden/$m
    "$BIN" inspect "$dir" >"$TMP/out" 2>"$TMP/err"; rc=$?
    [ $rc -eq 0 ] && ok || fail "$m: exit $rc: $(cat "$TMP/err")"
    expect_in "$TMP/out" "parameters    ${PARAMS[$m]} " "$m params"
    expect_in "$TMP/out" "architecture  ${ARCH[$m]}" "$m arch"
    expect_in "$TMP/out" "model.embed_tokens.weight" "$m table"
    expect_in "$TMP/out" "heads 4 (KV 2, head_dim 16)" "$m dims"
    "$BIN" inspect "$dir" --json >"$TMP/json" 2>"$TMP/err"; rc=$?
    [ $rc -eq 0 ] && ok || fail "$m --json: exit $rc"
    expect_in "$TMP/json" "\"parameters\": ${PARAMS[$m]//,/}," "$m json params"
    expect_in "$TMP/json" "\"architecture\": \"${ARCH[$m]}\"" "$m json arch"
    # --stats: same numbers whatever the thread count (fixed-chunk reductions).
    "$BIN" inspect "$dir" --stats -q --threads 1 >"$TMP/s1" 2>"$TMP/err"; rc=$?
    [ $rc -eq 0 ] && ok || fail "$m --stats: exit $rc"
    "$BIN" inspect "$dir" --stats -q --threads 2 >"$TMP/s2" 2>/dev/null
    cmp -s "$TMP/s1" "$TMP/s2" && ok || fail "$m: --stats differs between 1 and 2 threads"
    expect_in "$TMP/s1" "mean" "$m stats header"
    "$BIN" inspect "$dir" --stats --json -q >"$TMP/sj" 2>/dev/null
    expect_in "$TMP/sj" "\"nan\": 0" "$m json stats"
    [ ! -s "$TMP/err" ] && ok || fail "$m: -q still printed: $(cat "$TMP/err")"
done
"$BIN" inspect "$DATA/golden/tiny-llama/model.safetensors" >"$TMP/out" 2>&1 \
    && ok || fail "single file: exit $?"
expect_in "$TMP/out" "no config.json" "single file"

# ---- usage ----
"$BIN" inspect --help >"$TMP/out" && ok || fail "--help exit"
expect_in "$TMP/out" "usage: mergeguard inspect PATH" "--help text"
"$BIN" inspect >/dev/null 2>&1; [ $? -eq 2 ] && ok || fail "no PATH: exit not 2"
"$BIN" inspect "$DATA/golden/tiny-llama" --bogus >/dev/null 2>&1; [ $? -eq 2 ] && ok || fail "bad option"
"$BIN" inspect "$DATA/golden/tiny-llama" --threads 0 >/dev/null 2>&1; [ $? -eq 2 ] && ok || fail "--threads 0"
"$BIN" inspect "$DATA/no-such-model" >/dev/null 2>&1; [ $? -eq 2 ] && ok || fail "missing path"

summary
