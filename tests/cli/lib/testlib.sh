# testlib.sh - sourced by the shell tests in tests/cli (a helper, not a test:
# CMake collects only tests/cli/*.sh). Gives each test a scratch directory
# $TMP removed at exit, pass/fail counting and the closing summary.
#   fail MSG          count a failure and print it
#   ok                count a pass
#   check EXPR [MSG]  eval EXPR; a failure prints MSG (default EXPR)
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
