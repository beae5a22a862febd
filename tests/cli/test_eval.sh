#!/usr/bin/env bash
# test_eval.sh BINARY TESTDATA - `mergeguard eval` end to end on tiny models:
# two policy models (golden tiny-llama3 weights, twice, + the tiny-chat
# tokenizer) and a tiny Llama-Guard-style judge; report files (JSON, Markdown,
# well-formed SVG), audit records, resume, --update-card (replaced, never
# duplicated). Bad input: tests/bad/eval and tests/bad/jsonl.
. "$(dirname "$0")/lib/testlib.sh"
BIN=$1
DATA=$2

mkmodel() { # NAME GOLDEN [TOKENIZER_CONFIG]
    mkdir -p "$TMP/$1"
    cp "$DATA/golden/$2/config.json" "$DATA/golden/$2/model.safetensors" "$TMP/$1/"
    cp "$DATA/templates/tiny-chat/tokenizer.json" "$TMP/$1/"
    cp "${3:-$DATA/templates/tiny-chat/tokenizer_config.json}" "$TMP/$1/tokenizer_config.json"
}
mkmodel a tiny-llama3
mkmodel b tiny-llama3
mkmodel guard tiny-llama3 "$DATA/eval/tiny-guard/tokenizer_config.json"
EV=$DATA/eval
COMMON=(--safety "$EV/safety.jsonl" --judge "guard:$TMP/guard,refusal" --domain "$EV/mc.jsonl"
        --qa "$EV/qa.jsonl" --max-new-tokens 6 --guard-max-new-tokens 6 --qa-max-new-tokens 4 -q)

"$BIN" eval "$TMP/a" "$TMP/b" "${COMMON[@]}" -o "$TMP/rep" 2>"$TMP/err"; rc=$?
check '[ $rc -eq 0 ]' "eval exit $rc: $(cat "$TMP/err")"
for f in report.json report.md report.svg audit/a.safety.jsonl audit/b.safety.jsonl; do
    check '[ -s "$TMP/rep/$f" ]' "missing $f"
done
check '[ ! -e "$TMP/rep.work" ]' "work dir left behind"
check '[ "$(wc -l <"$TMP/rep/audit/a.safety.jsonl")" -eq 4 ]' "audit lines"
check 'grep -q "| Model | Align % (guard) | Align % (refusal) | mc % | qa % | Avg acc % |" "$TMP/rep/report.md"' "md table header"
check 'grep -q "^| a | " "$TMP/rep/report.md" && grep -q "^| b | " "$TMP/rep/report.md"' "md rows"
check 'grep -q "\"primary_judge\": \"guard\"" "$TMP/rep/report.json"' "primary judge"
check 'grep -q "\"acc_norm\"" "$TMP/rep/report.json"' "acc_norm in json"
# Identical weights: identical numbers for both models.
if command -v python3 >/dev/null; then
    check 'python3 -c "
import json, sys, xml.dom.minidom
r = json.load(open(sys.argv[1]))
a, b = r[\"models\"]
assert a[\"alignment\"] == b[\"alignment\"] and a[\"tasks\"] == b[\"tasks\"], (a, b)
assert a[\"alignment\"] == a[\"safety\"][\"judges\"][\"guard\"][\"safe_rate\"]
assert r[\"tasks\"] == [\"mc\", \"qa\"]
xml.dom.minidom.parse(sys.argv[2])
" "$TMP/rep/report.json" "$TMP/rep/report.svg"' "report.json content / svg XML"
fi
if command -v xmllint >/dev/null; then
    check 'xmllint --noout "$TMP/rep/report.svg"' "xmllint svg"
fi

# Existing report without --force: exit 2, untouched.
"$BIN" eval "$TMP/a" --domain "$EV/mc.jsonl" -o "$TMP/rep" -q 2>"$TMP/err"; rc=$?
check '[ $rc -eq 2 ] && grep -q "exists" "$TMP/err"' "existing report: exit $rc"

# Resume: a work dir with two finished prompts is reused (only 2 generated).
"$BIN" eval "$TMP/a" --safety "$EV/safety.jsonl" --max-new-tokens 6 --limit 2 -o "$TMP/r1" \
    --work-dir "$TMP/work" -q 2>"$TMP/err"; rc=$?
check '[ $rc -eq 0 ]' "limited run exit $rc: $(cat "$TMP/err")"
"$BIN" eval "$TMP/a" --safety "$EV/safety.jsonl" --max-new-tokens 6 -o "$TMP/r2" \
    --work-dir "$TMP/work" 2>"$TMP/err" >/dev/null; rc=$?
check '[ $rc -eq 0 ] && grep -q "resuming, 2 of 4" "$TMP/err"' "resume: exit $rc: $(cat "$TMP/err")"
check 'grep -q "\"resumed\": 2" "$TMP/r2/report.json"' "resumed count"

# --update-card twice: one section.
printf '# Model a\n\nnotes\n' >"$TMP/a/README.md"
for k in 1 2; do
    "$BIN" eval "$TMP/a" --domain "$EV/mc.jsonl" -o "$TMP/card$k" --update-card -q 2>"$TMP/err"
    check '[ $? -eq 0 ]' "update-card run $k: $(cat "$TMP/err")"
done
check '[ "$(grep -c "mergeguard-eval:begin" "$TMP/a/README.md")" -eq 1 ]' "card section duplicated"
check 'grep -q "^# Model a" "$TMP/a/README.md" && grep -q "| mc (acc) |" "$TMP/a/README.md"' "card content"

# A model without a chat template (bad input: tests/bad/eval, tests/bad/jsonl).
mkmodel notmpl tiny-llama3
printf '{"bos_token": "<s>", "eos_token": "<|im_end|>"}\n' >"$TMP/notmpl/tokenizer_config.json"
# A chat template override makes the template-less model usable.
"$BIN" eval "$TMP/notmpl" --safety "$EV/safety.jsonl" --max-new-tokens 4 --limit 1 \
    --chat-template chatml -o "$TMP/tmplok" -q 2>"$TMP/err"
check '[ $? -eq 0 ]' "--chat-template override: $(cat "$TMP/err")"

"$BIN" eval --help | grep -q "i'm sorry" && ok || fail "help lists refusal phrases"

summary
