#!/usr/bin/env bash
# lab.sh - `mergeguard lab world` and `lab tokenizer` end to end: outputs,
# determinism across runs, and exit codes on bad input.
set -u
BIN="$1"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
check() { if ! eval "$1"; then echo "FAIL: $1"; fail=1; fi; }

"$BIN" lab world "$T/w1" --size tiny --seed 4 -q; check '[ $? -eq 0 ]'
"$BIN" lab world "$T/w2" --size tiny --seed 4 -q; check '[ $? -eq 0 ]'
check 'diff -r "$T/w1" "$T/w2" >/dev/null'
check '[ -s "$T/w1/manifest.json" ] && [ -s "$T/w1/eval/safety.test.jsonl" ] && [ -s "$T/w1/corpus/harm.txt" ]'
check 'grep -q "\"seed\": 4" "$T/w1/manifest.json"'
# An existing output is refused (exit 2) and left alone; --force replaces it.
"$BIN" lab world "$T/w1" --size tiny --seed 5 -q 2>/dev/null; check '[ $? -eq 2 ]'
check 'grep -q "\"seed\": 4" "$T/w1/manifest.json"'
"$BIN" lab world "$T/w1" --size tiny --seed 5 --force -q; check '[ $? -eq 0 ]'
check 'grep -q "\"seed\": 5" "$T/w1/manifest.json"'
# Bad usage: exit 2, one line, nothing written.
"$BIN" lab world "$T/w3" --size huge 2>/dev/null; check '[ $? -eq 2 ] && [ ! -e "$T/w3" ]'
"$BIN" lab world "$T/w3" --seed -1 2>/dev/null; check '[ $? -eq 2 ] && [ ! -e "$T/w3" ]'
"$BIN" lab world 2>/dev/null; check '[ $? -eq 2 ]'
"$BIN" lab frobnicate 2>/dev/null; check '[ $? -eq 2 ]'
"$BIN" lab --help | grep -q "lab world"; check '[ $? -eq 0 ]'
# Tokenizer.
"$BIN" lab tokenizer "$T/w2/corpus" "$T/tok" --vocab 1024 -q; check '[ $? -eq 0 ]'
check '[ -s "$T/tok/chat/tokenizer.json" ] && [ -s "$T/tok/guard/tokenizer_config.json" ]'
check 'grep -q "\"<|eot_id|>\"" "$T/tok/guard/tokenizer_config.json"'
"$BIN" lab tokenizer "$T/w2/corpus" "$T/tok2" --vocab 1024 -q
check 'cmp -s "$T/tok/chat/tokenizer.json" "$T/tok2/chat/tokenizer.json"'
"$BIN" lab tokenizer "$T/w2/corpus" "$T/tok3" --vocab 12 2>/dev/null; check '[ $? -eq 2 ] && [ ! -e "$T/tok3" ]'
"$BIN" lab tokenizer "$T/nowhere" "$T/tok3" 2>/dev/null; check '[ $? -eq 2 ] && [ ! -e "$T/tok3" ]'
exit $fail
