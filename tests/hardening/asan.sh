#!/bin/sh
# make test-asan: the whole test suite (unit tests, trainer CLI, HTTP suite) against a build with
# AddressSanitizer + UndefinedBehaviorSanitizer (gcc, `make BUILD=build/asan SANITIZE=1`), then the
# server of that build under wrk over the endpoint mix (with the batcher, then --batching off).
# Every sanitizer report, leaks at exit included, halts the process that hit it and is written to
# BUILD/sanitizer-logs/, so a report from a process whose exit code nobody checks (a client, a server
# a test kills) fails the run too. Exits non-zero on any failure or report.
#
#   tests/hardening/asan.sh [MNIST_DIR (../shared/data/mnist)]
#   ASAN_BUILD=DIR (default build/asan)   LOAD_SECONDS=N (default 20, split 12 + 8)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"
mnist=${1:-../shared/data/mnist}
build=${ASAN_BUILD:-build/asan}
load_seconds=${LOAD_SECONDS:-20}
started=$(date +%s)
export VAE_TEST_MNIST="$mnist" # tests/hardening/bodies.py reads the digits from there
elapsed() { echo "$(($(date +%s) - started)) s"; }

unit_bins=$(for f in tests/unit/test_*.c; do
    n=$(basename "$f" .c)
    echo "$build/tests/$n"
done)
echo "== asan.sh: building $build (gcc, -fsanitize=address,undefined)"
# shellcheck disable=SC2086
${MAKE:-make} --no-print-directory -s -j"${ASAN_JOBS:-2}" BUILD="$build" SANITIZE=1 all $unit_bins

logs="$root/$build/sanitizer-logs"
rm -rf "$logs"
mkdir -p "$logs"
# halt_on_error: the first report ends the process; log_path: one file per reporting process
export ASAN_OPTIONS="halt_on_error=1:abort_on_error=0:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1:log_path=$logs/asan"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$logs/ubsan"

status=0
fail() {
    echo "asan.sh: FAILED: $*" >&2
    status=1
}

echo "== unit tests ($(elapsed))"
# two at a time: test_json_write alone takes about a minute under ASan
# shellcheck disable=SC2086
if ! printf "%s\n" $unit_bins | VAE_MNIST="$mnist" xargs -P "${ASAN_JOBS:-2}" -I{} sh -c \
    'if "{}" >"{}.asan.log" 2>&1; then echo "  $(tail -1 "{}.asan.log")"; else
     echo "  {}: FAILED"; tail -20 "{}.asan.log"; exit 1; fi'; then
    fail "unit tests"
fi

echo "== tests/train/test_cli.sh ($(elapsed))"
tests/train/test_cli.sh "$build" || fail "trainer CLI tests"

echo "== tests/http ($(elapsed))"
tests/http/run.sh "$build" "$mnist" >"$build/http-suite.log" 2>&1 || fail "HTTP suite (see $build/http-suite.log)"
tail -2 "$build/http-suite.log" | sed 's/^/  /'

on=$((load_seconds * 3 / 5))
off=$((load_seconds - on))
echo "== load: wrk over the mix, ${on} s with the batcher, ${off} s with --batching off ($(elapsed))"
tests/hardening/load.sh "$build" "$on" 32 >"$build/load-on.log" 2>&1 ||
    fail "load with the batcher (see $build/load-on.log)"
grep -E '^(mix:|load.sh)' "$build/load-on.log" | sed 's/^/  /'
tests/hardening/load.sh "$build" "$off" 32 --batching off >"$build/load-off.log" 2>&1 ||
    fail "load with --batching off (see $build/load-off.log)"
grep -E '^(mix:|load.sh)' "$build/load-off.log" | sed 's/^/  /'

reports=$(find "$logs" -type f | sort)
if [ -n "$reports" ]; then
    for r in $reports; do
        echo "---- $r" >&2
        head -60 "$r" >&2
    done
    fail "$(echo "$reports" | wc -l) sanitizer report(s) in $logs"
fi

if [ $status -eq 0 ]; then
    echo "asan.sh: whole suite and load under ASan+UBSan: no sanitizer report, all passed ($(elapsed))"
fi
exit $status
