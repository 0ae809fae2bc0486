#!/bin/sh
# make browser-test: installs Chromium, nginx and the pinned playwright-core and axe-core when
# missing, starts a vae-server replica behind nginx on loopback (tests/scaleout/stack.py, the same
# nginx configuration as the frontend image) and runs frontend.test.mjs against it (which stops that
# replica and starts its own, for the outage sequence). Screenshots of every state go to
# build/browser-artifacts/. Usage: tests/browser/run.sh [BUILD_DIR]
set -eu
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
started=$(date +%s)
fail() { echo "browser-test: FAIL: $*" >&2; exit 1; }

pkgs="chromium fonts-dejavu-core python3"
command -v nginx >/dev/null || pkgs="$pkgs nginx"
command -v node >/dev/null || pkgs="$pkgs nodejs npm"
tests/container/need-packages.sh $pkgs || fail "cannot install$pkgs"
[ -x "$BUILD/vae-server" ] || fail "$BUILD/vae-server is missing: run make first"
# the replicas serve the shipped models (or VAE_MODELS, when set: name=path,name=path, with the
# names the test uses: mnist, fashion and mnist2d, a model with d = 2)
if [ -z "${VAE_MODELS:-}" ]; then
    for w in model/weights/mnist.safetensors model/weights/fashion.safetensors model/weights/mnist2d.safetensors; do
        [ -s "$w" ] || fail "$w is missing: the page switches between the shipped models (mnist2d: the 2-D pad)"
    done
fi

# playwright-core and axe-core as pinned in package-lock.json (npm ci only when one is not installed
# at its pinned version)
for dep in playwright-core axe-core; do
    want=$(sed -n "s/.*\"$dep\": \"\([0-9.]*\)\".*/\1/p" tests/browser/package.json | head -n1)
    have=$(sed -n 's/^  "version": "\(.*\)",$/\1/p' "tests/browser/node_modules/$dep/package.json" 2>/dev/null || true)
    if [ -z "$want" ] || [ "$have" != "$want" ]; then
        (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error) || fail "npm ci in tests/browser failed"
        break
    fi
done

# the shipped models: mnist, fashion and mnist2d (d = 2: the 2-D pad on the manifold), each with the
# trainer's statistics; and a fourth, the first model's network alone (no statistics): the page
# without each of them
VAE_MODELS=${VAE_MODELS:-mnist=model/weights/mnist.safetensors,fashion=model/weights/fashion.safetensors,mnist2d=model/weights/mnist2d.safetensors}
first=$(printf '%s' "$VAE_MODELS" | cut -d, -f1 | cut -d= -f2-)
python3 tests/browser/network-only.py "$first" "$BUILD/browser-bare.safetensors" || fail "cannot write the network-only model"
VAE_MODELS="$VAE_MODELS,bare=$PWD/$BUILD/browser-bare.safetensors"
export VAE_MODELS

ARTIFACTS=$BUILD/browser-artifacts
rm -rf "$ARTIFACTS"
mkdir -p "$ARTIFACTS"
export ARTIFACTS
export CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
# the test stops the stack's replica and starts its own on the same port (the outage sequence)
export VAE_SERVER="$PWD/$BUILD/vae-server"
[ -x "$CHROMIUM" ] || fail "no Chromium at $CHROMIUM"
status=0
python3 tests/scaleout/stack.py --build "$BUILD" --replicas 1 -- \
    node --test-reporter=spec tests/browser/frontend.test.mjs || status=$?
echo "browser-test: screenshots in $ARTIFACTS/ ($(ls "$ARTIFACTS" | wc -l) files), $(($(date +%s) - started)) s"
[ $status -eq 0 ] || fail "the browser test failed (exit $status)"
echo "browser-test: passed"
