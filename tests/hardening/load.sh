#!/bin/sh
# Load at saturation: wrk over a mix of every model endpoint (tests/hardening/mix.lua) for a bounded
# time, then the server must be healthy and exit 0 on SIGTERM. Fails on any non-2xx reply, any
# socket error (connect, read, write, timeout) or a crash.
#
#   tests/hardening/load.sh [BUILD_DIR (build)] [SECONDS (300)] [CONNECTIONS (64)] [server flags...]
# Prints one "mix:" line (requests/s, statuses, errors, latency) and the server's RSS before/after.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../.."
. tests/hardening/lib.sh
build=${1:-build}
seconds=${2:-300}
conns=${3:-64}
[ $# -gt 0 ] && shift
[ $# -gt 0 ] && shift
[ $# -gt 0 ] && shift
out=build/hardening
mkdir -p "$out"
command -v wrk >/dev/null || { echo "load.sh: wrk is missing (tests/install-deps.sh bench)" >&2; exit 2; }
python3 tests/hardening/bodies.py "$out/bodies"

start_server "$build" "$out/load-server" --model mnist=model/weights/mnist.safetensors "$@"
rss0=$(rss_kb "$SERVER_PID")
threads=2
wrk -t"$threads" -c"$conns" -d"${seconds}s" --timeout 10s --latency -s tests/hardening/mix.lua \
    "http://127.0.0.1:$PORT" -- "$out/bodies" >"$out/load-wrk.txt" 2>&1 || true
rss1=$(rss_kb "$SERVER_PID")
cat "$out/load-wrk.txt"
status=0
line=$(grep '^mix:' "$out/load-wrk.txt" || true)
[ -n "$line" ] || { echo "load.sh: wrk produced no summary" >&2; status=1; }
case "$line" in
    *"non-2xx 0; socket errors: connect 0, read 0, write 0, timeout 0, status 0;"*) ;;
    *) echo "load.sh: FAILED: errors under load" >&2; status=1 ;;
esac
if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "load.sh: FAILED: the server died under load" >&2
    tail -20 "$out/load-server.err" >&2
    exit 1
fi
healthy || { echo "load.sh: FAILED: /health after the load" >&2; status=1; }
stop_server "$out/load-server" || status=1
echo "load.sh: ${seconds} s, $conns connections, $threads wrk threads; server RSS ${rss0} kB before, ${rss1} kB after; exit 0 on SIGTERM: $([ $status -eq 0 ] && echo yes || echo NO)"
exit $status
