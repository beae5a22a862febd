# testlib.sh - sourced by the shell tests in tests/cli (a helper, not a test:
# CMake collects only tests/cli/*.sh). Gives each test a scratch directory
# $TMP removed at exit, pass/fail counting and the closing summary.
#   fail MSG          count a failure and print it
#   ok                count a pass
#   check EXPR [MSG]  eval EXPR; a failure prints MSG (default EXPR)
#   expect_exit CODE NEEDLE ARGS...
#                     run "$BIN" ARGS: exit CODE, NEEDLE (if not empty) in its output,
#                     and on failure exactly one line on stderr
#   summary           last command of a test: the counts, non-zero status on any failure
# A test with its own cleanup sets its trap after sourcing (and removes $TMP).
set -u
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fails=0
pass=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { pass=$((pass + 1)); }
check() { if eval "$1"; then ok; else fail "${2:-$1}"; fi; }
summary() {
    echo "tests: $pass passed, $fails failed"
    [ "$fails" -eq 0 ]
}
expect_exit() {
    local code=$1 needle=$2
    shift 2
    "$BIN" "$@" >"$TMP/out" 2>"$TMP/err"
    local rc=$?
    if [ $rc -ne "$code" ]; then fail "$*: exit $rc, expected $code: $(head -3 "$TMP/err")"; return; fi
    if [ -n "$needle" ] && ! grep -qF -- "$needle" "$TMP/err" "$TMP/out"; then
        fail "$*: '$needle' not in output: $(head -3 "$TMP/err")"
        return
    fi
    if [ "$code" -ne 0 ] && [ "$(grep -c . "$TMP/err")" -ne 1 ]; then
        fail "$*: expected one line on stderr: $(cat "$TMP/err")"
        return
    fi
    ok
}
