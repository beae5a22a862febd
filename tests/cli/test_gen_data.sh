#!/usr/bin/env bash
# test_gen_data.sh BINARY TESTDATA - `mergeguard gen-data` end to end on the
# scripted bigram models of tests/data/gendata (gen writes {Question:"..."},
# refuser always says "I can't.", babbler never writes JSON): exact n, record
# format, summary, determinism (threads, resume), a SIGKILL'd run restarted
# (exactly n records, no duplicates, no truncated line, same file as a fresh
# run), domain records, mix, and bad input (exit 2, one clear line).
. "$(dirname "$0")/lib/testlib.sh"
BIN=$1
DATA=$2
G=$DATA/gendata

SAFE=(safety --generator "$G/gen" --pool "$G/refuser" "$G/gen" --judge refusal
      --max-new-tokens 16 --gen-max-new-tokens 48 --seed 7 -q)

# 1. A run reaches n; records and summary.
"$BIN" gen-data "${SAFE[@]}" --n 40 -o "$TMP/s.jsonl" >"$TMP/sum.json" 2>"$TMP/err"; rc=$?
check '[ $rc -eq 0 ]' "safety exit $rc: $(cat "$TMP/err")"
check '[ "$(wc -l <"$TMP/s.jsonl")" -eq 40 ]' "safety: 40 records"
check '[ -s "$TMP/s.summary.json" ]' "summary file next to the output"
check 'grep -q "\"categories_covered\": 1[0-4]" "$TMP/s.summary.json"' "categories covered"
check 'grep -q "\"refusal_rate\": 1.0" "$TMP/s.summary.json"' "refuser's rate"
check 'grep -q "\"truncated\": [1-9]" "$TMP/s.summary.json"' "failures counted by reason"
check 'grep -q "\"complete\": true" "$TMP/sum.json"' "summary printed"
check '! grep -v "\"type\":\"alignment\"" "$TMP/s.jsonl" | grep -q .' "type alignment"
check '! grep -v "\"response\":\"I can'"'"'t.\",.*\"source\":\"refuser\"" "$TMP/s.jsonl" | grep -q .' \
    "response is the refusal, source the refuser"
check '[ "$(grep -o "\"prompt\":\"[^,]*" "$TMP/s.jsonl" | sort | uniq -d | wc -l)" -eq 0 ]' \
    "no duplicate prompts"

# 2. Deterministic: another thread count and batch size give the same file.
"$BIN" gen-data "${SAFE[@]}" --n 40 -o "$TMP/s2.jsonl" --threads 1 --batch 5 >/dev/null 2>&1
check 'cmp -s "$TMP/s.jsonl" "$TMP/s2.jsonl"' "threads/batch change the output"
# A rerun of a complete output adds nothing; a larger n continues it.
"$BIN" gen-data "${SAFE[@]}" --n 40 -o "$TMP/s2.jsonl" >/dev/null 2>&1
check 'cmp -s "$TMP/s.jsonl" "$TMP/s2.jsonl"' "rerun of a complete output changed it"
"$BIN" gen-data "${SAFE[@]}" --n 50 -o "$TMP/s2.jsonl" >/dev/null 2>&1
check '[ "$(wc -l <"$TMP/s2.jsonl")" -eq 50 ] && [ "$(head -40 "$TMP/s2.jsonl" | cmp -s - "$TMP/s.jsonl"; echo $?)" -eq 0 ]' \
    "continued to 50 with the first 40 kept"
"$BIN" gen-data "${SAFE[@]}" --n 50 -o "$TMP/s50.jsonl" >/dev/null 2>&1
check 'cmp -s "$TMP/s2.jsonl" "$TMP/s50.jsonl"' "continued run differs from a fresh n=50 run"
# Another seed on an existing output is refused.
"$BIN" gen-data "${SAFE[@]}" --n 50 --seed 8 -o "$TMP/s2.jsonl" >/dev/null 2>"$TMP/err"; rc=$?
check '[ $rc -eq 2 ] && grep -q "seed" "$TMP/err"' "other seed on resume: exit $rc"

# 3. SIGKILL halfway, restart: exactly n, no duplicates, no truncated line.
N=120
"$BIN" gen-data "${SAFE[@]}" --n $N -o "$TMP/fresh.jsonl" >/dev/null 2>&1
"$BIN" gen-data "${SAFE[@]}" --n $N --threads 1 --batch 4 -o "$TMP/k.jsonl" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 400); do
    [ -f "$TMP/k.jsonl" ] && [ "$(wc -l <"$TMP/k.jsonl")" -ge 30 ] && break
    sleep 0.02
done
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
killed=$(wc -l <"$TMP/k.jsonl")
check '[ "$killed" -lt $N ]' "run finished before the kill ($killed lines)"
printf '{"prompt":"cut in the mid' >>"$TMP/k.jsonl" # as if killed inside a write
"$BIN" gen-data "${SAFE[@]}" --n $N -o "$TMP/k.jsonl" >/dev/null 2>"$TMP/err"; rc=$?
check '[ $rc -eq 0 ]' "resume exit $rc: $(cat "$TMP/err")"
check '[ "$(wc -l <"$TMP/k.jsonl")" -eq $N ]' "resumed: $(wc -l <"$TMP/k.jsonl") lines, not $N"
check '[ "$(tail -c 1 "$TMP/k.jsonl" | od -An -c | tr -d " ")" = "\n" ]' "last line ends with newline"
check '! grep -q "cut in the mid" "$TMP/k.jsonl"' "truncated line kept"
check '[ "$(grep -o "\"prompt\":\"[^,]*" "$TMP/k.jsonl" | sort | uniq -d | wc -l)" -eq 0 ]' \
    "duplicates after resume"
check 'cmp -s "$TMP/k.jsonl" "$TMP/fresh.jsonl"' "killed + resumed differs from a fresh run"
# mix validates every line and counts duplicate prompts.
"$BIN" gen-data mix "$TMP/k.jsonl" -o "$TMP/kmix.jsonl" >"$TMP/mix.json" 2>&1
check 'grep -q "\"duplicates\": 0" "$TMP/mix.json" && grep -q "\"written\": $N" "$TMP/mix.json"' \
    "resumed file: every line a valid record"

# 4. A generator that never writes JSON: a clear report, not a hang.
"$BIN" gen-data safety --generator "$G/babbler" --pool "$G/refuser" --judge refusal --n 5 \
    --gen-max-new-tokens 16 --max-calls 40 -o "$TMP/nj.jsonl" -q >/dev/null 2>"$TMP/err"; rc=$?
check '[ $rc -eq 1 ] && grep -q "no usable JSON in 40 replies (no_json 40)" "$TMP/err"' \
    "never-JSON generator: exit $rc: $(cat "$TMP/err")"
check 'grep -q "\"no_json\": 40" "$TMP/nj.summary.json"' "never-JSON summary"
# A pool that never refuses: the call cap ends it.
"$BIN" gen-data safety --generator "$G/gen" --pool "$G/gen" --judge refusal --n 5 \
    --gen-max-new-tokens 48 --max-new-tokens 8 --max-calls 30 -o "$TMP/nr.jsonl" -q >/dev/null 2>"$TMP/err"; rc=$?
check '[ $rc -eq 1 ] && grep -q "cap of 30 generator calls with 0 of 5" "$TMP/err"' \
    "no-refusal pool: exit $rc: $(cat "$TMP/err")"

# 5. Bad input: exit 2, one line, no output.
mkdir -p "$TMP/other"
cp "$G/refuser/config.json" "$G/refuser/model.safetensors" "$G/refuser/tokenizer_config.json" "$TMP/other/"
sed 's/"<|im_end|>": 268/"<|im_end|>": 268, "<extra>": 269/' "$G/refuser/tokenizer.json" >"$TMP/other/tokenizer.json"
"$BIN" gen-data safety --generator "$G/gen" --pool "$G/refuser" "$TMP/other" --judge refusal \
    --n 5 -o "$TMP/bad.jsonl" 2>"$TMP/err"; rc=$?
check '[ $rc -eq 2 ] && grep -q "different tokenizers" "$TMP/err" && [ "$(wc -l <"$TMP/err")" -eq 1 ]' \
    "other tokenizer: exit $rc: $(cat "$TMP/err")"
check '[ ! -e "$TMP/bad.jsonl" ]' "output created on bad input"
: >"$TMP/empty.jsonl"
"$BIN" gen-data domain --expert "$G/gen" --topic biology --examples "$TMP/empty.jsonl" --n 5 \
    -o "$TMP/bad.jsonl" 2>"$TMP/err"; rc=$?
check '[ $rc -eq 2 ] && grep -q "empty" "$TMP/err" && [ ! -e "$TMP/bad.jsonl" ]' \
    "empty example pool: exit $rc: $(cat "$TMP/err")"
"$BIN" gen-data safety --generator "$G/gen" --pool "$G/refuser" --judge nope --n 5 \
    -o "$TMP/bad.jsonl" 2>"$TMP/err"; rc=$?
check '[ $rc -eq 2 ]' "bad judge: exit $rc"
"$BIN" gen-data frobnicate 2>"$TMP/err"; rc=$?
check '[ $rc -eq 2 ]' "bad mode: exit $rc"

# 6. Domain: two experts share n; distinct task records; no pool copies.
printf '%s\n' '{"question": "What is a zorvel?"}' '{"question": "Where do fimbrets live?"}' \
    '{"prompt": "Which enzyme splits glarn?"}' '{"question": "What is a zorvel?"}' >"$TMP/pool.jsonl"
"$BIN" gen-data domain --expert "$G/gen" --expert "$G/refuser" --topic biology \
    --examples "$TMP/pool.jsonl" --json-prefix "" --n 9 --gen-max-new-tokens 48 \
    --max-new-tokens 8 --max-calls 200 -o "$TMP/d.jsonl" -q >/dev/null 2>"$TMP/err"; rc=$?
# The refuser never writes JSON: gen writes its 5, then the refuser's cap ends the run.
check '[ $rc -eq 1 ] && grep -q "expert '"'"'refuser'"'"' wrote no usable JSON" "$TMP/err"' \
    "domain with a non-JSON expert: exit $rc: $(cat "$TMP/err")"
check '[ "$(grep -c "\"source\":\"gen\"" "$TMP/d.jsonl")" -eq 5 ]' "gen wrote n/2 rounded up"
"$BIN" gen-data domain --expert "$G/gen" --topic biology --examples "$TMP/pool.jsonl" \
    --json-prefix "" --n 20 --gen-max-new-tokens 48 --max-new-tokens 8 -o "$TMP/d2.jsonl" -q \
    >/dev/null 2>"$TMP/err"; rc=$?
check '[ $rc -eq 0 ] && [ "$(wc -l <"$TMP/d2.jsonl")" -eq 20 ]' "domain: 20 records ($rc)"
check '! grep -v "\"type\":\"task\"" "$TMP/d2.jsonl" | grep -q .' "type task"
check '[ "$(grep -o "\"prompt\":\"[^,]*" "$TMP/d2.jsonl" | sort | uniq -d | wc -l)" -eq 0 ]' \
    "distinct domain prompts"

# 7. mix: per-type limit, shuffle is seeded, existing output refused.
"$BIN" gen-data mix "$TMP/s.jsonl" "$TMP/d2.jsonl" --shuffle --seed 42 --per-type 10 \
    -o "$TMP/m.jsonl" -q >/dev/null 2>"$TMP/err"; rc=$?
check '[ $rc -eq 0 ] && [ "$(wc -l <"$TMP/m.jsonl")" -eq 20 ]' "mix: 20 records ($rc)"
check '[ "$(grep -c "\"type\":\"task\"" "$TMP/m.jsonl")" -eq 10 ]' "mix: 10 task records"
"$BIN" gen-data mix "$TMP/s.jsonl" "$TMP/d2.jsonl" --shuffle --seed 42 --per-type 10 \
    -o "$TMP/m2.jsonl" -q >/dev/null 2>&1
check 'cmp -s "$TMP/m.jsonl" "$TMP/m2.jsonl"' "mix shuffle not deterministic"
"$BIN" gen-data mix "$TMP/s.jsonl" -o "$TMP/m.jsonl" -q 2>"$TMP/err"; rc=$?
check '[ $rc -eq 2 ]' "mix over existing output: exit $rc"
echo '{"prompt": "p", "response": "r", "type": "other"}' >"$TMP/badtype.jsonl"
"$BIN" gen-data mix "$TMP/badtype.jsonl" -o "$TMP/m3.jsonl" -q 2>"$TMP/err"; rc=$?
check '[ $rc -eq 2 ] && grep -q "badtype.jsonl:1" "$TMP/err"' "mix bad type: exit $rc"

summary
