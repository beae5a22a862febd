#!/usr/bin/env bash
# test_nn_logits.sh BINARY TESTDATA - `mergeguard logits` against the golden
# llama.cpp logits of the tiny-* fixtures (-o raw float32, compared within the
# golden README's tolerance), its text and JSON output, and bad input (exit 2,
# one line on stderr, nothing on stdout, no output file).
. "$(dirname "$0")/lib/testlib.sh"
BIN=$1
DATA=$2

# max |a-b| - (1e-4 + 1e-4|b|) over two float32 files; prints "ok" or the worst.
compare_f32() {
    paste <(od -An -v -f -w4 "$1") <(od -An -v -f -w4 "$2") | awk '
        { d = $1 - $2; if (d < 0) d = -d; b = $2 < 0 ? -$2 : $2; n++
          if (d > 1e-4 + 1e-4 * b) { bad++; if (d > worst) worst = d } }
        END { if (n == 0) print "empty"; else if (bad) print "worst " worst; else print "ok" }'
}

for m in tiny-llama tiny-llama3 tiny-qwen2 tiny-qwen3; do
    dir=$DATA/golden/$m
    # The 64-token sequence is the 4th "tokens" list of golden.json.
    ids=$(grep '"tokens"' "$dir/golden.json" | sed -n 4p | sed 's/.*\[//; s/\].*//')
    "$BIN" logits "$dir" --ids "$ids" -o "$TMP/$m.f32" 2>"$TMP/err"; rc=$?
    [ $rc -eq 0 ] && ok || fail "$m: exit $rc: $(cat "$TMP/err")"
    [ "$(stat -c %s "$TMP/$m.f32" 2>/dev/null)" = $((64 * 512 * 4)) ] && ok || fail "$m: size"
    r=$(compare_f32 "$TMP/$m.f32" "$dir/logits_2.f32")
    [ "$r" = ok ] && ok || fail "$m: logits vs golden: $r"
    # Same bits with one thread.
    "$BIN" logits "$dir" --ids "$ids" -o "$TMP/$m.t1.f32" --threads 1 2>/dev/null
    cmp -s "$TMP/$m.f32" "$TMP/$m.t1.f32" && ok || fail "$m: --threads 1 differs"
    # Existing output needs --force.
    "$BIN" logits "$dir" --ids "1 2" -o "$TMP/$m.f32" 2>"$TMP/err"; rc=$?
    [ $rc -eq 2 ] && ok || fail "$m: overwrite without --force: exit $rc"
    "$BIN" logits "$dir" --ids "1 2" -o "$TMP/$m.f32" --force 2>/dev/null && ok || fail "$m: --force"
    [ "$(stat -c %s "$TMP/$m.f32")" = $((2 * 512 * 4)) ] && ok || fail "$m: --force size"
done

dir=$DATA/golden/tiny-llama
"$BIN" logits "$dir" --ids "424 336 45" --top 3 >"$TMP/out" 2>"$TMP/err" && ok || fail "text: $(cat "$TMP/err")"
[ "$(wc -l <"$TMP/out")" -eq 3 ] && ok || fail "text: expected 3 lines"
grep -q "^pos 2  token 45 " "$TMP/out" && ok || fail "text: row format"
"$BIN" logits "$dir" --ids "1,2" --json >"$TMP/json" 2>/dev/null && ok || fail "json exit"
grep -q '"vocab":512' "$TMP/json" && grep -q '"ids":\[1,2\]' "$TMP/json" && ok || fail "json content"

# Bad input: exit 2, one stderr line, empty stdout.
bad() { # NEEDLE ARGS...
    local needle=$1; shift
    "$BIN" logits "$@" >"$TMP/out" 2>"$TMP/err"; local rc=$?
    [ $rc -eq 2 ] && ok || fail "$*: exit $rc, expected 2"
    [ ! -s "$TMP/out" ] && ok || fail "$*: output on stdout"
    [ "$(wc -l <"$TMP/err")" -eq 1 ] && ok || fail "$*: expected one stderr line"
    grep -qF -- "$needle" "$TMP/err" && ok || fail "$*: '$needle' not in: $(cat "$TMP/err")"
}
bad "outside the vocabulary" "$dir" --ids "1 512"
bad "context window" "$dir" --ids "$(seq -s ' ' 1 129)"
bad "non-negative integers" "$dir" --ids ""
bad "non-negative integers" "$dir" --ids "1 -2"
bad "missing --ids" "$dir"
bad "missing MODEL" --ids "1"
mkdir -p "$TMP/gpt2"
sed 's/LlamaForCausalLM/GPT2LMHeadModel/' "$dir/config.json" >"$TMP/gpt2/config.json"
ln -s "$(cd "$dir" && pwd)/model.safetensors" "$TMP/gpt2/model.safetensors"
bad "not supported (supported: LlamaForCausalLM" "$TMP/gpt2" --ids "1 2"
mkdir -p "$TMP/short"
sed 's/"num_hidden_layers": 2/"num_hidden_layers": 3/' "$dir/config.json" >"$TMP/short/config.json"
ln -s "$(cd "$dir" && pwd)/model.safetensors" "$TMP/short/model.safetensors"
bad "tensor 'model.layers.2.input_layernorm.weight' [64] is missing" "$TMP/short" --ids "1 2"
"$BIN" logits --help >/dev/null && ok || fail "--help"

summary
