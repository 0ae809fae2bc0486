#!/bin/sh
# The PyTorch round trip: trains a small VAE in PyTorch, exports it with model/pytorch/export_vae.py,
# serves it with BUILD_DIR/vae-server and compares the server's numbers with PyTorch's, both ways.
# Usage: tests/pytorch/run.sh [BUILD_DIR] [MNIST_DIR] [-v]
# Needs PyTorch (Debian: python3-torch); without it this fails, it does not skip.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-build}
mnist=${2:-../shared/data/mnist}
[ $# -gt 0 ] && shift
[ $# -gt 0 ] && shift
python=${PYTHON:-/usr/bin/python3}

if ! "$python" -c "import torch" 2>/dev/null; then
    echo "tests/pytorch: FAIL: $python cannot import torch; install the Debian package python3-torch" >&2
    exit 1
fi
PYTHONDONTWRITEBYTECODE=1 exec "$python" "$here/test_roundtrip.py" --build "$build" --mnist "$mnist" "$@"
