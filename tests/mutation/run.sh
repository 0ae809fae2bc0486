#!/bin/sh
# Mutation testing: applies each one-line mutant of tests/mutation/mutants.txt (mistakes in
# server/*.c and model/*.c) to a scratch copy of the tree, one at a time, and runs the tests; a
# mutant is caught when any suite fails (or times out). Prints one line per mutant and
# "mutation: caught C/T (P%)"; exits 1 when fewer than MUTATION_MIN percent (default 95) are caught.
#
# Run by hand (`make mutation`), not in CI: about 15 s for a mutant the unit tests catch and 1-2 min
# for one that reaches the HTTP suite and the fuzz regressions; some 20-30 minutes for the list.
#
#   tests/mutation/run.sh [ID...]        (default: every mutant)
#   MNIST=DIR (../shared/data/mnist)  MUTATION_TREE=DIR (build/mutation/tree)  MUTATION_MIN=95
#
# The scratch copy: the tracked and untracked-but-not-ignored files of this work tree, copied into
# build/mutation/tree (inside build/, ignored by git), so a mutant can never be committed and the
# work tree is never touched. Built once as is, every suite must pass there first.
#
# The tests run are those of `make test` (unit tests, trainer CLI, HTTP suite, fuzz regressions),
# minus the suites whose binaries the mutant left byte-identical to the unmutated build: a test
# binary that has not changed cannot tell the mutant apart, so skipping it is equivalent to running
# it (the HTTP suite runs when vae-server or vae-train changed, as it also trains a model). Suites
# run fastest first and stop at the first failure.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"
mutants="$here/mutants.txt"
mnist=$(cd "${MNIST:-../shared/data/mnist}" && pwd)
tree=${MUTATION_TREE:-$root/build/mutation/tree}
min=${MUTATION_MIN:-95}
logs=$root/build/mutation/logs
jobs=${MUTATION_JOBS:-2}
mutate() { python3 "$here/mutate.py" "$@"; }

ids=${*:-$(mutate list "$mutants" | cut -f1)}
[ -n "$ids" ] || { echo "run.sh: no mutants" >&2; exit 2; }
for id in $ids; do mutate list "$mutants" | cut -f1 | grep -qx "$id" || { echo "run.sh: no mutant $id" >&2; exit 2; }; done

echo "== mutation: copying the tree to $tree"
mkdir -p "$tree" "$logs"
git ls-files --cached --others --exclude-standard -z | tar --null -T - -cf - | (cd "$tree" && tar -xf -)
# leftovers of an interrupted run
find "$tree" -name '*.mutation-original' | while read -r f; do mv "$f" "${f%.mutation-original}"; done
[ -d tests/http/node_modules ] && [ ! -e "$tree/tests/http/node_modules" ] && ln -s "$root/tests/http/node_modules" "$tree/tests/http/node_modules"
cd "$tree"

unit_bins=$(for f in tests/unit/test_*.c; do echo "build/tests/$(basename "$f" .c)"; done)
build() {
    make --no-print-directory -s -j"$jobs" all $unit_bins >"$1" 2>&1
}
build_fuzz() {
    make --no-print-directory -s -j"$jobs" -f tests/fuzz/fuzz.mk >>"$1" 2>&1
}
sums() { # checksums of every binary a suite runs
    md5sum build/vae-server build/vae-train $unit_bins build/fuzz/fuzz_* 2>/dev/null
}

# suites FILTER LOG: runs the suites (all, or those whose binaries differ from the baseline's),
# fastest first; prints the name of the first that fails, or nothing
changed() { [ "$1" = all ] || ! grep -qxF "$(md5sum "$2")" build/mutation-baseline.md5; }
suites() {
    for t in $unit_bins; do
        if changed "$1" "$t"; then
            if ! VAE_MNIST="$mnist" timeout 300 "$t" >>"$2" 2>&1; then echo "$(basename "$t")"; return; fi
        fi
    done
    if changed "$1" build/vae-train; then
        if ! timeout 300 tests/train/test_cli.sh build >>"$2" 2>&1; then echo "tests/train"; return; fi
    fi
    if changed "$1" build/vae-server || changed "$1" build/vae-train; then
        if ! timeout 900 tests/http/run.sh build "$mnist" >>"$2" 2>&1; then echo "tests/http"; return; fi
    fi
    build_fuzz "$2" || { echo "fuzz build"; return; }
    fuzz_changed=0
    for b in build/fuzz/fuzz_*; do changed "$1" "$b" && fuzz_changed=1; done
    if [ "$fuzz_changed" = 1 ]; then
        if ! timeout 900 tests/fuzz/regress.sh >>"$2" 2>&1; then echo "tests/fuzz"; return; fi
    fi
}

echo "== mutation: baseline (the unmutated tree: every suite must pass)"
started=$(date +%s)
build "$logs/baseline.log" || { tail -20 "$logs/baseline.log"; echo "run.sh: the tree does not build" >&2; exit 2; }
build_fuzz "$logs/baseline.log" || { tail -20 "$logs/baseline.log"; echo "run.sh: fuzz targets do not build" >&2; exit 2; }
sums >build/mutation-baseline.md5
failed=$(suites all "$logs/baseline.log")
if [ -n "$failed" ]; then
    tail -30 "$logs/baseline.log"
    echo "run.sh: $failed fails on the unmutated tree: fix that first" >&2
    exit 2
fi
echo "   passed in $(($(date +%s) - started)) s"

total=0
caught=0
invalid=0
survivors=""
for id in $ids; do
    line=$(mutate list "$mutants" | awk -F'\t' -v id="$id" '$1 == id {print $2 ": " $3}')
    log="$logs/$id.log"
    t0=$(date +%s)
    if ! mutate apply "$mutants" "$id" "$tree" >"$log" 2>&1; then
        echo "[$id] NOT APPLIED ($(cat "$log")) $line"
        invalid=$((invalid + 1))
        continue
    fi
    if ! build "$log"; then
        echo "[$id] does not compile (not counted): $line"
        invalid=$((invalid + 1))
    else
        total=$((total + 1))
        by=$(suites changed "$log")
        if [ -n "$by" ]; then
            caught=$((caught + 1))
            echo "[$id] caught by $by ($(($(date +%s) - t0)) s): $line"
        else
            survivors="$survivors $id"
            echo "[$id] SURVIVED ($(($(date +%s) - t0)) s): $line"
        fi
    fi
    mutate revert "$mutants" "$id" "$tree"
done
build "$logs/final.log" || true

pct=$([ $total -gt 0 ] && echo $((caught * 100 / total)) || echo 0)
echo
echo "mutation: caught $caught/$total ($pct%)$([ $invalid -gt 0 ] && echo ", $invalid not compiled or not applied"), in $(($(date +%s) - started)) s"
[ -z "$survivors" ] || echo "survivors:$survivors (logs in build/mutation/logs/)"
[ $pct -ge "$min" ] || { echo "run.sh: below $min%" >&2; exit 1; }
