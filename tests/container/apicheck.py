#!/usr/bin/env python3
"""Black-box checks of a running vae-server (a container, or replicas behind nginx) through one base
URL: health, readiness, the model list, sampling, encoding, reconstructing and decoding, and the JSON
error shape. Standard library only (urllib, zlib). Usage: apicheck.py BASE_URL [--models a,b]

Also a module: the scale-out and browser tests import http() and the PNG helpers.
"""
import base64
import json
import math
import struct
import sys
import urllib.error
import urllib.request
import zlib


class CheckFailed(AssertionError):
    pass


def http(method, url, body=None, headers=None, timeout=10):
    """One request; returns (status, headers as a lower-case dict, body bytes). Never raises on an
    HTTP status, only on a transport error."""
    data = body
    hdrs = dict(headers or {})
    if isinstance(body, (dict, list)):
        data = json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def png_encode_grey(width, height, pixels):
    """An 8-bit grey PNG of row-major pixels (ints 0..255)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    raw = b"".join(b"\0" + bytes(pixels[y * width:(y + 1) * width]) for y in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def png_decode(data):
    """(width, height, grey pixels) of an 8-bit, non-interlaced grey, grey+alpha, RGB or RGBA PNG
    (alpha ignored, colour averaged). Raises CheckFailed on anything else."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise CheckFailed("not a PNG (first bytes %r)" % data[:16])
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        payload = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", payload)
        elif kind == b"IDAT":
            idat += payload
        pos += 12 + length
    width, height, depth, ctype, _, _, interlace = header
    channels = {0: 1, 4: 2, 2: 3, 6: 4}.get(ctype)
    if depth != 8 or interlace or not channels:
        raise CheckFailed("PNG depth %d colour type %d interlace %d not handled" % (depth, ctype, interlace))
    raw, stride, bpp = zlib.decompress(idat), width * channels, channels
    rows, prev, p = [], bytearray(stride), 0
    for _ in range(height):
        ftype, line = raw[p], bytearray(raw[p + 1:p + 1 + stride])
        p += 1 + stride
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if ftype == 1:
                line[i] = (line[i] + a) & 255
            elif ftype == 2:
                line[i] = (line[i] + b) & 255
            elif ftype == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif ftype == 4:
                est = a + b - c
                pa, pb, pc = abs(est - a), abs(est - b), abs(est - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(line)
        prev = line
    grey = []
    for line in rows:
        for x in range(width):
            px = line[x * channels:(x + 1) * channels]
            colour = px[:3] if channels >= 3 else px[:1]
            grey.append(sum(colour) // len(colour))
    return width, height, grey


def variance(values):
    mean = sum(values) / len(values)
    return sum((v - mean) ** 2 for v in values) / len(values)


def digit_png(side=112):
    """A hand-drawn-looking zero: a white ellipse ring on black, `side` pixels square."""
    pixels = []
    for y in range(side):
        for x in range(side):
            dx, dy = (x - side / 2) / (side * 0.22), (y - side / 2) / (side * 0.34)
            r = math.hypot(dx, dy)
            pixels.append(255 if 0.75 < r < 1.15 else 0)
    return png_encode_grey(side, side, pixels)


def expect(cond, message):
    if not cond:
        raise CheckFailed(message)


def expect_json(status, headers, body, want_status, what):
    expect(status == want_status, "%s: status %d, wanted %d: %s" % (what, status, want_status, body[:300]))
    expect(headers.get("content-type", "").startswith("application/json"),
           "%s: content-type %r" % (what, headers.get("content-type")))
    return json.loads(body)


def expect_png(status, headers, body, width, height, what):
    expect(status == 200, "%s: status %d: %s" % (what, status, body[:300]))
    expect(headers.get("content-type") == "image/png", "%s: content-type %r" % (what, headers.get("content-type")))
    w, h, grey = png_decode(body)
    expect((w, h) == (width, height), "%s: %dx%d PNG, wanted %dx%d" % (what, w, h, width, height))
    expect(variance(grey) > 10, "%s: the picture is blank (variance %.1f)" % (what, variance(grey)))
    return grey


def checks(base, models):
    """The checks, as (name, function) pairs; each function raises CheckFailed."""
    def health():
        expect_json(*http("GET", base + "/health"), 200, "GET /health")

    def ready():
        doc = expect_json(*http("GET", base + "/ready"), 200, "GET /ready")
        expect(doc.get("status") == "ready", "GET /ready: %r" % doc)

    def model_list():
        doc = expect_json(*http("GET", base + "/v1/models"), 200, "GET /v1/models")
        names = [m["name"] for m in doc["models"]]
        expect(names == models, "GET /v1/models: models %r, wanted %r" % (names, models))

    def sample():
        status, headers, body = http("GET", base + "/sample?n=16&seed=7&model=" + models[0])
        expect_png(status, headers, body, 112, 112, "GET /sample?n=16&seed=7")
        expect(headers.get("x-seed") == "7", "GET /sample: X-Seed %r, wanted 7" % headers.get("x-seed"))
        again = http("GET", base + "/sample?n=16&seed=7&model=" + models[0])[2]
        expect(again == body, "GET /sample: the same seed gave different images")

    def encode_decode():
        image = "data:image/png;base64," + base64.b64encode(digit_png()).decode()
        for name in models:
            doc = expect_json(*http("POST", base + "/encode?model=" + name, {"image": image}), 200,
                              "POST /encode (%s)" % name)
            mu, logvar = doc["mu"], doc["logvar"]
            expect(len(mu) == len(logvar) > 0 and all(math.isfinite(v) for v in mu + logvar),
                   "POST /encode: mu %r logvar %r" % (mu, logvar))
            status, headers, body = http("POST", base + "/decode?model=" + name, {"z": mu})
            expect_png(status, headers, body, 28, 28, "POST /decode (%s)" % name)
            status, headers, body = http("POST", base + "/reconstruct?model=" + name, {"image": image})
            expect_png(status, headers, body, 28, 28, "POST /reconstruct (%s)" % name)
            doc = expect_json(*http("POST", base + "/decode?format=json&model=" + name, {"z": [mu, mu]}), 200,
                              "POST /decode?format=json")
            expect(len(doc["pixels"]) == 2 and len(doc["pixels"][0]) == 784, "POST /decode?format=json: shape")

    def interpolate():
        status, headers, body = http("POST", base + "/interpolate", {"from": 3, "to": 8, "steps": 8})
        expect_png(status, headers, body, 8 * 28, 28, "POST /interpolate 3 -> 8")

    def error_shape():
        doc = expect_json(*http("POST", base + "/decode", {"z": [0.0]}), 422, "POST /decode with a 1-number z")
        err = doc.get("error", {})
        expect(err.get("code") == 422 and err.get("type") and err.get("message"), "error shape: %r" % doc)

    return [("health", health), ("ready", ready), ("models", model_list), ("sample", sample),
            ("encode/decode/reconstruct", encode_decode), ("interpolate", interpolate),
            ("error shape", error_shape)]


def main(argv):
    if len(argv) < 2:
        print("usage: apicheck.py BASE_URL [--models mnist,fashion,mnist2d]", file=sys.stderr)
        return 2
    base = argv[1].rstrip("/")
    models = ["mnist", "fashion", "mnist2d"]
    if len(argv) == 4 and argv[2] == "--models":
        models = argv[3].split(",")
    passed = failed = 0
    for name, fn in checks(base, models):
        try:
            fn()
            passed += 1
            print("  ok   %s" % name)
        except (CheckFailed, OSError, ValueError, KeyError, TypeError) as e:
            failed += 1
            print("  FAIL %s: %s" % (name, e))
    print("apicheck: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
