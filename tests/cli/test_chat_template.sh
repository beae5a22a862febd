#!/usr/bin/env bash
# test_chat_template.sh BINARY TESTDATA - `mergeguard chat-template` on our tiny
# tokenizer (tests/data/templates/tiny-chat): exact renderings, --ids, the
# built-in overrides, --var and stdin (bad input: tests/bad/chat_template).
. "$(dirname "$0")/lib/testlib.sh"
BIN=$1
DATA=$2
M=$DATA/templates/tiny-chat

printf '[{"role":"system","content":"Be brief."},{"role":"user","content":"hello"}]' >"$TMP/conv.json"

# exact rendering with the model's template (BOS written by the template)
"$BIN" chat-template "$M" --messages "$TMP/conv.json" --add-generation-prompt >"$TMP/out" 2>"$TMP/err"; rc=$?
[ $rc -eq 0 ] && ok || fail "render: exit $rc: $(cat "$TMP/err")"
printf '<s><|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\n' >"$TMP/want"
cmp -s "$TMP/out" "$TMP/want" && ok || { fail "render differs"; od -c "$TMP/out" | head; }

# without the generation prompt
"$BIN" chat-template "$M" --messages "$TMP/conv.json" >"$TMP/out" 2>/dev/null
printf '<s><|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nhello<|im_end|>\n' >"$TMP/want"
cmp -s "$TMP/out" "$TMP/want" && ok || fail "render without generation prompt differs"

# --ids: one BOS (the template's), special tokens as single ids
"$BIN" chat-template "$M" --messages "$TMP/conv.json" --ids >"$TMP/ids" 2>"$TMP/err"; rc=$?
[ $rc -eq 0 ] && ok || fail "--ids: exit $rc: $(cat "$TMP/err")"
first=$(cut -d' ' -f1 "$TMP/ids"); second=$(cut -d' ' -f2 "$TMP/ids")
[ "$first" = 265 ] && [ "$second" = 267 ] && ok || fail "--ids starts '$first $second', want '265 267' (<s> <|im_start|>)"
grep -q ' 259 ' "$TMP/ids" && ok || fail "--ids: 'hello' is not one token"

# built-in override and file override
"$BIN" chat-template "$M" --messages "$TMP/conv.json" --chat-template mistral >"$TMP/out" 2>/dev/null
printf '<s>[INST] Be brief.\n\nhello [/INST]' >"$TMP/want"
cmp -s "$TMP/out" "$TMP/want" && ok || fail "--chat-template mistral differs: $(cat "$TMP/out")"
printf '{{ messages | length }}|{{ flag }}|{{ eos_token }}' >"$TMP/t.jinja"
"$BIN" chat-template "$M" --messages "$TMP/conv.json" --chat-template "$TMP/t.jinja" --var flag='{"a": [1]}' >"$TMP/out" 2>/dev/null
[ "$(cat "$TMP/out")" = "2|{'a': [1]}|<|im_end|>" ] && ok || fail "file template + --var: '$(cat "$TMP/out")'"

# stdin, object form with extra variables
printf '{"messages":[{"role":"user","content":"x"}],"flag":true}' |
    "$BIN" chat-template "$M" --messages - --chat-template "$TMP/t.jinja" >"$TMP/out" 2>/dev/null
[ "$(cat "$TMP/out")" = "1|True|<|im_end|>" ] && ok || fail "stdin object form: '$(cat "$TMP/out")'"

"$BIN" chat-template --help >"$TMP/out" 2>&1 && grep -q "chat-template MODEL" "$TMP/out" && ok || fail "--help"

summary
