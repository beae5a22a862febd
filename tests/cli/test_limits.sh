#!/usr/bin/env bash
# test_limits.sh BINARY TESTDATA - the documented resource caps: tokens per
# generation (--max-new-tokens at most 1048576, refused with exit 2 before
# any work, in generate and gen-data; a reply stops at max-new-tokens with
# stop "length" and at a full context window with stop "context"; a prompt
# that leaves no room is refused), chat-template renders (output, memory,
# steps and recursion limits fail with exit 2 and a message naming the
# limit), and merge --max-memory (bad sizes refused; --dry-run prints the
# estimate; a limit below it refuses before anything is written).
. "$(dirname "$0")/lib/testlib.sh"
BIN=$1
DATA=$2
# ---- tokens per generation
G=$DATA/gendata
expect_exit 2 "1..1048576" generate "$G/gen" --prompt hi --max-new-tokens 1048577
expect_exit 2 "1..1048576" chat "$G/gen" --max-new-tokens 2000000
expect_exit 2 "1..1048576" gen-data safety --generator "$G/gen" --pool "$G/refuser" --judge refusal \
    --max-new-tokens 2000000 --n 3 -o "$TMP/x.jsonl"
[ ! -e "$TMP/x.jsonl" ] && ok || fail "gen-data wrote output before refusing the cap"
expect_exit 0 '"stop": "length"' generate "$G/gen" --prompt hi --raw --max-new-tokens 5 --json
cp -r "$G/gen" "$TMP/ctx12"
sed -i 's/"max_position_embeddings": [0-9]*/"max_position_embeddings": 12/' "$TMP/ctx12/config.json"
expect_exit 0 '"stop": "context"' generate "$TMP/ctx12" --prompt hi --raw --max-new-tokens 100 --json
expect_exit 2 "context window" generate "$TMP/ctx12" --prompt "hello there how are you today" --raw

# ---- template renders
echo '[{"role": "user", "content": "hi"}]' >"$TMP/m.json"
printf '{%% for i in range(100000000) %%}x{%% endfor %%}' >"$TMP/range.jinja"
{ printf '{%% for i in range(200000) %%}'; for k in $(seq 60); do printf '{%% if i %%}{%% endif %%}'; done
  printf '{%% endfor %%}'; } >"$TMP/steps.jinja"
printf '{%% set s = "%s" %%}{%% for i in range(100000) %%}{{ s }}{%% endfor %%}' \
    "$(head -c 400 /dev/zero | tr '\0' x)" >"$TMP/big.jinja"
printf '{%% macro f(n) %%}{{ f(n + 1) }}{%% endmacro %%}{{ f(0) }}' >"$TMP/rec.jinja"
expect_exit 2 "memory limit" chat-template "$G/gen" --messages "$TMP/m.json" --chat-template "$TMP/range.jinja"
expect_exit 2 "exceeded 10000000 evaluation steps" chat-template "$G/gen" --messages "$TMP/m.json" --chat-template "$TMP/steps.jinja"
expect_exit 2 "output limit of 16777216 bytes" chat-template "$G/gen" --messages "$TMP/m.json" \
    --chat-template "$TMP/big.jinja"
expect_exit 2 "more than 200 levels" chat-template "$G/gen" --messages "$TMP/m.json" \
    --chat-template "$TMP/rec.jinja"
expect_exit 0 "16 MiB of rendered text" chat-template --help

# ---- merge --max-memory
GO=$DATA/golden
cat >"$TMP/m.yml" <<EOF
merge_method: linear
models:
  - model: $GO/tiny-llama
    parameters: {weight: 0.5}
  - model: $GO/tiny-llama3
    parameters: {weight: 0.5}
EOF
expect_exit 2 "--max-memory: invalid size" merge "$TMP/m.yml" "$TMP/o" --max-memory 12q
expect_exit 2 "--max-memory: invalid size" merge "$TMP/m.yml" "$TMP/o" --max-memory 0
expect_exit 0 "peak memory (estimate, 2 threads)" merge "$TMP/m.yml" --dry-run --threads 2
expect_exit 2 "more than --max-memory 1.0 KiB; biggest tensor" merge "$TMP/m.yml" "$TMP/o" --max-memory 1KiB
[ ! -e "$TMP/o" ] && [ -z "$(ls -A "$TMP" | grep '^\.o\.')" ] && ok || fail "refused merge left output"
expect_exit 0 "" merge -q "$TMP/m.yml" "$TMP/o" --max-memory 1GiB
expect_exit 0 "--max-memory SIZE" merge --help

summary
