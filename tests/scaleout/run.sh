#!/bin/sh
# make scaleout-test: validates docker/compose.yaml and docker/k8s/ offline (validate-manifests.mjs,
# with the npm packages pinned in package-lock.json), then runs two replicas behind nginx on
# loopback with the frontend image's nginx configuration (test_scaleout.py). Installs nginx and
# node when missing. Usage: run.sh [BUILD_DIR]
set -eu
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
pkgs="python3"
command -v nginx >/dev/null || pkgs="$pkgs nginx"
command -v node >/dev/null || pkgs="$pkgs nodejs npm"
tests/container/need-packages.sh $pkgs || { echo "scaleout-test: FAIL: cannot install $pkgs" >&2; exit 1; }
[ -x "$BUILD/vae-server" ] || { echo "scaleout-test: FAIL: $BUILD/vae-server is missing: run make first" >&2; exit 1; }
if [ -z "${VAE_MODELS:-}" ]; then
    for w in model/weights/mnist.safetensors model/weights/fashion.safetensors model/weights/mnist2d.safetensors; do
        [ -s "$w" ] || { echo "scaleout-test: FAIL: $w is missing" >&2; exit 1; }
    done
fi

if ! (cd tests/scaleout && npm ls --depth=0 >/dev/null 2>&1); then
    (cd tests/scaleout && npm ci --no-audit --no-fund --loglevel=error) ||
        { echo "scaleout-test: FAIL: npm ci in tests/scaleout failed" >&2; exit 1; }
fi
echo "== manifests"
node tests/scaleout/validate-manifests.mjs || { echo "scaleout-test: FAIL: docker/compose.yaml or docker/k8s/ is invalid" >&2; exit 1; }
echo "== two replicas behind nginx"
exec python3 tests/scaleout/test_scaleout.py "$BUILD"
