#!/bin/sh
# make container-test: builds the image from the Dockerfile with podman (no Docker engine or registry
# needed; see ../shared/CONTAINERS.md), runs it on a random free port and checks, through the
# published port: the endpoints, the HEALTHCHECK turning healthy, the non-root user, configuration by
# VAE_* variables, the size the runtime stage adds to the base, and that `stop` ends it with exit 0.
# Installs podman, buildah, runc and debootstrap when missing; rerunnable; removes its containers on
# every exit path. Exits non-zero with a message on any failure.
set -eu
cd "$(dirname "$0")/../.."

IMAGE=${IMAGE:-localhost/vae-server:test}
BASE=debian:bookworm-slim
# what the runtime stage may add to the base beside the shipped weights (libraries and binaries are
# about 46 MB): the weights are the product, their size is the models', so the budget excludes them
MAX_ADDED_MB=${MAX_ADDED_MB:-50}
LABEL=vae-server-test=container
started=$(date +%s)

fail() { echo "container-test: FAIL: $*" >&2; exit 1; }
step() { echo "== container-test: $* ($(($(date +%s) - started)) s)"; }

# netavark + aardvark-dns: container networks with DNS (the compose topology); iptables: netavark's
# firewall driver (without it every bridged `podman run` fails with "netavark: No such file or
# directory"); catatonit: podman's pause/init; all only recommended by podman, and need-packages
# installs no recommends
tests/container/need-packages.sh podman buildah runc debootstrap netavark aardvark-dns iptables catatonit \
    uidmap python3 curl
# the rootful settings CONTAINERS.md gives for these machines (no systemd, cgroupfs)
podman_run() { podman --runtime runc --cgroup-manager cgroupfs "$@"; }

for w in model/weights/mnist.safetensors model/weights/fashion.safetensors model/weights/mnist2d.safetensors; do
    [ -s "$w" ] || fail "$w is missing: the image ships the three models"
done

# removes this test's containers and networks (by label): on exit, and leftovers of an earlier run
remove_ours() {
    for c in $(podman_run ps -a -q --filter "label=$LABEL" 2>/dev/null); do
        podman_run rm -f -t 0 "$c" >/dev/null 2>&1 || true
    done
    for n in $(podman network ls -q --filter "label=$LABEL" 2>/dev/null); do
        podman network rm -f "$n" >/dev/null 2>&1 || true
    done
}
cleanup() {
    rc=$?
    remove_ours
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM
remove_ours

step "base image"
tests/container/base-image.sh || fail "cannot make the base image $BASE"

step "podman build"
build_log=$(mktemp)
t0=$(date +%s)
if ! podman build --isolation chroot --format docker -t "$IMAGE" . >"$build_log" 2>&1; then
    tail -n 40 "$build_log" >&2
    rm -f "$build_log"
    fail "podman build failed"
fi
rm -f "$build_log"
echo "   built $IMAGE in $(($(date +%s) - t0)) s"

step "image configuration"
user=$(podman image inspect --format '{{.Config.User}}' "$IMAGE")
case "$user" in
    "" | 0 | 0:* | root | root:*) fail "the image runs as root (User '$user')" ;;
esac
hc=$(podman image inspect --format '{{json .HealthCheck}}' "$IMAGE")
echo "$hc" | grep -q -- '--healthcheck' || fail "no HEALTHCHECK using vae-server --healthcheck: $hc"
podman image inspect --format '{{json .Config.ExposedPorts}}' "$IMAGE" | grep -q '8080/tcp' ||
    fail "the image does not EXPOSE 8080"

step "image size"
size=$(podman image inspect --format '{{.Size}}' "$IMAGE")
base_size=$(podman image inspect --format '{{.Size}}' "$BASE")
added=$((size - base_size))
echo "   image $((size / 1000000)) MB; the base $((base_size / 1000000)) MB; the runtime stage adds $((added / 1000000)).$((added % 1000000 / 100000)) MB"
podman history --format '   {{.Size}}	{{.CreatedBy}}' "$IMAGE" | cut -c1-110 | grep -v '^   0 B' || true
weights=$(cat model/weights/*.safetensors | wc -c)
echo "   of which the shipped weights $((weights / 1000000)).$((weights % 1000000 / 100000)) MB"
[ "$((added - weights))" -le $((MAX_ADDED_MB * 1000000)) ] ||
    fail "the runtime stage adds $((added - weights)) bytes beside the weights, over $MAX_ADDED_MB MB"

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits until GET URL answers 200 (up to $2 seconds).
wait_http() {
    i=0
    while [ $i -lt $(($2 * 5)) ]; do
        [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1" || true)" = 200 ] && return 0
        sleep 0.2
        i=$((i + 1))
    done
    return 1
}

# Runs `podman healthcheck run` (the image's HEALTHCHECK, inside the container) until the container
# is healthy: podman schedules health checks with systemd timers, which these machines lack.
wait_healthy() {
    i=0
    while [ $i -lt 30 ]; do
        podman_run healthcheck run "$1" >/dev/null 2>&1 || true
        status=$(podman_run inspect --format '{{.State.Health.Status}}' "$1" 2>/dev/null || true)
        [ "$status" = healthy ] && return 0
        sleep 1
        i=$((i + 1))
    done
    echo "   health: $status" >&2
    return 1
}

# Stops the container, checks it exited 0 before the timeout, and that it logged "stopped".
stop_cleanly() {
    t0=$(date +%s)
    podman_run stop -t 10 "$1" >/dev/null 2>&1 || fail "podman stop $1 failed"
    took=$(($(date +%s) - t0))
    code=$(podman_run inspect --format '{{.State.ExitCode}}' "$1")
    [ "$code" = 0 ] || { podman_run logs "$1" 2>&1 | tail -n 20 >&2; fail "$1 exited with $code on SIGTERM"; }
    [ "$took" -lt 10 ] || fail "$1 needed ${took} s to stop (killed at the timeout?)"
    podman_run logs "$1" 2>&1 | grep -Eq 'vae-server: stopped$|"msg":"stopped"' ||
        { podman_run logs "$1" 2>&1 | tail -n 20 >&2; fail "$1 did not log 'stopped'"; }
    echo "   $1 stopped in ${took} s with exit code 0"
}

step "run with the defaults"
name=vae-ctest-$$
port=$(free_port)
podman_run run -d --name "$name" --label "$LABEL" \
    --ulimit nofile=4096:4096 --ulimit nproc=4096:4096 -p "127.0.0.1:$port:8080" "$IMAGE" >/dev/null ||
    fail "podman run failed"
wait_http "http://127.0.0.1:$port/ready" 30 ||
    { podman_run logs "$name" 2>&1 | tail -n 20 >&2; fail "no 200 from /ready on port $port in 30 s"; }
wait_healthy "$name" || fail "the container did not turn healthy"
echo "   healthy"
uid=$(podman_run exec "$name" sh -c 'id -u' 2>/dev/null || true)
puid=$(podman_run top "$name" huser 2>/dev/null | tail -n 1 | tr -d ' ')
[ -n "$puid" ] && [ "$puid" != root ] && [ "$puid" != 0 ] || fail "the server process runs as '$puid'"
echo "   server process user: $puid (exec uid $uid)"

step "endpoints through the published port $port"
python3 tests/container/apicheck.py "http://127.0.0.1:$port" || fail "API checks failed"

step "stop"
stop_cleanly "$name"

step "configuration from VAE_* variables (port 9090, one model, JSON logs)"
name2=vae-ctest-env-$$
port2=$(free_port)
podman_run run -d --name "$name2" --label "$LABEL" \
    --ulimit nofile=4096:4096 --ulimit nproc=4096:4096 -p "127.0.0.1:$port2:9090" \
    -e VAE_PORT=9090 -e VAE_THREADS=1 -e VAE_LOG_FORMAT=json \
    -e VAE_MODELS=fashion=/usr/local/share/vae/weights/fashion.safetensors "$IMAGE" >/dev/null ||
    fail "podman run (env) failed"
wait_http "http://127.0.0.1:$port2/ready" 30 ||
    { podman_run logs "$name2" 2>&1 | tail -n 20 >&2; fail "VAE_PORT=9090: no 200 from /ready"; }
wait_healthy "$name2" || fail "the HEALTHCHECK does not follow VAE_PORT"
models=$(curl -sf "http://127.0.0.1:$port2/v1/models") || fail "VAE_MODELS: GET /v1/models failed"
echo "$models" | python3 -c 'import json, sys; names = [m["name"] for m in json.load(sys.stdin)["models"]]; sys.exit(names != ["fashion"])' ||
    fail "VAE_MODELS=fashion=...: models are $models"
podman_run logs "$name2" 2>&1 | grep -q '^{' || fail "VAE_LOG_FORMAT=json: no JSON log line"
echo "   VAE_PORT, VAE_MODELS, VAE_THREADS, VAE_LOG_FORMAT honoured"
stop_cleanly "$name2"

step "the compose topology: frontend image + 2 replicas on a private network"
WEB_IMAGE=${WEB_IMAGE:-localhost/vae-web:test}
build_log=$(mktemp)
if ! podman build --isolation chroot --format docker -f docker/web.Dockerfile -t "$WEB_IMAGE" docker >"$build_log" 2>&1; then
    tail -n 40 "$build_log" >&2
    rm -f "$build_log"
    fail "podman build of docker/web.Dockerfile failed"
fi
rm -f "$build_log"
net_back=vae-ctest-back-$$
net_front=vae-ctest-front-$$
podman network create --internal --label "$LABEL" "$net_back" >/dev/null || fail "cannot create network $net_back"
podman network create --label "$LABEL" "$net_front" >/dev/null || fail "cannot create network $net_front"
# both replicas answer to the name "vae", as compose's replicas of service vae do
for i in 1 2; do
    podman_run run -d --name "vae-ctest-r$i-$$" --label "$LABEL" --network "$net_back" --network-alias vae \
        --ulimit nofile=4096:4096 --ulimit nproc=4096:4096 --read-only --cap-drop ALL "$IMAGE" >/dev/null ||
        fail "podman run replica $i failed"
done
for i in 1 2; do
    wait_healthy "vae-ctest-r$i-$$" || fail "replica $i did not turn healthy"
done
web=vae-ctest-web-$$
port3=$(free_port)
podman_run run -d --name "$web" --label "$LABEL" --network "$net_back" --network "$net_front" \
    -p "127.0.0.1:$port3:8080" -e UPSTREAMS=vae:8080 --read-only --tmpfs /tmp --cap-drop ALL \
    --ulimit nofile=4096:4096 --ulimit nproc=4096:4096 "$WEB_IMAGE" >/dev/null || fail "podman run of the frontend failed"
wait_http "http://127.0.0.1:$port3/healthz" 20 ||
    { podman_run logs "$web" 2>&1 | tail -n 20 >&2; fail "the frontend does not answer on port $port3"; }
wait_healthy "$web" || fail "the frontend's HEALTHCHECK did not turn healthy"
curl -sf "http://127.0.0.1:$port3/" | grep -q 'VAE playground' || fail "GET / through the frontend: not the page"
python3 tests/container/apicheck.py "http://127.0.0.1:$port3/api" || fail "API checks through the frontend failed"
for k in $(seq 1 40); do
    curl -sf -o /dev/null "http://127.0.0.1:$port3/api/sample?n=1&seed=$k" || fail "GET /api/sample through the frontend"
done
for i in 1 2; do
    n=$(podman_run logs "vae-ctest-r$i-$$" 2>/dev/null | grep -c 'GET /sample' || true)
    [ "$n" -ge 10 ] || fail "replica $i served $n of the samples: nginx does not balance over both"
    echo "   replica $i served $n /sample requests"
done
stop_cleanly "vae-ctest-r1-$$"
stop_cleanly "vae-ctest-r2-$$"
t0=$(date +%s)
podman_run stop -t 10 "$web" >/dev/null 2>&1 || fail "podman stop of the frontend failed"
code=$(podman_run inspect --format '{{.State.ExitCode}}' "$web")
[ "$code" = 0 ] || fail "the frontend exited with $code on its STOPSIGNAL"
echo "   frontend stopped in $(($(date +%s) - t0)) s with exit code 0"

echo "container-test: passed in $(($(date +%s) - started)) s (image adds $((added / 1000000)) MB to the base)"
