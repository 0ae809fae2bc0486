#!/bin/sh
# make test-valgrind: the HTTP suite with every server it starts under valgrind memcheck
# (--leak-check=full; any error, definite or possible leak makes that server exit 97 and its test
# fail), then one line: servers run, errors, leaks. About 4 minutes on 2 cores; the 5 timing-based
# tests (slow clients, drain under SIGTERM, a burst filling batches) skip themselves under valgrind,
# as tests/http/runner.py's ALLOWED_SKIPS lists.
#
#   tests/hardening/valgrind.sh [BUILD_DIR (build)] [MNIST_DIR] [-k NAME]...   (-k: a subset)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../.."
build=${1:-build}
mnist=${2:-../shared/data/mnist}
[ $# -gt 0 ] && shift
[ $# -gt 0 ] && shift
command -v valgrind >/dev/null || { echo "valgrind.sh: valgrind is missing (apt-get install valgrind)" >&2; exit 2; }
mkdir -p build/hardening
log=build/hardening/valgrind.log
status=0
tests/http/run.sh "$build" "$mnist" --valgrind "$@" >"$log" 2>&1 || status=$?
tail -3 "$log"
servers=$(grep -c 'ERROR SUMMARY:' "$log" || true)
dirty=$(grep 'ERROR SUMMARY:' "$log" | grep -vc 'ERROR SUMMARY: 0 errors' || true)
clean=$(grep -c 'All heap blocks were freed -- no leaks are possible' "$log" || true)
definite=$(grep 'definitely lost:' "$log" | grep -vc 'definitely lost: 0 bytes' || true)
echo "valgrind: $servers servers under memcheck; $dirty with errors; $clean freed every heap block; $definite with definite leaks"
if [ "$servers" -eq 0 ]; then
    echo "valgrind.sh: FAILED: no server ran under valgrind (see $log)" >&2
    exit 1
fi
if [ $status -ne 0 ] || [ "$dirty" -ne 0 ] || [ "$definite" -ne 0 ]; then
    echo "valgrind.sh: FAILED (see $log)" >&2
    exit 1
fi
