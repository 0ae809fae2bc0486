# Shared pieces of the hardening scripts (sourced): start a server on a free port, wait until it is
# ready, read its resident memory, stop it with SIGTERM and check the exit code.

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# start_server BUILD_DIR LOG_PREFIX [flags...]: sets SERVER_PID and PORT
start_server() {
    _bin="$1/vae-server"
    _log="$2"
    shift 2
    [ -x "$_bin" ] || { echo "no $_bin: build it first" >&2; return 1; }
    PORT=$(free_port)
    "$_bin" --bind 127.0.0.1 --port "$PORT" --log-format off "$@" >"$_log.out" 2>"$_log.err" &
    SERVER_PID=$!
    _tries=0
    until curl -sf -o /dev/null "http://127.0.0.1:$PORT/ready"; do
        _tries=$((_tries + 1))
        if ! kill -0 "$SERVER_PID" 2>/dev/null || [ $_tries -gt 600 ]; then
            echo "the server did not start:" >&2
            cat "$_log.err" >&2
            return 1
        fi
        sleep 0.1
    done
}

# rss_kb PID: resident set size in kB (VmRSS)
rss_kb() {
    awk '/^VmRSS:/ {print $2}' "/proc/$1/status"
}

# stop_server LOG_PREFIX: SIGTERM, wait, and fail unless the exit code is 0
stop_server() {
    kill -TERM "$SERVER_PID"
    _rc=0
    wait "$SERVER_PID" || _rc=$?
    if [ "$_rc" -ne 0 ]; then
        echo "vae-server exited with $_rc after SIGTERM; its stderr:" >&2
        tail -40 "$1.err" >&2
        return 1
    fi
}

# healthy: /health answers 200 {"status":"ok"}
healthy() {
    [ "$(curl -s "http://127.0.0.1:$PORT/health")" = '{"status":"ok"}' ]
}
