#!/usr/bin/env bash
# test_merge_gguf.sh BINARY TESTDATA - `mergeguard merge CONFIG OUT_DIR --gguf
# OUT.gguf [--outtype T]`: the HF folder and the GGUF written by one command,
# the GGUF byte for byte what `export-gguf OUT_DIR` writes; bad --outtype, an
# existing GGUF without --force, a missing GGUF folder and an architecture GGUF
# or tokenizer GGUF cannot express refused before merging (exit 2, nothing
# written).
. "$(dirname "$0")/lib/testlib.sh"
BIN=$1
DATA=$(cd "$2" && pwd)
nothing_written() { # WHAT PATH...: none of the paths exist, no temporaries
    local what=$1
    shift
    for p in "$@"; do [ ! -e "$p" ] && ok || fail "$what: $p was written"; done
    if ls -A "$TMP" | grep -q '\.tmp'; then fail "$what: temporary left: $(ls -A "$TMP")"; else ok; fi
}

CFG=$DATA/merge/ties.yml
cat >"$TMP/linear.yml" <<EOF
merge_method: linear
models:
  - model: $DATA/gendata/gen
    parameters: {weight: 0.7}
  - model: $DATA/gendata/refuser
    parameters: {weight: 0.3}
dtype: float32
out_dtype: bfloat16
EOF

# 1. Default outtype (f16): both outputs, GGUF identical to export-gguf's.
"$BIN" merge "$CFG" "$TMP/ties" --gguf "$TMP/ties.gguf" -q 2>"$TMP/e"
check '[ $? -eq 0 ]' || cat "$TMP/e"
check '[ -s "$TMP/ties/config.json" ] && [ -s "$TMP/ties.gguf" ]'
"$BIN" export-gguf "$TMP/ties" "$TMP/ties-export.gguf" -q 2>/dev/null
check 'cmp -s "$TMP/ties.gguf" "$TMP/ties-export.gguf"'
"$BIN" inspect "$TMP/ties.gguf" >"$TMP/i" 2>&1
check 'grep -q "general.file_type  *UINT32   1$" "$TMP/i"'
check 'grep -q "general.name  *STRING   \"ties\"" "$TMP/i"'

# 2. A tokenizer-carrying merge in q8_0 (and --json keeps its one summary object).
"$BIN" merge "$TMP/linear.yml" "$TMP/lin" --gguf "$TMP/lin.gguf" --outtype q8_0 --json -q \
    >"$TMP/o" 2>"$TMP/e"
check '[ $? -eq 0 ]' || cat "$TMP/e"
check 'python3 -c "import json,sys; json.load(open(sys.argv[1]))" "$TMP/o"'
# The summary names the GGUF: path, type and size on disk.
check 'python3 -c "
import json, os, sys
s = json.load(open(sys.argv[1]))
g = s[\"gguf\"]
assert g[\"path\"] == sys.argv[2] and g[\"outtype\"] == \"q8_0\", g
assert g[\"bytes\"] == os.path.getsize(sys.argv[2]), g
assert s[\"output\"] == sys.argv[3] and s[\"method\"] == \"linear\", s
" "$TMP/o" "$TMP/lin.gguf" "$TMP/lin"'
"$BIN" export-gguf "$TMP/lin" "$TMP/lin-export.gguf" --outtype q8_0 -q 2>/dev/null
check 'cmp -s "$TMP/lin.gguf" "$TMP/lin-export.gguf"'
"$BIN" inspect "$TMP/lin.gguf" >"$TMP/i" 2>&1
check 'grep -q "tokenizer.ggml.model  *STRING   \"gpt2\"" "$TMP/i" && grep -q " Q8_0 " "$TMP/i"'
check 'grep -q "general.file_type  *UINT32   7$" "$TMP/i"'

# A path with a quote and a backslash stays valid JSON; no --gguf, no "gguf" key.
"$BIN" merge "$TMP/linear.yml" "$TMP/q\"uo\\te" --json -q >"$TMP/o" 2>"$TMP/e"
check 'python3 -c "
import json, sys
s = json.load(open(sys.argv[1]))
assert s[\"output\"] == sys.argv[2] and \"gguf\" not in s, s
" "$TMP/o" "$TMP/q\"uo\\te"'

# 3. The GGUF inside OUT_DIR itself.
"$BIN" merge "$CFG" "$TMP/in" --gguf "$TMP/in/model.gguf" --outtype bf16 -q 2>"$TMP/e"
check '[ $? -eq 0 ] && [ -s "$TMP/in/model.gguf" ] && [ -s "$TMP/in/config.json" ]'
"$BIN" export-gguf "$TMP/in" "$TMP/in-export.gguf" --outtype bf16 -q 2>/dev/null
check 'cmp -s "$TMP/in/model.gguf" "$TMP/in-export.gguf"'

# 4. Bad --outtype / --outtype without --gguf: usage errors, nothing written.
"$BIN" merge "$CFG" "$TMP/x" --gguf "$TMP/x.gguf" --outtype q4_0 2>"$TMP/e"
check '[ $? -eq 2 ] && grep -q "outtype" "$TMP/e" && [ $(wc -l <"$TMP/e") -eq 1 ]'
nothing_written "bad --outtype" "$TMP/x" "$TMP/x.gguf"
"$BIN" merge "$CFG" "$TMP/x" --outtype q8_0 2>"$TMP/e"
check '[ $? -eq 2 ] && grep -q -- "--gguf" "$TMP/e"'
nothing_written "--outtype alone" "$TMP/x" "$TMP/x.gguf"
"$BIN" merge "$CFG" "$TMP/x" --gguf 2>/dev/null
check '[ $? -eq 2 ]'
nothing_written "--gguf without a value" "$TMP/x"

# 5. An existing GGUF: refused before the merge runs (no OUT_DIR, file kept);
#    --force replaces it.
echo old >"$TMP/old.gguf"
"$BIN" merge "$CFG" "$TMP/x" --gguf "$TMP/old.gguf" 2>"$TMP/e"
check '[ $? -eq 2 ] && grep -q "already exists" "$TMP/e" && [ $(wc -l <"$TMP/e") -eq 1 ]'
check '[ "$(cat "$TMP/old.gguf")" = old ]'
nothing_written "existing GGUF" "$TMP/x"
"$BIN" merge "$CFG" "$TMP/x" --gguf "$TMP/old.gguf" --force -q 2>"$TMP/e"
check '[ $? -eq 0 ]' || cat "$TMP/e"
"$BIN" export-gguf "$TMP/x" "$TMP/x-export.gguf" -q 2>/dev/null
check 'cmp -s "$TMP/old.gguf" "$TMP/x-export.gguf"'

# 6. The GGUF's folder does not exist, or the GGUF is OUT_DIR: refused before merging.
"$BIN" merge "$CFG" "$TMP/y" --gguf "$TMP/nowhere/y.gguf" 2>"$TMP/e"
check '[ $? -eq 2 ] && grep -q "does not exist" "$TMP/e"'
nothing_written "missing GGUF folder" "$TMP/y" "$TMP/nowhere"
"$BIN" merge "$CFG" "$TMP/y" --gguf "$TMP/y/" 2>"$TMP/e"
check '[ $? -eq 2 ]'
nothing_written "GGUF is OUT_DIR" "$TMP/y"

# 7. An architecture GGUF export does not support: refused before merging.
for m in a b; do
    mkdir -p "$TMP/gpt2-$m"
    sed 's/LlamaForCausalLM/GPT2LMHeadModel/' "$DATA/golden/tiny-llama/config.json" \
        >"$TMP/gpt2-$m/config.json"
    ln -s "$DATA/golden/tiny-llama/model.safetensors" "$TMP/gpt2-$m/model.safetensors"
done
printf 'merge_method: linear\nmodels:\n  - model: %s\n    parameters: {weight: 0.5}\n  - model: %s\n    parameters: {weight: 0.5}\n' \
    "$TMP/gpt2-a" "$TMP/gpt2-b" >"$TMP/gpt2.yml"
"$BIN" merge "$TMP/gpt2.yml" "$TMP/g2" -q 2>"$TMP/e"
if [ $? -eq 0 ]; then # the merge itself accepts it: --gguf must refuse it up front
    "$BIN" merge "$TMP/gpt2.yml" "$TMP/g3" --gguf "$TMP/g3.gguf" 2>"$TMP/e"
    check '[ $? -eq 2 ] && grep -q "GPT2LMHeadModel" "$TMP/e"'
    nothing_written "unsupported architecture" "$TMP/g3" "$TMP/g3.gguf"
else
    echo "note: merge refuses GPT2LMHeadModel itself: $(cat "$TMP/e")"
fi

# 8. A tokenizer GGUF cannot express: refused before merging, through the
#    exporter's own tokenizer loader.
for m in a b; do
    mkdir -p "$TMP/uni-$m"
    cp "$DATA/golden/tiny-llama/config.json" "$TMP/uni-$m/"
    ln -s "$DATA/golden/tiny-llama/model.safetensors" "$TMP/uni-$m/model.safetensors"
    echo '{"model":{"type":"Unigram","unk_id":0,"vocab":[["<unk>",0.0]]}}' >"$TMP/uni-$m/tokenizer.json"
done
printf 'merge_method: linear\nmodels:\n  - model: %s\n    parameters: {weight: 0.5}\n  - model: %s\n    parameters: {weight: 0.5}\n' \
    "$TMP/uni-a" "$TMP/uni-b" >"$TMP/uni.yml"
"$BIN" merge "$TMP/uni.yml" "$TMP/u" --gguf "$TMP/u.gguf" -q 2>"$TMP/e"
check '[ $? -eq 2 ] && grep -q "nothing was merged" "$TMP/e" && grep -q Unigram "$TMP/e"'
nothing_written "unigram tokenizer" "$TMP/u" "$TMP/u.gguf"
# The same merge without --gguf is fine (only GGUF cannot express the tokenizer).
"$BIN" merge "$TMP/uni.yml" "$TMP/u" -q 2>"$TMP/e"
check '[ $? -eq 0 ] && [ -s "$TMP/u/config.json" ]'
"$BIN" merge "$TMP/uni.yml" "$TMP/u2" --gguf "$TMP/u2.gguf" --dry-run >/dev/null 2>"$TMP/e"
check '[ $? -eq 2 ] && grep -q Unigram "$TMP/e"' "dry run with --gguf checks the tokenizer"

# 9. --dry-run with --gguf validates and writes nothing.
"$BIN" merge "$CFG" "$TMP/d" --gguf "$TMP/d.gguf" --dry-run >/dev/null 2>&1
check '[ $? -eq 0 ]'
nothing_written "dry run" "$TMP/d" "$TMP/d.gguf"
"$BIN" merge --help | grep -q -- "--gguf OUT.gguf"
check '[ $? -eq 0 ]'

summary
