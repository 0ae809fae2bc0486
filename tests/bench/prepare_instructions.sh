#!/bin/sh
# Instructions per image of each preparation option (valgrind --tool=callgrind on bench_prepare: the
# same count whatever else the machine does), for the README's cost table. The count of a run of REPS
# decodes less that of a run of none (the setup), divided by REPS.
#   tests/bench/prepare_instructions.sh BUILD_DIR
set -eu
bin="${1:-build}/bench/bench_prepare"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
count() { # picture option reps -> instructions
    valgrind --tool=callgrind --callgrind-out-file="$tmp/cg" "$bin" "$1" "$2" "$3" >"$tmp/name" 2>"$tmp/log"
    sed -n 's/.*Collected : *\([0-9]*\).*/\1/p' "$tmp/log"
}
echo "| picture, options | instructions per image | vs the plain decoder |"
echo "| --- | --- | --- |"
for p in 0 1 2; do
    reps=20; [ "$p" -eq 2 ] && reps=2
    plain=""
    for k in 0 1 2 3 4; do
        setup=$(count "$p" "$k" 0)
        total=$(count "$p" "$k" "$reps")
        per=$(( (total - setup) / reps ))
        [ -z "$plain" ] && plain=$per
        printf '| %s | %d | %s |\n' "$(cat "$tmp/name")" "$per" "$(awk "BEGIN { printf \"%.2fx\", $per / $plain }")"
    done
done
