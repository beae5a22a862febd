#!/usr/bin/env bash
# Runs one libFuzzer target of tests/fuzz/ (ASan + UBSan, clang).
#
#   bench/fuzz.sh TARGET SECONDS [LIBFUZZER_ARGS...]   fuzz for SECONDS
#   bench/fuzz.sh --minimize TARGET [MAX_KB]           merge the work corpus into
#                                                      tests/fuzz/corpus/TARGET (minimized;
#                                                      largest inputs dropped past MAX_KB, 40)
#   bench/fuzz.sh --list                               the targets
#
# Configures build-fuzz/ with clang (tests/fuzz/CMakeLists.txt, a standalone
# project: the normal gcc build is unaffected) and builds fuzz_TARGET. The
# run starts from the committed corpus tests/fuzz/corpus/TARGET (read only)
# and grows build-fuzz/corpus/TARGET; tests/fuzz/dict/TARGET.dict is the
# dictionary when present. Crashes go to build-fuzz/artifacts/TARGET/; a
# reproducer belongs in tests/fuzz/regress/TARGET/ once fixed (replayed by
# test_fuzz_replay in `make test`). Needs: scripts/setup-deps --with-fuzz.
# Env: MG_FUZZ_BUILD (default build-fuzz), MG_FUZZ_JOBS (build jobs, 2).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${MG_FUZZ_BUILD:-$root/build-fuzz}
jobs=${MG_FUZZ_JOBS:-2}
src=$root/tests/fuzz

usage() {
  sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

targets() {
  for f in "$src"/*.c; do
    n=$(basename "$f" .c)
    [[ $n == test_* || $n == libfuzzer_main ]] || echo "$n"
  done
}

build_target() {
  local t=$1
  local known
  known=$(targets)
  if ! grep -qx -- "$t" <<<"$known"; then
    echo "fuzz.sh: unknown target '$t' (known: $(tr '\n' ' ' <<<"$known"))" >&2
    exit 2
  fi
  if ! command -v clang >/dev/null; then
    echo "fuzz.sh: clang not found (scripts/setup-deps --with-fuzz)" >&2
    exit 2
  fi
  if [[ ! -f $build/CMakeCache.txt ]]; then
    cmake -S "$src" -B "$build" -DCMAKE_C_COMPILER=clang >/dev/null
  fi
  cmake --build "$build" -j "$jobs" --target "fuzz_$t" >/dev/null
}

[[ $# -ge 1 ]] || usage
case $1 in
  --list) targets; exit 0 ;;
  --minimize)
    [[ $# -eq 2 || $# -eq 3 ]] || usage
    t=$2 max_kb=${3:-40}
    build_target "$t"
    committed=$src/corpus/$t
    work=$build/corpus/$t
    mkdir -p "$committed" "$work"
    fresh=$(mktemp -d "$build/min-$t.XXXXXX")
    # -merge=1 keeps the smallest inputs that together reach every feature.
    "$build/fuzz_$t" -merge=1 -rss_limit_mb=2048 -timeout=20 "$fresh" "$committed" "$work" \
      2>"$build/minimize-$t.log"
    # Keep the committed corpus small: drop the largest inputs past the budget
    # (libFuzzer's merge already prefers small inputs for the same features).
    while (( $(find "$fresh" -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}') > max_kb * 1024 )); do
      rm -f "$(ls -S "$fresh" | head -1 | sed "s|^|$fresh/|")"
    done
    rm -f "$committed"/*
    cp "$fresh"/* "$committed"/
    rm -rf "$fresh"
    echo "fuzz.sh: $t corpus: $(ls "$committed" | wc -l) files, $(du -sh --apparent-size "$committed" | cut -f1)"
    exit 0
    ;;
  -*) usage ;;
esac

[[ $# -ge 2 && $2 =~ ^[0-9]+$ ]] || usage
t=$1 secs=$2
shift 2
build_target "$t"
mkdir -p "$build/corpus/$t" "$build/artifacts/$t" "$src/corpus/$t"
dict=()
[[ -f $src/dict/$t.dict ]] && dict=(-dict="$src/dict/$t.dict")
# The work corpus comes first: libFuzzer writes new inputs only there.
exec "$build/fuzz_$t" "$build/corpus/$t" "$src/corpus/$t" "${dict[@]}" \
  -max_total_time="$secs" -rss_limit_mb=2048 -malloc_limit_mb=2048 -timeout=10 \
  -artifact_prefix="$build/artifacts/$t/" -print_final_stats=1 "$@"
