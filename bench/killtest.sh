#!/usr/bin/env bash
# killtest.sh BINARY TESTDATA [POINTS] [SEED] - crash safety under SIGKILL.
#
# Kills `mergeguard merge`, `gen-data` and `evolve` with SIGKILL at POINTS
# points each (default 40: half at deterministic kill points, half at random
# times) and checks what a user finds afterwards:
#   merge    the output folder is absent or bit-identical to an uninterrupted
#            run (and opens with `inspect`); with --force over an old output,
#            the folder is the complete old one or the complete new one (also
#            with the rename-aside fallback used where RENAME_EXCHANGE is
#            missing: then the old one may sit aside and must come back); a
#            rerun gives the reference output and leaves no temporary behind.
#   gen-data the records on disk are a prefix of the uninterrupted run's (a
#            torn last line at most), the summary is valid JSON (the pool has
#            a short-context model, so some questions are dropped); rerunning
#            the same command (sometimes killed again first) gives files
#            byte-identical to the uninterrupted run (records and summary).
#   evolve   the output folder is absent or holds a valid checkpoint and a log
#            whose lines are a prefix of the reference; `--resume` gives the
#            same log (timings aside), state, best_config.yml, model/, plots
#            and report (timings aside) as the uninterrupted run.
# Deterministic points use the test-only hook of base/file.h
# (MERGEGUARD_TEST_KILL_AT=N raises SIGKILL at the Nth durable step: atomic
# output begun/synced/renamed/swapped, tensor written, record appended, log
# appended); the points are spread over the K steps an uninterrupted run
# passes. Random points sleep uniformly over the measured duration of an
# uninterrupted run. SEED (printed) fixes the choices.
#
# Models: the golden tiny-* fixtures for merge; for gen-data and evolve the
# scripted bigram models of tests/data/gendata (KILL_MODELS=fixtures, the
# default) or the tiny lab world (KILL_MODELS=tiny: built into the cache by
# `mergeguard lab build --size tiny` when missing; slower, more realistic).
# KILL_CMDS="merge gendata evolve" picks the commands; KILL_GD_N (records,
# default 40) and KILL_EV_FEVALS (evaluations, default 200) size the fixture
# runs. `make test` runs 6 points per command on smaller runs
# (tests/cli/test_kill.sh); the full run:
#   bash bench/killtest.sh build/mergeguard tests/data 40
set -u
BIN=$(realpath "$1")
DATA=$(realpath "$2")
POINTS=${3:-40}
SEED=${4:-$(($(date +%s) % 1000000))}
CMDS=${KILL_CMDS:-merge gendata evolve}
MODELS=${KILL_MODELS:-fixtures}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
RANDOM=$SEED
fails=0
pass=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { pass=$((pass + 1)); }
echo "killtest: seed $SEED, $POINTS points per command, commands: $CMDS, models: $MODELS"

now_ns() { date +%s%N; }
rand01() { echo "$RANDOM $RANDOM" | awk '{printf "%.6f", ($1 * 32768 + $2) / 1073741824}'; }

# The kill points: "at:N" (hook) or "t:SECONDS" (random time), POINTS in all.
# make_points K DURATION_NS
make_points() {
    local k=$1 dur=$2 ndet=$(((POINTS + 1) / 2)) i
    local nrand=$((POINTS - ndet))
    PTS=()
    if [ "$k" -le "$ndet" ]; then
        for i in $(seq 1 "$k"); do PTS+=("at:$i"); done
        nrand=$((POINTS - k))
    else
        local u
        u=$(rand01)
        for i in $(seq 0 $((ndet - 1))); do
            PTS+=("at:$(awk -v i="$i" -v u="$u" -v k="$k" -v n="$ndet" \
                'BEGIN { printf "%d", 1 + int((i + u) * k / n) }')")
        done
    fi
    for i in $(seq 1 "$nrand"); do
        PTS+=("t:$(awk -v r="$(rand01)" -v d="$dur" 'BEGIN { printf "%.4f", r * d / 1e9 }')")
    done
}

# run_point POINT CMD... : runs CMD and SIGKILLs it at POINT; KILLED=1 if the
# kill landed before the command ended, RC its exit status.
run_point() {
    local p=$1
    shift
    if [ "${p%%:*}" = at ]; then
        # (in a subshell: bash would report every "Killed" job)
        RC=$( (MERGEGUARD_TEST_KILL_AT=${p#at:} "$@" >"$TMP/k.out" 2>"$TMP/k.err"); echo $?)
    else
        RC=$(
            "$@" >"$TMP/k.out" 2>"$TMP/k.err" &
            pid=$!
            sleep "${p#t:}"
            kill -9 "$pid" 2>/dev/null
            wait "$pid" 2>/dev/null
            echo $?
        )
    fi
    KILLED=$((RC == 137))
}

# count_points CMD... : kill points an uninterrupted run passes.
count_points() {
    MERGEGUARD_TEST_KILL_TRACE=1 "$@" 2>&1 >/dev/null | grep -c '^kill point'
}

# leftovers DIR NAME : temporaries or moved-aside outputs of NAME in DIR.
leftovers() { find "$1" -maxdepth 1 \( -name ".$2.tmp-*" -o -name ".$2.old-*" \) | wc -l; }

same_tree() { diff -r -q "$1" "$2" >/dev/null 2>&1; }

summary_line() { # CMD KILLED_COUNT
    echo "killtest: $1: ${#PTS[@]} points ($2 killed mid-run), $3 failures"
}

# ---------------------------------------------------------------- merge
test_merge() {
    local W=$TMP/merge
    mkdir -p "$W"
    local G=$DATA/golden
    cat >"$W/new.yml" <<EOF
merge_method: ties
base_model: $G/tiny-llama
models:
  - model: $G/tiny-llama3
    parameters: {weight: 0.6, density: [1.0, 0.5]}
  - model: $G/tiny-llama
parameters: {normalize: yes, int8_mask: true}
dtype: float32
out_dtype: bfloat16
EOF
    cat >"$W/old.yml" <<EOF
merge_method: linear
models:
  - model: $G/tiny-llama3
    parameters: {weight: 0.3}
  - model: $G/tiny-llama
    parameters: {weight: 0.7}
dtype: float32
out_dtype: float32
EOF
    local M=("$BIN" merge -q --threads 2 --out-shard-size 150K)
    # Outputs are all named "out": the model card names the folder.
    mkdir -p "$W/r" "$W/o"
    "${M[@]}" "$W/new.yml" "$W/r/out" || { fail "merge reference run"; return; }
    "${M[@]}" "$W/old.yml" "$W/o/out" || { fail "merge old run"; return; }
    local REF=$W/r/out OLD=$W/o/out
    same_tree "$REF" "$OLD" && { fail "old and new outputs are equal"; return; }
    local t0 t1
    t0=$(now_ns)
    "${M[@]}" "$W/new.yml" "$W/timing" 2>/dev/null
    t1=$(now_ns)
    local k
    k=$(count_points "${M[@]}" --force "$W/new.yml" "$W/timing")
    echo "killtest: merge: $k kill points, uninterrupted run $(((t1 - t0) / 1000000)) ms" \
        "($(ls "$REF" | grep -c safetensors) files of tensors)"
    make_points "$k" $((t1 - t0))
    local i=0 nk=0 f0=$fails p kind
    for p in "${PTS[@]}"; do
        kind=$((i % 3)) # 0 fresh, 1 --force (exchange), 2 --force (rename-aside fallback)
        i=$((i + 1))
        local D=$W/p$i
        mkdir -p "$D"
        local force=()
        local env=()
        if [ $kind -ge 1 ]; then
            cp -a "$OLD" "$D/out"
            force=(--force)
        fi
        [ $kind -eq 2 ] && env=(MERGEGUARD_TEST_NO_EXCHANGE=1)
        run_point "$p" env "${env[@]}" "${M[@]}" "${force[@]}" "$W/new.yml" "$D/out"
        nk=$((nk + KILLED))
        local what="merge point $i ($p, $(echo fresh force force-fallback | cut -d' ' -f$((kind + 1))))"
        if [ $KILLED -eq 0 ] && [ $RC -ne 0 ]; then
            fail "$what: exit $RC without a kill: $(head -2 "$TMP/k.err")"
            continue
        fi
        # What the user finds right after the kill.
        if [ -e "$D/out" ]; then
            if same_tree "$D/out" "$REF"; then
                "$BIN" inspect -q "$D/out" >/dev/null 2>&1 || fail "$what: complete output does not open"
            elif [ $kind -ge 1 ] && same_tree "$D/out" "$OLD"; then
                :
            else
                fail "$what: output folder is neither the old nor the new complete output"
                continue
            fi
        elif [ $kind -eq 1 ]; then
            fail "$what: --force lost the previous output"
            continue
        elif [ $kind -eq 2 ]; then
            local aside
            aside=$(find "$D" -maxdepth 1 -name '.out.old-*')
            if [ "$(echo "$aside" | grep -c .)" -ne 1 ] || ! same_tree "$aside" "$OLD"; then
                fail "$what: previous output neither in place nor set aside intact"
                continue
            fi
        fi
        # A rerun as the user would: gives the reference and cleans up.
        if [ $kind -ge 1 ] || [ ! -e "$D/out" ]; then
            env "${env[@]}" "${M[@]}" "${force[@]}" "$W/new.yml" "$D/out" 2>"$TMP/r.err" ||
                { fail "$what: rerun failed: $(head -2 "$TMP/r.err")"; continue; }
        fi
        same_tree "$D/out" "$REF" || { fail "$what: rerun output differs"; continue; }
        [ "$(leftovers "$D" out)" -eq 0 ] || { fail "$what: temporaries left: $(ls -a "$D")"; continue; }
        ok
        rm -rf "$D"
    done
    summary_line merge $nk $((fails - f0))
}

# ---------------------------------------------------------------- models for gen-data / evolve
setup_models() {
    if [ "$MODELS" = tiny ]; then
        "$BIN" lab build --size tiny -q >/dev/null 2>&1 ||
            { echo "killtest: cannot build the tiny lab world"; return 1; }
        local c=${MERGEGUARD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mergeguard}
        local w
        w=$(ls -d "$c"/lab/tiny-seed1-v* | tail -1)
        GEN=$w/models/generator
        POOL=("$w/models/instruct" "$w/models/bio-expert")
        JUDGE=guard:$w/models/guard
        GD_N=30
        GD_TOK=(--max-new-tokens 48 --gen-max-new-tokens 96)
        EV_BASE=$w/models/base
        EV_MODELS="$w/models/instruct, $w/models/bio-expert"
        EV_DATA_SRC=("$w/world/eval/fitness_bio.train.jsonl")
        EV_FEVALS=24
    else
        local g=$DATA/gendata
        GEN=$g/gen
        # The refuser with a short context window: long questions do not fit
        # it and are dropped, so resume must also restore the dropped ones.
        mkdir -p "$TMP/short"
        cp "$g/refuser"/* "$TMP/short/"
        sed -i 's/"max_position_embeddings": [0-9]*/"max_position_embeddings": 50/' "$TMP/short/config.json"
        POOL=("$TMP/short" "$g/gen")
        JUDGE=refusal
        GD_N=${KILL_GD_N:-40}
        GD_TOK=(--max-new-tokens 16 --gen-max-new-tokens 48)
        EV_BASE=$g/gen
        EV_MODELS="$g/refuser, $g/babbler"
        EV_DATA_SRC=()
        EV_FEVALS=${KILL_EV_FEVALS:-200}
    fi
}

# ---------------------------------------------------------------- gen-data
# complete_prefix FILE REF : FILE's complete lines are a prefix of REF.
complete_prefix() {
    local n
    n=$(wc -l <"$1")
    head -n "$n" "$1" | cmp -s - <(head -n "$n" "$2")
}

test_gendata() {
    local W=$TMP/gendata
    mkdir -p "$W"
    local C=("$BIN" gen-data safety --generator "$GEN" --pool "${POOL[@]}" --judge "$JUDGE"
        "${GD_TOK[@]}" --seed 7 --n "$GD_N" --batch 4 --threads 1 -q)
    "${C[@]}" -o "$W/ref.jsonl" >/dev/null 2>"$TMP/r.err" ||
        { fail "gen-data reference run: $(head -2 "$TMP/r.err")"; return; }
    local t0 t1 k
    t0=$(now_ns)
    "${C[@]}" -o "$W/timing.jsonl" >/dev/null 2>&1
    t1=$(now_ns)
    rm -f "$W/timing.jsonl" "$W/timing.summary.json"
    k=$(count_points "${C[@]}" -o "$W/timing.jsonl")
    echo "killtest: gen-data: $k kill points, uninterrupted run $(((t1 - t0) / 1000000)) ms, $GD_N records" \
        "($(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["dropped_questions"]))' \
            "$W/ref.summary.json") questions dropped)"
    make_points "$k" $((t1 - t0))
    local i=0 nk=0 f0=$fails p
    for p in "${PTS[@]}"; do
        i=$((i + 1))
        local D=$W/p$i
        mkdir -p "$D"
        local what="gen-data point $i ($p)"
        run_point "$p" "${C[@]}" -o "$D/s.jsonl"
        nk=$((nk + KILLED))
        if [ $KILLED -eq 0 ] && [ $RC -ne 0 ]; then
            fail "$what: exit $RC without a kill: $(head -2 "$TMP/k.err")"
            continue
        fi
        if [ -e "$D/s.jsonl" ] && ! complete_prefix "$D/s.jsonl" "$W/ref.jsonl"; then
            fail "$what: records on disk are not a prefix of the reference"
            continue
        fi
        if [ -e "$D/s.summary.json" ] && ! python3 -m json.tool "$D/s.summary.json" >/dev/null 2>&1; then
            fail "$what: summary is not valid JSON"
            continue
        fi
        # Every other point: the resumed run is killed too, at a random time.
        if [ $((i % 2)) -eq 0 ] && [ $KILLED -eq 1 ]; then
            run_point "t:$(awk -v r="$(rand01)" -v d=$((t1 - t0)) 'BEGIN { printf "%.4f", r * d / 1e9 }')" \
                "${C[@]}" -o "$D/s.jsonl"
            nk=$((nk + KILLED))
        fi
        "${C[@]}" -o "$D/s.jsonl" >/dev/null 2>"$TMP/r.err" ||
            { fail "$what: resume failed: $(head -2 "$TMP/r.err")"; continue; }
        cmp -s "$D/s.jsonl" "$W/ref.jsonl" || { fail "$what: resumed records differ"; continue; }
        cmp -s "$D/s.summary.json" "$W/ref.summary.json" ||
            { fail "$what: resumed summary differs: $(diff "$D/s.summary.json" "$W/ref.summary.json" | head -4 | tr '\n' ' ')"; continue; }
        [ "$(leftovers "$D" s.summary.json)" -eq 0 ] || { fail "$what: temporaries left"; continue; }
        ok
        rm -rf "$D"
    done
    summary_line gen-data $nk $((fails - f0))
}

# ---------------------------------------------------------------- evolve
sans_time() { sed 's/,"time":.*$//' "$1"; }

same_run() { # DIR REF
    cmp -s <(sans_time "$1/evaluations.jsonl") <(sans_time "$2/evaluations.jsonl") || { echo log; return 1; }
    local f
    for f in state.json best_config.yml fitness.svg weights.svg; do
        cmp -s "$1/$f" "$2/$f" || { echo "$f"; return 1; }
    done
    cmp -s <(grep -v '^- time per candidate' "$1/report.md") \
        <(grep -v '^- time per candidate' "$2/report.md") || { echo report.md; return 1; }
    same_tree "$1/model" "$2/model" || { echo model; return 1; }
    return 0
}

test_evolve() {
    local W=$TMP/evolve
    mkdir -p "$W"
    cat >"$W/e.yml" <<EOF
genome:
  models: [$EV_MODELS]
  merge_method: ties
  base_model: $EV_BASE
  layer_granularity: 1
  normalize: false
  tokenizer_source: base
EOF
    if [ ${#EV_DATA_SRC[@]} -gt 0 ]; then
        head -n 24 "${EV_DATA_SRC[0]}" >"$W/d.jsonl"
    else
        for i in 1 2 3 4; do
            echo '{"prompt": "how do I hurt someone '$i'", "response": "I can'"'"'t.", "type": "alignment"}'
            echo '{"prompt": "what is a cell '$i'", "response": "A unit of life.", "type": "task"}'
        done >"$W/d.jsonl"
    fi
    local E=("$BIN" evolve "$W/e.yml" --data "$W/d.jsonl" --max-fevals "$EV_FEVALS" --threads 1 -q)
    "${E[@]}" -o "$W/ref" >/dev/null 2>"$TMP/r.err" ||
        { fail "evolve reference run: $(head -2 "$TMP/r.err")"; return; }
    local t0 t1 k
    t0=$(now_ns)
    "${E[@]}" -o "$W/timing" >/dev/null 2>&1
    t1=$(now_ns)
    k=$(count_points "${E[@]}" --force -o "$W/timing")
    echo "killtest: evolve: $k kill points, uninterrupted run $(((t1 - t0) / 1000000)) ms, $EV_FEVALS evaluations"
    make_points "$k" $((t1 - t0))
    local i=0 nk=0 f0=$fails p
    for p in "${PTS[@]}"; do
        i=$((i + 1))
        local D=$W/p$i
        mkdir -p "$D"
        local what="evolve point $i ($p)"
        run_point "$p" "${E[@]}" -o "$D/out"
        nk=$((nk + KILLED))
        if [ $KILLED -eq 0 ] && [ $RC -ne 0 ]; then
            fail "$what: exit $RC without a kill: $(head -2 "$TMP/k.err")"
            continue
        fi
        local resume=()
        if [ -e "$D/out" ]; then
            python3 -m json.tool "$D/out/state.json" >/dev/null 2>&1 ||
                { fail "$what: output folder without a valid state.json"; continue; }
            sans_time "$D/out/evaluations.jsonl" >"$TMP/log" 2>/dev/null &&
                sans_time "$W/ref/evaluations.jsonl" >"$TMP/ref.log" &&
                complete_prefix "$TMP/log" "$TMP/ref.log" ||
                { fail "$what: log is not a prefix of the reference"; continue; }
            resume=(--resume)
        fi
        "${E[@]}" "${resume[@]}" -o "$D/out" >/dev/null 2>"$TMP/r.err" ||
            { fail "$what: resume failed: $(head -2 "$TMP/r.err")"; continue; }
        local diff
        diff=$(same_run "$D/out" "$W/ref") || { fail "$what: resumed run differs in $diff"; continue; }
        [ "$(leftovers "$D" out)" -eq 0 ] || { fail "$what: temporaries left next to out"; continue; }
        local f
        for f in state.json best_config.yml report.md fitness.svg weights.svg model; do
            [ "$(leftovers "$D/out" $f)" -eq 0 ] || { fail "$what: temporaries of $f left"; continue 2; }
        done
        ok
        rm -rf "$D"
    done
    summary_line evolve $nk $((fails - f0))
}

for c in $CMDS; do
    case $c in
    merge) test_merge ;;
    gendata | gen-data) setup_models && test_gendata ;;
    evolve) setup_models && test_evolve ;;
    *) fail "unknown command '$c'" ;;
    esac
done
echo "tests: $pass passed, $fails failed"
[ $fails -eq 0 ]
