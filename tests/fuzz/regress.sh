#!/bin/sh
# Replays every seed (tests/fuzz/corpus/<target>/) and every kept regression input
# (tests/fuzz/regressions/<target>/: inputs that once crashed, leaked or broke a harness check)
# through its fuzz target, once each, with ASan + UBSan + leak detection. No fuzzing: a few seconds
# in all. This is what `make test` runs. Exits non-zero naming each input that fails.
#
#   tests/fuzz/regress.sh [TARGET...]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"

all=$(cd tests/fuzz && ls fuzz_*.c | sed 's/^fuzz_//; s/\.c$//' | tr '\n' ' ')
targets=${*:-$all}
out=${FUZZ_BUILD:-build/fuzz}

make --no-print-directory -s -j"${FUZZ_JOBS:-2}" -f tests/fuzz/fuzz.mk FUZZ_BUILD="$out" >/dev/null

export ASAN_OPTIONS="${ASAN_OPTIONS:-halt_on_error=1:detect_leaks=1:allocator_may_return_null=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"
mkdir -p "$out/logs"
total=0
bad=""
for t in $targets; do
    bin="$out/fuzz_$t"
    n=0
    for dir in "tests/fuzz/corpus/$t" "tests/fuzz/regressions/$t"; do
        [ -d "$dir" ] || continue
        for f in "$dir"/*; do
            [ -f "$f" ] || continue
            n=$((n + 1))
            # one process per input, so one failure does not hide the next
            if ! "$bin" -timeout=25 -rss_limit_mb=2560 "$f" >"$out/logs/regress.log" 2>&1; then
                bad="$bad
  $t: $f"
                grep -E 'ERROR: |harness check failed|SUMMARY: |runtime error' "$out/logs/regress.log" |
                    head -3 | sed 's/^/      /'
            fi
        done
    done
    total=$((total + n))
    printf "  %-18s %4d inputs\n" "$t" "$n"
done
if [ -n "$bad" ]; then
    echo "fuzz regressions: FAILED on:$bad" >&2
    exit 1
fi
echo "fuzz regressions: $total inputs, all pass"
