#!/bin/sh
# Regenerates docs/api/: runs every curl example of the README against a server on the shipped models
# and keeps the real replies (JSON shortened to a few numbers per array, PNGs as they came).
# Usage: docs/make-examples.sh [BUILD_DIR]   (from the repository root)
set -eu
build=${1:-build}
out=docs/api
port=18765
"$build/vae-server" --port $port --log-format off 2>/dev/null &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null' EXIT
for _ in $(seq 100); do curl -sf "localhost:$port/ready" >/dev/null && break; sleep 0.05; done
base="http://localhost:$port"

# JSON replies: arrays longer than 4 numbers are cut to their first 4 and a count
shorten() {
    /usr/bin/python3 -c '
import json, sys
def cut(v):
    if isinstance(v, list):
        if v and all(isinstance(x, (int, float)) for x in v) and len(v) > 4:
            return v[:4] + ["... %d more" % (len(v) - 4)]
        if len(v) > 3:
            return [cut(x) for x in v[:2]] + ["... %d more rows" % (len(v) - 2)]
        return [cut(x) for x in v]
    if isinstance(v, dict):
        return {k: cut(x) for k, x in v.items()}
    return v
print(json.dumps(cut(json.load(sys.stdin)), indent=None))'
}
ex() { name=$1; shift; echo "\$ $*" >"$out/$name.txt"; "$@" | shorten >>"$out/$name.txt"; }

curl -s "$base/health" >"$out/health.txt"
curl -s "$base/v1/models" | shorten >"$out/models.txt"
curl -s "$base/sample?n=16&seed=7" -o "$out/sample16.png"
curl -s "$base/sample?n=64&seed=7" -o "$out/sample64.png"
curl -s "$base/sample?n=16&seed=7&model=fashion" -o "$out/sample16-fashion.png"
curl -s -X POST "$base/interpolate" -H 'Content-Type: application/json' \
     -d '{"from": 3, "to": 8, "steps": 10}' -o "$out/morph-3-8.png"
curl -s -X POST "$base/interpolate?model=fashion" -H 'Content-Type: application/json' \
     -d '{"from": 7, "to": 9, "steps": 10, "method": "slerp"}' -o "$out/morph-fashion-sneaker-boot.png"
curl -s -X POST "$base/decode" -H 'Content-Type: application/json' \
     -d "{\"z\": $(/usr/bin/python3 -c 'print([0.0]*32)')}" -o "$out/decode-zero.png"
# a real test digit as PNG, for /encode and /reconstruct
/usr/bin/python3 - "$out/digit.png" <<'PY'
import gzip, struct, sys, zlib
data = gzip.open("tests/data/mnist-mini/t10k-images-idx3-ubyte.gz").read()[16:16 + 784]
raw = b"".join(b"\0" + data[y * 28:(y + 1) * 28] for y in range(28))
chunk = lambda t, c: struct.pack(">I", len(c)) + t + c + struct.pack(">I", zlib.crc32(t + c))
open(sys.argv[1], "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 28, 28, 8, 0, 0, 0, 0))
                              + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
PY
ex encode-png curl -s -X POST "$base/encode" -H 'Content-Type: image/png' --data-binary @"$out/digit.png"
curl -s -X POST "$base/reconstruct" -H 'Content-Type: image/png' --data-binary @"$out/digit.png" -o "$out/reconstruct.png"
# a picture of a test digit: dark ink on a light 112x112 page, at half size, a little noise (as a
# phone or a scanner gives it), prepared with normalize=auto&invert=auto
/usr/bin/python3 - "$out/picture.png" <<'PY'
import random, sys
sys.path.insert(0, "tests/http")
import mnist, pngutil, scenes
digit = mnist.load(None).digit(3)
grey, _ = scenes.scene(digit, random.Random(15), size=(0.5, 0.5), dark=1.0, noise=0.03)
open(sys.argv[1], "wb").write(pngutil.grey8(grey, scenes.CANVAS, scenes.CANVAS))
PY
ex encode-picture curl -s -X POST "$base/encode?normalize=auto&invert=auto" -H 'Content-Type: image/png' \
     --data-binary @"$out/picture.png"
curl -s -X POST "$base/reconstruct?normalize=auto&invert=auto&with_input=1" -H 'Content-Type: image/png' \
     --data-binary @"$out/picture.png" -o "$out/reconstruct-picture.png"
curl -s -X POST "$base/reconstruct?invert=1&with_input=1" -H 'Content-Type: image/png' \
     --data-binary @"$out/picture.png" -o "$out/reconstruct-picture-plain.png"
ex decode-json curl -s -X POST "$base/decode?format=json" -H 'Content-Type: application/json' \
     -d "{\"z\": $(/usr/bin/python3 -c 'print([0.5]*32)')}"
ex sample-json curl -s "$base/sample?n=2&seed=1&format=json"
ex error-length curl -s -X POST "$base/decode" -H 'Content-Type: application/json' -d '{"z": [1, 2, 3]}'
ex error-n curl -s "$base/sample?n=1000"
ex error-json curl -s -X POST "$base/decode" -H 'Content-Type: application/json' -d '{"z": [1, 2,'
curl -s "$base/metrics" | grep -E '^vae_(requests_total|model_info|requests_in_flight|ready)' | head -8 >"$out/metrics.txt"
echo "docs/api regenerated"
