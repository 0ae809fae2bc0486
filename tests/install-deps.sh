#!/bin/sh
# Installs the Debian packages a make target needs, only those missing, so that the README's commands
# work on a fresh Debian bookworm machine. Usage: tests/install-deps.sh [group...]
#   build (always): compiler and the libraries         test: the HTTP test client and validators
#                                                      (Node.js and npm for the OpenAPI validator)
#   bench: load generators, PyTorch, the FastAPI peer   fuzz: clang's libFuzzer and sanitizers
#   pytorch: PyTorch for the round-trip tests          hardening: wrk and valgrind (load, soak, memcheck)
#   tsan: clang's ThreadSanitizer runtime, and wrk
set -eu

pkgs="build-essential pkg-config libmicrohttpd-dev libcjson-dev libpng-dev zlib1g-dev libopenblas-dev"
for group in "$@"; do
    case "$group" in
        build) ;;
        test)
            pkgs="$pkgs python3 curl valgrind dataset-fashion-mnist"
            # by command, not package: a Node.js from elsewhere (with its own npm) must not be
            # replaced by Debian's, whose npm package conflicts with it
            command -v node >/dev/null 2>&1 || pkgs="$pkgs nodejs"
            command -v npm >/dev/null 2>&1 || pkgs="$pkgs npm"
            ;;
        bench) pkgs="$pkgs wrk hyperfine python3 python3-torch python3-fastapi python3-uvicorn python3-httptools python3-uvloop" ;;
        fuzz) pkgs="$pkgs clang libclang-rt-14-dev" ;;
        tsan) pkgs="$pkgs clang libclang-rt-14-dev python3 curl wrk" ;;
        hardening) pkgs="$pkgs python3 curl wrk valgrind" ;;
        pytorch) pkgs="$pkgs python3 python3-torch" ;;
        *) echo "install-deps.sh: unknown group '$group'" >&2; exit 2 ;;
    esac
done

missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0 # everything is there: no apt-get at all

echo "install-deps: installing$missing" >&2
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "install-deps: need root (or sudo) to install:$missing" >&2; exit 1; }
    SUDO=sudo
else
    SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
