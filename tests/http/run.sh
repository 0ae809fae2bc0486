#!/bin/sh
# The HTTP integration suite: starts build/vae-server on free loopback ports and exercises every
# endpoint with real HTTP clients. Usage: tests/http/run.sh [BUILD_DIR] [MNIST_DIR] [--valgrind] [-v] [-k NAME]
# Exits non-zero on any failure. Installs the pinned OpenAPI validators (npm ci) when they are missing.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-build}
mnist=${2:-../shared/data/mnist}
[ $# -gt 0 ] && shift
[ $# -gt 0 ] && shift

# npm ci when nothing is installed or the lock file changed since (npm keeps a copy of what it
# installed in node_modules/.package-lock.json)
if [ ! -f "$here/node_modules/.package-lock.json" ] ||
   [ "$here/package-lock.json" -nt "$here/node_modules/.package-lock.json" ]; then
    if command -v npm >/dev/null 2>&1; then
        echo "run.sh: installing the OpenAPI validators (npm ci in tests/http)"
        (cd "$here" && npm ci --no-audit --no-fund --loglevel=error) ||
            echo "run.sh: npm ci failed: the OpenAPI validation tests will fail" >&2
    else
        echo "run.sh: npm not found: the OpenAPI validation tests will fail" >&2
    fi
fi

PYTHONDONTWRITEBYTECODE=1 exec "${PYTHON:-/usr/bin/python3}" "$here/runner.py" --build "$build" --mnist "$mnist" "$@"
