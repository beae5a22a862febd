#!/usr/bin/env bash
# test_gguf.sh BINARY TESTDATA - `mergeguard export-gguf` on the golden
# fixtures in every --outtype, `mergeguard inspect FILE.gguf`, and bad input:
# exit 2, one error line, no output file and no temporary left behind.
. "$(dirname "$0")/lib/testlib.sh"
BIN=$1
DATA=$2
expect_in() { # FILE NEEDLE WHAT
    if grep -qF -- "$2" "$1"; then ok; else fail "$3: '$2' not in output:"; head -5 "$1"; fi
}
no_tmp() { # no hidden temporaries next to the outputs
    if ls -A "$TMP" | grep -q '\.tmp'; then fail "$1: temporary left: $(ls -A "$TMP")"; else ok; fi
}

declare -A ARCH=([tiny-llama]=llama [tiny-llama3]=llama [tiny-qwen2]=qwen2 [tiny-qwen3]=qwen3)
declare -A NT=([tiny-llama]=21 [tiny-llama3]=21 [tiny-qwen2]=26 [tiny-qwen3]=25)
for m in tiny-llama tiny-llama3 tiny-qwen2 tiny-qwen3; do
    for t in f32 f16 bf16 q8_0; do
        out=$TMP/$m-$t.gguf
        "$BIN" export-gguf "$DATA/golden/$m" "$out" --outtype $t -q >"$TMP/o" 2>"$TMP/e"; rc=$?
        [ $rc -eq 0 ] && ok || fail "$m $t: exit $rc: $(cat "$TMP/e")"
        "$BIN" inspect "$out" >"$TMP/i" 2>"$TMP/e"; rc=$?
        [ $rc -eq 0 ] && ok || fail "$m $t inspect: exit $rc: $(cat "$TMP/e")"
        expect_in "$TMP/i" "general.architecture                         STRING   \"${ARCH[$m]}\"" "$m arch"
        expect_in "$TMP/i" "${ARCH[$m]}.block_count                            UINT32   2" "$m block_count"
        expect_in "$TMP/i" "tensors       ${NT[$m]} " "$m tensor count"
        expect_in "$TMP/i" "blk.1.ffn_down.weight" "$m tensor table"
    done
done
expect_in "$TMP/i" "Q8_0" "q8_0 tensors"
"$BIN" inspect "$TMP/tiny-llama3-f32.gguf" >"$TMP/i" 2>&1
expect_in "$TMP/i" "rope_freqs.weight" "llama3 rope_freqs"
if grep -q "^  output.weight " "$TMP/i"; then fail "tied llama3 has output.weight"; else ok; fi

# Existing output: refused without --force (exit 2, file untouched), replaced with it.
echo old >"$TMP/x.gguf"
"$BIN" export-gguf "$DATA/golden/tiny-qwen2" "$TMP/x.gguf" -q >/dev/null 2>"$TMP/e"; rc=$?
[ $rc -eq 2 ] && ok || fail "existing output: exit $rc"
expect_in "$TMP/e" "exists" "existing output message"
[ "$(cat "$TMP/x.gguf")" = old ] && ok || fail "existing output was modified"
"$BIN" export-gguf "$DATA/golden/tiny-qwen2" "$TMP/x.gguf" --force -q 2>"$TMP/e" && ok || fail "--force: $(cat "$TMP/e")"
"$BIN" inspect "$TMP/x.gguf" >/dev/null 2>&1 && ok || fail "--force output unreadable"

# Unsupported architecture.
mkdir -p "$TMP/gpt2"
sed 's/LlamaForCausalLM/GPT2LMHeadModel/' "$DATA/golden/tiny-llama/config.json" >"$TMP/gpt2/config.json"
ln -s "$DATA/golden/tiny-llama/model.safetensors" "$TMP/gpt2/model.safetensors"
"$BIN" export-gguf "$TMP/gpt2" "$TMP/gpt2.gguf" >/dev/null 2>"$TMP/e"; rc=$?
[ $rc -eq 2 ] && ok || fail "unsupported arch: exit $rc"
expect_in "$TMP/e" "GPT2LMHeadModel" "unsupported arch message"
[ $(wc -l <"$TMP/e") -eq 1 ] && ok || fail "unsupported arch: more than one stderr line"
[ ! -e "$TMP/gpt2.gguf" ] && ok || fail "unsupported arch left a file"

# A tokenizer model GGUF cannot express.
mkdir -p "$TMP/uni"
cp "$DATA/golden/tiny-llama/config.json" "$TMP/uni/"
ln -s "$DATA/golden/tiny-llama/model.safetensors" "$TMP/uni/model.safetensors"
echo '{"model":{"type":"Unigram","unk_id":0,"vocab":[["<unk>",0.0]]}}' >"$TMP/uni/tokenizer.json"
"$BIN" export-gguf "$TMP/uni" "$TMP/uni.gguf" >/dev/null 2>"$TMP/e"; rc=$?
[ $rc -eq 2 ] && ok || fail "unigram: exit $rc"
expect_in "$TMP/e" "Unigram" "unigram message"
[ ! -e "$TMP/uni.gguf" ] && ok || fail "unigram left a file"

# Usage errors and a malformed GGUF.
"$BIN" export-gguf "$DATA/golden/tiny-llama" "$TMP/y.gguf" --outtype q4_0 >/dev/null 2>&1; rc=$?
[ $rc -eq 2 ] && ok || fail "bad --outtype: exit $rc"
"$BIN" export-gguf "$DATA/golden/tiny-llama" >/dev/null 2>&1; rc=$?
[ $rc -eq 2 ] && ok || fail "missing OUT: exit $rc"
head -c 100 "$TMP/tiny-qwen3-f32.gguf" >"$TMP/trunc.gguf"
"$BIN" inspect "$TMP/trunc.gguf" >"$TMP/o" 2>"$TMP/e"; rc=$?
[ $rc -eq 2 ] && ok || fail "truncated gguf: exit $rc"
[ ! -s "$TMP/o" ] && ok || fail "truncated gguf printed output"
"$BIN" inspect "$TMP/trunc.gguf" --json >"$TMP/o" 2>"$TMP/e"; rc=$?
[ $rc -eq 2 ] && [ ! -s "$TMP/o" ] && ok || fail "truncated gguf --json: exit $rc"
"$BIN" export-gguf --help | grep -q "outtype" && ok || fail "--help"

# inspect FILE.gguf --json [--stats]: the safetensors inspect fields (path,
# parameters, tensor_count, dtypes, tensors with name/dtype/shape/bytes/stats)
# plus the GGUF ones; stats of an f32 export equal the safetensors stats of the
# same (unpermuted qwen2) weights, tensor for tensor.
"$BIN" inspect "$DATA/golden/tiny-qwen2" --json --stats >"$TMP/st.json" 2>/dev/null
"$BIN" inspect "$TMP/tiny-qwen2-f32.gguf" --json --stats >"$TMP/g.json" 2>/dev/null && ok || fail "inspect gguf --json --stats"
"$BIN" inspect "$TMP/tiny-llama-q8_0.gguf" --json >"$TMP/q.json" 2>/dev/null && ok || fail "inspect gguf --json"
"$BIN" inspect "$TMP/tiny-llama-q8_0.gguf" --stats >"$TMP/qs.txt" 2>/dev/null && ok || fail "inspect gguf --stats"
expect_in "$TMP/qs.txt" "mean" "text --stats columns"
python3 - "$TMP/st.json" "$TMP/g.json" "$TMP/q.json" <<'EOF2'
import json, sys
st, g, q = (json.load(open(p)) for p in sys.argv[1:4])
errs = []
for k in ["path", "parameters", "tensor_count", "dtypes", "tensors", "format", "version",
          "alignment", "data_offset", "bytes", "architecture", "metadata"]:
    if k not in g: errs.append("missing " + k)
if g.get("format") != "gguf" or g.get("version") != 3 or g.get("architecture") != "qwen2":
    errs.append("header fields %r" % [g.get("format"), g.get("version"), g.get("architecture")])
if g["parameters"] != st["parameters"] or g["tensor_count"] != st["tensor_count"]:
    errs.append("parameters/tensor_count %r vs %r" % ((g["parameters"], g["tensor_count"]),
                                                     (st["parameters"], st["tensor_count"])))
if list(g["dtypes"]) != ["F32"] or g["dtypes"]["F32"]["parameters"] != g["parameters"]:
    errs.append("dtypes %r" % g["dtypes"])
md = g["metadata"]
if md["qwen2.block_count"] != {"type": "UINT32", "value": 2}:
    errs.append("block_count %r" % md["qwen2.block_count"])
if md["qwen2.rope.freq_base"]["type"] != "FLOAT32": errs.append("freq_base type")
for t in g["tensors"]:
    if t["shape"] != t["ne"][::-1]: errs.append(t["name"] + ": shape is not ne reversed")
    if set(t) != {"name", "dtype", "shape", "ne", "offset", "bytes", "stats"}:
        errs.append(t["name"] + ": fields %r" % sorted(t))
key = lambda t: (t["shape"], t["stats"]["mean"], t["stats"]["std"], t["stats"]["min"], t["stats"]["max"])
a = sorted(map(key, st["tensors"])); b = sorted(map(key, g["tensors"]))
if a != b: errs.append("stats differ from the safetensors ones")
ql = q["metadata"]
if q["dtypes"].get("Q8_0", {}).get("tensors", 0) == 0: errs.append("no Q8_0 in q8_0 export")
if ql["general.file_type"]["value"] != 7: errs.append("file_type")
tok = ql["tokenizer.ggml.model"]
if tok != {"type": "STRING", "value": "none"}: errs.append("tokenizer model %r" % tok)
if "stats" in q["tensors"][0]: errs.append("stats without --stats")
for e in errs: print("FAIL:", e)
sys.exit(1 if errs else 0)
EOF2
[ $? -eq 0 ] && ok || fail "inspect gguf --json parity"
# GGUF strings need not be UTF-8; the JSON stays valid (U+FFFD).
python3 -c "
import sys
b = open(sys.argv[1], 'rb').read()
open(sys.argv[2], 'wb').write(b.replace(b'tiny-qwen2', b'tiny-qwen\xff', 1))" \
    "$TMP/tiny-qwen2-f32.gguf" "$TMP/utf.gguf"
"$BIN" inspect "$TMP/utf.gguf" --json >"$TMP/u.json" 2>"$TMP/e" && ok || fail "non-UTF-8 name: $(cat "$TMP/e")"
python3 -c "
import json, sys
sys.exit(0 if json.load(open(sys.argv[1]))['metadata']['general.name']['value'] == 'tiny-qwen\ufffd' else 1)" \
    "$TMP/u.json" && ok || fail "non-UTF-8 name not replaced by U+FFFD"
no_tmp "end"

summary
