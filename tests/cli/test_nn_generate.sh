#!/usr/bin/env bash
# test_nn_generate.sh BINARY TESTDATA - generate, chat, score and perplexity on
# a small model folder assembled from the tiny-llama golden weights and the
# tiny-chat tokenizer (ChatML template, vocab 269 < the model's 512): output
# shape, reproducibility (seeds, thread counts, record order) and bad input
# (exit 2, one line on stderr, nothing on stdout).
. "$(dirname "$0")/lib/testlib.sh"
BIN=$1
DATA=$2

M=$TMP/model
mkdir -p "$M"
cp "$DATA/golden/tiny-llama/config.json" "$M/"
ln -s "$(cd "$DATA/golden/tiny-llama" && pwd)/model.safetensors" "$M/model.safetensors"
cp "$DATA/templates/tiny-chat/tokenizer.json" "$DATA/templates/tiny-chat/tokenizer_config.json" "$M/"

run() { # OUT ARGS... ; sets rc
    local out=$1; shift
    "$BIN" "$@" >"$out" 2>"$TMP/err"; rc=$?
}

# ---- generate ----
run "$TMP/g1" generate "$M" --prompt "hello world" --max-new-tokens 12 --json
[ $rc -eq 0 ] && ok || fail "generate: exit $rc: $(cat "$TMP/err")"
grep -q '"prompt_tokens": 22' "$TMP/g1" && ok || fail "generate: ChatML prompt of 22 tokens"
grep -q '"stop": "length"' "$TMP/g1" && ok || fail "generate: stop reason"
n=$(tr -d ' \n' <"$TMP/g1" | sed 's/.*"ids":\[\([^]]*\)\].*/\1/' | awk -F, '{print NF}')
[ "$n" -eq 12 ] && ok || fail "generate: $n ids, expected 12"
if tr -d ' \n' <"$TMP/g1" | sed 's/.*"ids":\[\([^]]*\)\].*/\1/' | tr ',' '\n' | awk '$1 >= 269 {bad=1} END {exit bad}'; then
    ok; else fail "generate: an id beyond the tokenizer's vocabulary"; fi
run "$TMP/g2" generate "$M" --prompt "hello world" --max-new-tokens 12 --json --threads 1
cmp -s "$TMP/g1" "$TMP/g2" && ok || fail "generate: greedy differs with --threads 1"
run "$TMP/s1" generate "$M" --prompt "hello" --temperature 0.9 --top-k 50 --top-p 0.9 --seed 11 --json
run "$TMP/s2" generate "$M" --prompt "hello" --temperature 0.9 --top-k 50 --top-p 0.9 --seed 11 --json --threads 1
run "$TMP/s3" generate "$M" --prompt "hello" --temperature 0.9 --top-k 50 --top-p 0.9 --seed 12 --json
cmp -s "$TMP/s1" "$TMP/s2" && ok || fail "generate: same seed, different text"
cmp -s "$TMP/s1" "$TMP/s3" && fail "generate: seeds 11 and 12 gave the same text" || ok
run "$TMP/r" generate "$M" --prompt "hello" --raw --max-new-tokens 3 --json
grep -q '"prompt_tokens": 2' "$TMP/r" && ok || fail "generate --raw: BOS + 1 token"
run "$TMP/t" generate "$M" --prompt "hello" --max-new-tokens 4
[ $rc -eq 0 ] && [ "$(wc -l <"$TMP/t")" -ge 1 ] && ok || fail "generate: streamed text"
run "$TMP/sys" generate "$M" --prompt "hi" --system "be brief" --max-new-tokens 2 --json
grep -q '"prompt_tokens": 40' "$TMP/sys" && ok || fail "generate --system: system turn in the prompt"

bad() { # NEEDLE ARGS...
    local needle=$1; shift
    "$BIN" "$@" >"$TMP/out" 2>"$TMP/err"; local rc=$?
    [ $rc -eq 2 ] && ok || fail "$*: exit $rc, expected 2"
    [ ! -s "$TMP/out" ] && ok || fail "$*: output on stdout"
    [ "$(wc -l <"$TMP/err")" -eq 1 ] && ok || fail "$*: expected one stderr line: $(cat "$TMP/err")"
    grep -qF -- "$needle" "$TMP/err" && ok || fail "$*: '$needle' not in: $(cat "$TMP/err")"
}
bad "prompt is empty" generate "$M" --prompt ""
bad "--temperature expects" generate "$M" --prompt "x" --temperature -1
bad "--temperature expects" generate "$M" --prompt "x" --temperature nan
bad "--top-p expects" generate "$M" --prompt "x" --top-p 1.5
bad "--top-k expects" generate "$M" --prompt "x" --top-k -3
bad "--max-new-tokens expects" generate "$M" --prompt "x" --max-new-tokens 0
bad "missing --prompt" generate "$M"
long=$(printf 'a %.0s' $(seq 1 200))
bad "longer than the context window" generate "$M" --prompt "$long"
bad "tokenizer" generate "$DATA/golden/tiny-llama" --prompt "x"
bad "--weights expects" generate "$M" --prompt "x" --weights int8

# ---- chat ----
printf 'hello\nworld\n/reset\nhi\n/quit\nnot read\n' | "$BIN" chat "$M" --max-new-tokens 3 >"$TMP/c" 2>"$TMP/err"; rc=$?
[ $rc -eq 0 ] && ok || fail "chat: exit $rc: $(cat "$TMP/err")"
[ "$(wc -l <"$TMP/c")" -eq 3 ] && ok || fail "chat: expected 3 answers, got $(wc -l <"$TMP/c") lines"
# The same turn after /reset gives the same answer as in a fresh session.
printf 'hi\n' | "$BIN" chat "$M" --max-new-tokens 3 >"$TMP/c1" 2>/dev/null
[ "$(sed -n 3p "$TMP/c")" = "$(cat "$TMP/c1")" ] && ok || fail "chat: /reset does not start over"
# Second turn with the cache equals a fresh render of the whole conversation.
printf 'hello\nworld\n' | "$BIN" chat "$M" --max-new-tokens 3 --threads 1 >"$TMP/c2" 2>/dev/null
cmp -s <(head -2 "$TMP/c") "$TMP/c2" && ok || fail "chat: turns differ with --threads 1"

# ---- score ----
cat >"$TMP/d.jsonl" <<'JSONL'
{"prompt": "hello", "response": "world", "type": "alignment"}
{"prompt": "hello world", "response": "Paris.", "type": "task"}

{"prompt": "The quick brown fox", "response": "jumps over the lazy dog", "type": "task"}
{"prompt": "a", "response": "b"}
JSONL
tac "$TMP/d.jsonl" >"$TMP/rev.jsonl"
run "$TMP/sc" score "$M" "$TMP/d.jsonl"
[ $rc -eq 0 ] && ok || fail "score: exit $rc: $(cat "$TMP/err")"
grep -qE '^task +2 ' "$TMP/sc" && ok || fail "score: task row"
grep -qE '^untyped +1 ' "$TMP/sc" && ok || fail "score: untyped row"
grep -qE '^all +4 ' "$TMP/sc" && ok || fail "score: overall row"
run "$TMP/j1" score "$M" "$TMP/d.jsonl" --json --threads 1
run "$TMP/j2" score "$M" "$TMP/rev.jsonl" --json --threads 2
grep '"sum_nll"' "$TMP/j1" | sort >"$TMP/k1"
grep '"sum_nll"' "$TMP/j2" | sort >"$TMP/k2"
[ -s "$TMP/k1" ] && cmp -s "$TMP/k1" "$TMP/k2" && ok || fail "score: differs with order / threads"
printf '{"prompt": "x"}\n' >"$TMP/b1.jsonl"
bad "b1.jsonl:1: expected an object" score "$M" "$TMP/b1.jsonl"
printf '{"prompt": "x", "response": "y"}\n{"prompt": \n' >"$TMP/b2.jsonl"
bad "b2.jsonl:2: invalid JSON" score "$M" "$TMP/b2.jsonl"
printf '{"prompt": "x", "response": ""}\n' >"$TMP/b3.jsonl"
bad "b3.jsonl:1: empty response" score "$M" "$TMP/b3.jsonl"
printf '{"prompt": "%s", "response": "y"}\n' "$long" >"$TMP/b4.jsonl"
bad "b4.jsonl:1: 4" score "$M" "$TMP/b4.jsonl"
: >"$TMP/b5.jsonl"
bad "no records" score "$M" "$TMP/b5.jsonl"

# ---- perplexity ----
for i in $(seq 1 20); do echo "hello world, the quick brown fox jumps over the lazy dog."; done >"$TMP/t.txt"
run "$TMP/p1" perplexity "$M" "$TMP/t.txt" --json --ctx 64
[ $rc -eq 0 ] && ok || fail "perplexity: exit $rc: $(cat "$TMP/err")"
grep -q '"perplexity"' "$TMP/p1" && ok || fail "perplexity: json"
run "$TMP/p2" perplexity "$M" "$TMP/t.txt" --json --ctx 64 --threads 1
cmp -s "$TMP/p1" "$TMP/p2" && ok || fail "perplexity: differs with --threads 1"
: >"$TMP/empty.txt"
bad "at least 2" perplexity "$M" "$TMP/empty.txt"
bad "--ctx 4096 exceeds" perplexity "$M" "$TMP/t.txt" --ctx 4096

for c in generate chat score perplexity; do "$BIN" $c --help >/dev/null && ok || fail "$c --help"; done
summary
