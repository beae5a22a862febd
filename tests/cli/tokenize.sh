#!/usr/bin/env bash
# CLI test of `mergeguard tokenize` on a small hand-written tokenizer.json
# (no network): ids, pieces, JSON, --no-special, --decode and stdin (bad
# input: tests/bad/tokenizer and tests/bad/cli_usage).
# usage: bash tokenize.sh MERGEGUARD_BINARY TESTDATA_DIR
set -u
bin="$1"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
fail=0
check() { # name expected actual
  if [[ "$2" != "$3" ]]; then echo "FAIL $1: expected [$2], got [$3]"; fail=1; else echo "ok   $1"; fi
}

cat >"$tmp/tokenizer.json" <<'JSON'
{"added_tokens": [{"id": 9, "content": "<s>", "special": true, "normalized": false}],
 "normalizer": {"type": "Sequence", "normalizers": [
   {"type": "Prepend", "prepend": "▁"}, {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},
 "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>"}}, {"Sequence": {"id": "A"}}],
   "special_tokens": {"<s>": {"ids": [9]}}},
 "decoder": {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
   {"type": "ByteFallback"}, {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
 "model": {"type": "BPE", "byte_fallback": true,
   "vocab": {"▁": 0, "h": 1, "i": 2, "▁h": 3, "▁hi": 4, "<s>": 9},
   "merges": ["▁ h", "▁h i"]}}
JSON
echo '{"bos_token": "<s>"}' >"$tmp/tokenizer_config.json"

check ids "9 4 4" "$("$bin" tokenize "$tmp" "hi hi")"
check no-special "4 4" "$("$bin" tokenize "$tmp" "hi hi" --no-special)"
check file-path "4" "$("$bin" tokenize "$tmp/tokenizer.json" "hi" --no-special)"
check pieces "$(printf '9\t"<s>"\n4\t"▁hi"')" "$("$bin" tokenize "$tmp" "hi" --pieces)"
check json '{"ids": [4], "pieces": ["\u2581hi"]}' "$("$bin" tokenize "$tmp" "hi" --json --no-special)"
check stdin "9 4" "$(printf 'hi' | "$bin" tokenize "$tmp" -)"
check decode "<s> hi hi" "$("$bin" tokenize "$tmp" --decode "9 4 4")"
check decode-skip "hi hi" "$("$bin" tokenize "$tmp" --decode "9,4,4" --no-special)"

"$bin" tokenize --help | grep -q "usage: mergeguard tokenize" && echo "ok   help" || { echo "FAIL help"; fail=1; }
exit $fail
