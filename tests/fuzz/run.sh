#!/bin/sh
# Builds the fuzz targets (clang, libFuzzer, ASan + UBSan, leak detection) and fuzzes each for a
# bounded time, one after the other. Exits non-zero if any target crashed, leaked, tripped a
# sanitizer or a harness check; the input that did is left in build/fuzz/artifacts/<target>/ (keep
# it in tests/fuzz/regressions/<target>/ once understood).
#
#   tests/fuzz/run.sh [SECONDS_PER_TARGET (default 60)] [TARGET[=SECONDS]...]
#   e.g. run.sh 600 png query;  run.sh 60 png idx=20 base64=20  (a time of its own per target)
#   FUZZ_RUNS=N  stop each target after N executions instead (-runs=N), time limit still applies
#   FUZZ_JOBS=N  build with make -jN (default 2)
#   FUZZ_PARALLEL=N  fuzz N targets at a time (default 1; CI uses 2, one per core)
#
# The seed corpus of each target (tests/fuzz/corpus/<target>/) is read, never written: new inputs go
# to build/fuzz/corpus/<target>/, which persists between runs. A summary line per target gives the
# executions, speed, coverage (cov: edges, ft: features) and the corpus size.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"

seconds=${1:-60}
[ $# -gt 0 ] && shift
all=$(cd tests/fuzz && ls fuzz_*.c | sed 's/^fuzz_//; s/\.c$//' | tr '\n' ' ')
targets=${*:-$all}
out=${FUZZ_BUILD:-build/fuzz}

[ -n "${FUZZ_SKIP_BUILD:-}" ] ||
    make --no-print-directory -s -j"${FUZZ_JOBS:-2}" -f tests/fuzz/fuzz.mk FUZZ_BUILD="$out" >/dev/null

# FUZZ_PARALLEL=N: deal the targets round-robin into N groups, run each group as its own run.sh,
# then print each group's output and fail if any group failed
parallel=${FUZZ_PARALLEL:-1}
if [ "$parallel" -gt 1 ]; then
    mkdir -p "$out/logs"
    pids=""
    g=0
    while [ $g -lt "$parallel" ]; do
        group=$(echo $targets | tr ' ' '\n' | awk -v n="$parallel" -v g=$g 'NR % n == g' | tr '\n' ' ')
        if [ -n "$group" ]; then
            # shellcheck disable=SC2086
            FUZZ_PARALLEL=1 FUZZ_SKIP_BUILD=1 "$0" "$seconds" $group >"$out/logs/group-$g.out" 2>&1 &
            pids="$pids $!"
        fi
        g=$((g + 1))
    done
    rc=0
    for p in $pids; do wait "$p" || rc=1; done
    g=0
    while [ $g -lt "$parallel" ]; do
        [ -f "$out/logs/group-$g.out" ] && cat "$out/logs/group-$g.out"
        rm -f "$out/logs/group-$g.out"
        g=$((g + 1))
    done
    [ $rc -eq 0 ] || echo "run.sh: FAILED: see the FAILED lines above" >&2
    exit $rc
fi

dict_for() {
    case "$1" in
        png) echo png ;;
        query | latent_query) echo query ;;
        safetensors) echo safetensors ;;
        idx) echo idx ;;
        base64) echo base64 ;;
        *) echo json ;;
    esac
}

# png: max_len from the largest seed would be ~1 KB; larger PNGs reach more of libpng
max_len_for() {
    case "$1" in
        safetensors) echo 65536 ;;
        png | encode_json | interpolate_json) echo 16384 ;;
        *) echo 8192 ;;
    esac
}

failed=""
summary=""
for spec in $targets; do
    t=${spec%%=*}
    secs=$seconds
    [ "$t" = "$spec" ] || secs=${spec#*=}
    bin="$out/fuzz_$t"
    [ -x "$bin" ] || { echo "run.sh: no target '$t' (have: $all)" >&2; exit 2; }
    work="$out/corpus/$t"
    artifacts="$out/artifacts/$t"
    log="$out/logs/$t.log"
    mkdir -p "$work" "$artifacts" "$(dirname "$log")"
    echo "== fuzz_$t: ${secs} s${FUZZ_RUNS:+, at most $FUZZ_RUNS runs}"
    started=$(date +%s)
    set +e
    ASAN_OPTIONS="${ASAN_OPTIONS:-halt_on_error=1:detect_leaks=1:allocator_may_return_null=1}" \
    UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}" \
    "$bin" -max_total_time="$secs" ${FUZZ_RUNS:+-runs="$FUZZ_RUNS"} -print_final_stats=1 \
        -detect_leaks=1 -timeout=25 -rss_limit_mb=2560 -max_len="$(max_len_for "$t")" \
        -dict="tests/fuzz/dict/$(dict_for "$t").dict" -artifact_prefix="$artifacts/" \
        "$work" "tests/fuzz/corpus/$t" >"$log" 2>&1
    rc=$?
    set -e
    elapsed=$(($(date +%s) - started))
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    last=$(grep -E '^#[0-9]+' "$log" | tail -1)
    cov=$(echo "$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
    ft=$(echo "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
    corp=$(echo "$last" | sed -n 's/.* corp: \([0-9]*\/[0-9]*[a-zA-Z]*\).*/\1/p')
    line=$(printf "%-18s %12s execs %8s/s  cov %6s  ft %7s  corpus %-12s %5ss  " "$t" "${execs:-?}" \
        "${speed:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$elapsed")
    if [ $rc -ne 0 ]; then
        failed="$failed $t"
        line="$line FAILED (exit $rc; see $log and $artifacts/)"
        grep -E 'ERROR: |harness check failed|SUMMARY: |runtime error' "$log" | head -5 | sed 's/^/    /'
    else
        line="${line}ok"
    fi
    echo "$line"
    summary="$summary$line
"
done

echo
echo "fuzz summary:"
printf "%s" "$summary"
if [ -n "$failed" ]; then
    echo "run.sh: FAILED:$failed" >&2
    exit 1
fi
