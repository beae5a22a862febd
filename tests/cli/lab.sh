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
# Build lock: a second build of the same folder waits for the first (here a
# held lock), then proceeds - and stops at the existing build of another seed.
mkdir -p "$T/b" && printf '{"format": "mergeguard-lab-build", "recipe_version": 1, "seed": 9, "size": "tiny", "models": {}}' >"$T/b/build.json"
flock "$T/b.lock" sleep 3 &
sleep 0.5
t0=$(date +%s.%N)
"$BIN" lab build "$T/b" --size tiny --seed 1 2>"$T/lockerr"; rc=$?
t1=$(date +%s.%N)
wait
check '[ $rc -eq 2 ] && grep -q "waiting for another process" "$T/lockerr" && grep -q "holds a build with seed 9" "$T/lockerr"'
check 'awk -v a="$t0" -v b="$t1" "BEGIN { exit !(b - a >= 2) }"'
exit $fail
