#!/bin/sh
# make scaleout-test: two replicas behind nginx on loopback, with the frontend image's nginx
# configuration; see test_scaleout.py. Installs nginx when missing. Usage: run.sh [BUILD_DIR]
set -eu
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
pkgs="python3"
command -v nginx >/dev/null || pkgs="$pkgs nginx-light"
tests/container/need-packages.sh $pkgs || { echo "scaleout-test: FAIL: cannot install $pkgs" >&2; exit 1; }
[ -x "$BUILD/vae-server" ] || { echo "scaleout-test: FAIL: $BUILD/vae-server is missing: run make first" >&2; exit 1; }
if [ -z "${VAE_MODELS:-}" ]; then
    for w in model/weights/mnist.safetensors model/weights/fashion.safetensors; do
        [ -s "$w" ] || { echo "scaleout-test: FAIL: $w is missing" >&2; exit 1; }
    done
fi
exec python3 tests/scaleout/test_scaleout.py "$BUILD"
