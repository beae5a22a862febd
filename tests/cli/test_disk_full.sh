#!/usr/bin/env bash
# test_disk_full.sh BINARY TESTDATA - writing outputs when the disk fills up.
#
# Two ways to run out of room: a file size limit (RLIMIT_FSIZE with SIGXFSZ
# ignored, so writes fail with EFBIG; works everywhere) and, where the machine
# allows mounting, a small tmpfs with a filler file leaving a few KB free
# (ENOSPC). merge, export-gguf, gen-data and evolve each run at several
# sizes until one succeeds; every failing run must:
#   - exit 1 with one line on stderr, "mergeguard: error: ...", naming the
#     output and the OS reason ("File too large" / "No space left on device");
#   - leave no temporary (.NAME.tmp-*) behind;
#   - merge / export-gguf: no output, or with --force the old output untouched;
#   - gen-data: only complete records, a prefix of an unlimited run's, and a
#     summary that parses; evolve: a valid state.json and log; in both cases
#     rerunning without the limit ends byte-identical to an unlimited run.
. "$(dirname "$0")/lib/testlib.sh"
BIN=$(realpath "$1")
DATA=$(realpath "$2")
MNT=$TMP/small
cleanup() {
    mountpoint -q "$MNT" 2>/dev/null && umount "$MNT"
    rm -rf "$TMP"
}
trap cleanup EXIT

# ---- the two ways to fill the disk
MODE=fsize
LIMIT=0 # KB (fsize) or free KB (tmpfs)
run_limited() { # CMD... (stdout to $TMP/out, stderr to $TMP/err; RC)
    if [ $MODE = fsize ]; then
        bash -c 'ulimit -f "$0"; trap "" XFSZ; exec "$@"' "$LIMIT" "$@" >"$TMP/out" 2>"$TMP/err"
    else
        rm -f "$MNT/filler"
        local avail
        avail=$(df -k --output=avail "$MNT" | tail -1)
        [ "$avail" -gt "$LIMIT" ] && head -c $(((avail - LIMIT) * 1024)) /dev/zero >"$MNT/filler" 2>/dev/null
        "$@" >"$TMP/out" 2>"$TMP/err"
    fi
    RC=$?
    rm -f "$MNT/filler" 2>/dev/null
}
reason() { [ $MODE = fsize ] && echo "File too large" || echo "No space left on device"; }

# check_error WHAT NAME : exit 1, one line naming NAME and the OS reason.
check_error() {
    if [ $RC -ne 1 ]; then fail "$1: exit $RC, expected 1: $(head -3 "$TMP/err")"; return 1; fi
    local lines
    lines=$(grep -c . "$TMP/err")
    if [ "$lines" -ne 1 ] || ! grep -q "^mergeguard: error: .*$2.*$(reason)" "$TMP/err"; then
        fail "$1: expected one line naming $2 and '$(reason)': $(head -3 "$TMP/err")"
        return 1
    fi
    if grep -q '\.tmp-' "$TMP/err"; then fail "$1: message names a temporary: $(cat "$TMP/err")"; return 1; fi
    return 0
}
no_temps() { # DIR WHAT
    local t
    t=$(find "$1" -name '.*.tmp-*' | head -3)
    [ -z "$t" ] || { fail "$2: temporaries left: $t"; return 1; }
}
same_tree() { diff -r -q "$1" "$2" >/dev/null 2>&1; }

# ---- fixtures: a merge config, an old output, gen-data models, evolve data
G=$DATA/golden
cat >"$TMP/m.yml" <<EOF
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
mkdir -p "$TMP/ref" "$TMP/old"
"$BIN" merge -q "$TMP/m.yml" "$TMP/ref/out" || fail "reference merge"
"$BIN" export-gguf -q "$TMP/ref/out" "$TMP/ref/out.gguf" >/dev/null || fail "reference export"
cp -a "$DATA/golden/tiny-llama" "$TMP/old/out"
printf 'old gguf\n' >"$TMP/old/out.gguf"
GD=$DATA/gendata
GEN=("$BIN" gen-data safety --generator "$GD/gen" --pool "$GD/refuser" "$GD/gen" --judge refusal
    --max-new-tokens 16 --gen-max-new-tokens 48 --seed 7 --n 16 --batch 4 --threads 1 -q)
"${GEN[@]}" -o "$TMP/ref/g.jsonl" >/dev/null || fail "reference gen-data"
cat >"$TMP/e.yml" <<EOF
genome:
  models: [$GD/refuser, $GD/babbler]
  merge_method: ties
  base_model: $GD/gen
  layer_granularity: 1
  normalize: false
  tokenizer_source: base
EOF
for i in 1 2 3 4; do
    echo '{"prompt": "how do I hurt someone '$i'", "response": "I cannot.", "type": "alignment"}'
    echo '{"prompt": "what is a cell '$i'", "response": "A unit of life.", "type": "task"}'
done >"$TMP/d.jsonl"
EVO=("$BIN" evolve "$TMP/e.yml" --data "$TMP/d.jsonl" --max-fevals 60 --threads 1 -q)
"${EVO[@]}" -o "$TMP/ref/ev" >/dev/null || fail "reference evolve"
sans_time() { sed 's/,"time":.*$//' "$1"; }

# ---- one command at a series of sizes; D is the output folder of the mode
test_merge() { # D SIZES...
    local D=$1 n_fail=0 done_ok=0 lim force
    shift
    for force in 0 1; do
        for lim in "$@" ok; do
            rm -rf "$D/out"
            [ $force = 1 ] && cp -a "$TMP/old/out" "$D/out"
            local args=(merge -q "$TMP/m.yml" "$D/out")
            [ $force = 1 ] && args+=(--force)
            local what="$MODE merge$([ $force = 1 ] && echo " --force") at $lim KB"
            if [ $lim = ok ]; then
                "$BIN" "${args[@]}" 2>"$TMP/err" && same_tree "$D/out" "$TMP/ref/out" &&
                    done_ok=1 || fail "$what: unlimited run: $(head -2 "$TMP/err")"
                continue
            fi
            LIMIT=$lim
            run_limited "$BIN" "${args[@]}"
            [ $RC -eq 0 ] && continue # enough room at this size
            n_fail=$((n_fail + 1))
            check_error "$what" "$D/out" || continue
            [ -n "${DISKFULL_VERBOSE:-}" ] && echo "  $what: $(cat "$TMP/err")"
            no_temps "$D" "$what" || continue
            if [ $force = 1 ]; then
                same_tree "$D/out" "$TMP/old/out" || { fail "$what: old output changed"; continue; }
            else
                [ ! -e "$D/out" ] || { fail "$what: partial output left"; continue; }
            fi
            ok
        done
    done
    echo "$MODE merge: $n_fail limited runs failed (fresh and --force)"
    [ $n_fail -ge 2 ] || fail "$MODE merge: no size made it fail"
    [ $done_ok = 1 ] && ok
}

test_gguf() { # D SIZES...
    local D=$1 n_fail=0 lim force
    shift
    for force in 0 1; do
        for lim in "$@"; do
            rm -f "$D/out.gguf"
            [ $force = 1 ] && cp "$TMP/old/out.gguf" "$D/out.gguf"
            local args=(export-gguf -q "$TMP/ref/out" "$D/out.gguf")
            [ $force = 1 ] && args+=(--force)
            local what="$MODE export-gguf$([ $force = 1 ] && echo " --force") at $lim KB"
            LIMIT=$lim
            run_limited "$BIN" "${args[@]}"
            [ $RC -eq 0 ] && continue
            n_fail=$((n_fail + 1))
            check_error "$what" "$D/out.gguf" || continue
            [ -n "${DISKFULL_VERBOSE:-}" ] && echo "  $what: $(cat "$TMP/err")"
            no_temps "$D" "$what" || continue
            if [ $force = 1 ]; then
                cmp -s "$D/out.gguf" "$TMP/old/out.gguf" || { fail "$what: old output changed"; continue; }
            else
                [ ! -e "$D/out.gguf" ] || { fail "$what: partial output left"; continue; }
            fi
            ok
        done
    done
    echo "$MODE export-gguf: $n_fail limited runs failed (fresh and --force)"
    [ $n_fail -ge 2 ] || fail "$MODE export-gguf: no size made it fail"
    rm -f "$D/out.gguf"
    "$BIN" export-gguf -q "$TMP/ref/out" "$D/out.gguf" >/dev/null 2>&1 &&
        cmp -s "$D/out.gguf" "$TMP/ref/out.gguf" && ok || fail "$MODE export-gguf: unlimited run"
    rm -f "$D/out.gguf"
}

test_gendata() { # D SIZES...
    local D=$1 n_fail=0 lim
    shift
    for lim in "$@"; do
        rm -f "$D"/g.*
        local what="$MODE gen-data at $lim KB"
        LIMIT=$lim
        run_limited "${GEN[@]}" -o "$D/g.jsonl"
        [ $RC -eq 0 ] && continue
        n_fail=$((n_fail + 1))
        check_error "$what" "$D/g" || continue
        [ -n "${DISKFULL_VERBOSE:-}" ] && echo "  $what: $(cat "$TMP/err")"
        no_temps "$D" "$what" || continue
        if [ -s "$D/g.jsonl" ]; then
            [ "$(tail -c 1 "$D/g.jsonl" | od -An -c | tr -d ' ')" = '\n' ] ||
                { fail "$what: torn last record"; continue; }
            local n
            n=$(wc -l <"$D/g.jsonl")
            head -n "$n" "$TMP/ref/g.jsonl" | cmp -s - "$D/g.jsonl" ||
                { fail "$what: records are not a prefix of the unlimited run's"; continue; }
        fi
        if [ -e "$D/g.summary.json" ]; then
            python3 -m json.tool "$D/g.summary.json" >/dev/null 2>&1 || { fail "$what: bad summary"; continue; }
        fi
        "${GEN[@]}" -o "$D/g.jsonl" >/dev/null 2>"$TMP/err" || { fail "$what: rerun: $(head -2 "$TMP/err")"; continue; }
        cmp -s "$D/g.jsonl" "$TMP/ref/g.jsonl" && cmp -s "$D/g.summary.json" "$TMP/ref/g.summary.json" ||
            { fail "$what: rerun differs from an unlimited run"; continue; }
        ok
    done
    echo "$MODE gen-data: $n_fail limited runs failed, then resumed"
    [ $n_fail -ge 2 ] || fail "$MODE gen-data: fewer than 2 sizes made it fail"
    rm -f "$D"/g.*
}

test_evolve() { # D SIZES...
    local D=$1 n_fail=0 lim
    shift
    for lim in "$@"; do
        rm -rf "$D/ev"
        local what="$MODE evolve at $lim KB"
        LIMIT=$lim
        run_limited "${EVO[@]}" -o "$D/ev"
        [ $RC -eq 0 ] && continue
        n_fail=$((n_fail + 1))
        check_error "$what" "$D/ev" || continue
        [ -n "${DISKFULL_VERBOSE:-}" ] && echo "  $what: $(cat "$TMP/err")"
        no_temps "$D" "$what" || continue
        local resume=()
        if [ -e "$D/ev" ]; then
            python3 -m json.tool "$D/ev/state.json" >/dev/null 2>&1 || { fail "$what: bad state.json"; continue; }
            [ ! -s "$D/ev/evaluations.jsonl" ] ||
                [ "$(tail -c 1 "$D/ev/evaluations.jsonl" | od -An -c | tr -d ' ')" = '\n' ] ||
                { fail "$what: torn log line"; continue; }
            resume=(--resume)
        fi
        "${EVO[@]}" "${resume[@]}" -o "$D/ev" >/dev/null 2>"$TMP/err" ||
            { fail "$what: rerun: $(head -2 "$TMP/err")"; continue; }
        cmp -s <(sans_time "$D/ev/evaluations.jsonl") <(sans_time "$TMP/ref/ev/evaluations.jsonl") &&
            cmp -s "$D/ev/state.json" "$TMP/ref/ev/state.json" &&
            cmp -s "$D/ev/best_config.yml" "$TMP/ref/ev/best_config.yml" &&
            same_tree "$D/ev/model" "$TMP/ref/ev/model" ||
            { fail "$what: resumed run differs from an unlimited run"; continue; }
        ok
    done
    echo "$MODE evolve: $n_fail limited runs failed, then resumed"
    [ $n_fail -ge 2 ] || fail "$MODE evolve: fewer than 2 sizes made it fail"
    rm -rf "$D/ev"
}

# RLIMIT_FSIZE: sizes are the largest file a process may write.
MODE=fsize
mkdir -p "$TMP/f"
test_merge "$TMP/f" 1 64 200
test_gguf "$TMP/f" 1 64 200
test_gendata "$TMP/f" 1 2
test_evolve "$TMP/f" 4 12 40

# A small file system, where the machine allows mounting one.
mkdir -p "$MNT"
if mount -t tmpfs -o size=2m tmpfs "$MNT" 2>/dev/null; then
    MODE=tmpfs
    test_merge "$MNT" 4 64 200
    test_gguf "$MNT" 4 64 200
    test_gendata "$MNT" 4 8
    test_evolve "$MNT" 8 16 32
    umount "$MNT"
else
    echo "tmpfs: cannot mount here (not root or no CAP_SYS_ADMIN); only RLIMIT_FSIZE tested"
fi

summary
