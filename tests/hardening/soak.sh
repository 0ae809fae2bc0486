#!/bin/sh
# Soak: a warm-up (default 100,000 requests), then at least a given number of requests more (default
# 1,000,000) over the endpoint mix (tests/hardening/mix.lua; wrk runs of 20 s until each count is
# reached) against one server, with its resident memory read after the warm-up and at the end. Fails when the
# RSS grew by 2 MB or more after the warm-up, on any non-2xx reply or socket error, or when the
# server is not healthy afterwards or does not exit 0 on SIGTERM.
#
#   tests/hardening/soak.sh [BUILD_DIR (build)] [REQUESTS (1000000)] [WARMUP (100000)] [CONNECTIONS (64)] [server flags...]
# Prints the wrk summary of both phases and one "soak:" line with the RSS after the warm-up, at the
# end and its peak (sampled every second).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../.."
. tests/hardening/lib.sh
build=${1:-build}
total=${2:-1000000}
warmup=${3:-100000}
conns=${4:-64}
for _ in 1 2 3 4; do [ $# -gt 0 ] && shift; done
limit_kb=${SOAK_MAX_GROWTH_KB:-2048}
threads=2
out=build/hardening
mkdir -p "$out"
command -v wrk >/dev/null || { echo "soak.sh: wrk is missing (tests/install-deps.sh bench)" >&2; exit 2; }
python3 tests/hardening/bodies.py "$out/bodies"

start_server "$build" "$out/soak-server" --model mnist=model/weights/mnist.safetensors "$@"
rss_start=$(rss_kb "$SERVER_PID")

# RSS every second, for the peak
(while kill -0 "$SERVER_PID" 2>/dev/null; do rss_kb "$SERVER_PID" 2>/dev/null || true; sleep 1; done) \
    >"$out/soak-rss.txt" &
sampler=$!

status=0
sent=0
chunks=0
# run_until PHASE N: wrk in chunks of CHUNK seconds until the server has answered at least N requests
# in all (wrk has no request count of its own); every chunk must be free of errors
chunk=${SOAK_CHUNK_SECONDS:-20}
run_until() {
    while [ "$sent" -lt "$2" ]; do
        chunks=$((chunks + 1))
        wrk -t"$threads" -c"$conns" -d"${chunk}s" --timeout 10s --latency -s tests/hardening/mix.lua \
            "http://127.0.0.1:$PORT" -- "$out/bodies" >"$out/soak-chunk.txt" 2>&1 || true
        cat "$out/soak-chunk.txt" >>"$out/soak-$1.txt"
        line=$(grep '^mix:' "$out/soak-chunk.txt" || true)
        n=$(echo "$line" | sed -n 's/^mix: requests \([0-9]*\) .*/\1/p')
        case "$line" in
            *"non-2xx 0; socket errors: connect 0, read 0, write 0, timeout 0, status 0;"*) ;;
            *) echo "soak.sh: FAILED: errors in the $1 phase: ${line:-no wrk summary} (see $out/soak-$1.txt)" >&2
               status=1
               return ;;
        esac
        sent=$((sent + n))
        echo "  $1 chunk $chunks: $line"
    done
}

rm -f "$out/soak-warm-up.txt" "$out/soak-run.txt"
run_until warm-up "$warmup"
sleep 1
rss_warm=$(rss_kb "$SERVER_PID")
sent_warm=$sent
[ $status -eq 0 ] && run_until run $((sent_warm + total))
sleep 1
if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "soak.sh: FAILED: the server died" >&2
    tail -20 "$out/soak-server.err" >&2
    exit 1
fi
rss_end=$(rss_kb "$SERVER_PID")
rss_peak=$(sort -n "$out/soak-rss.txt" | tail -1)
healthy || { echo "soak.sh: FAILED: /health after the soak" >&2; status=1; }
served=$(curl -s "http://127.0.0.1:$PORT/metrics" | awk '$1 ~ /^vae_requests_total/ {s += $2} END {print s + 0}')
stop_server "$out/soak-server" || status=1
kill "$sampler" 2>/dev/null || true
wait "$sampler" 2>/dev/null || true
growth=$((rss_end - rss_warm))
echo "soak: $((sent - sent_warm)) requests after a warm-up of $sent_warm (the server counted $served in all) in $chunks wrk runs of ${chunk} s; RSS ${rss_start} kB at start, ${rss_warm} kB after the warm-up, ${rss_end} kB at the end (growth ${growth} kB, limit ${limit_kb} kB), peak ${rss_peak} kB"
if [ "$growth" -ge "$limit_kb" ]; then
    echo "soak.sh: FAILED: resident memory grew by ${growth} kB after the warm-up" >&2
    status=1
fi
[ $status -eq 0 ] && echo "soak.sh: passed; exit 0 on SIGTERM"
exit $status
