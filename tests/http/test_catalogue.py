"""The bad-input catalogue: one table of hostile or broken requests, each sent as raw bytes on its own
connection, each answered with its documented status and the one JSON error shape (type and a
message fragment checked), and after every row the server still answers /health and a valid
/decode. A few rows are valid-but-unusual inputs that must succeed (16-bit, interlaced, palette and
grey+alpha PNGs, charset parameters, chunked bodies). The count is printed; the README's
"Reliability" section quotes it.

Requests that libmicrohttpd itself refuses before the server sees them (malformed Content-Length,
bad chunk syntax, oversized headers, an unsupported HTTP version) are in a second table: their
status is libmicrohttpd's and their body is its HTML, which the server cannot change; only the
status and the server's health afterwards are checked."""
import gzip
import json
import os
import socket
import struct
import sys
import time
import unittest
import zlib
from collections import namedtuple

import pngutil
import replies
from common import TIMEOUT, RawResponse, ServerTestCase, b64, bare_weights, digits, png_of

KEY = "catalogue-key"
MAX_BODY = 65536

# name, raw request bytes, expected status, expected error type (None: success), message fragment
Case = namedtuple("Case", "name request status etype fragment")


def http(method, path, body=b"", ctype=None, headers=(), auth=True, length=None):
    """A raw HTTP/1.1 request; Content-Length is set from the body unless `length` overrides it
    (a string, or False for none)."""
    lines = ["%s %s HTTP/1.1" % (method, path), "Host: catalogue", "Connection: close"]
    if auth:
        lines.append("Authorization: Bearer " + KEY)
    if ctype:
        lines.append("Content-Type: " + ctype)
    if length is None:
        if body or method == "POST":
            lines.append("Content-Length: %d" % len(body))
    elif length is not False:
        lines.append("Content-Length: " + length)
    lines += list(headers)
    if isinstance(body, str):
        body = body.encode("utf-8")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def post_json(path, body, **kw):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return http("POST", path, data, "application/json", **kw)


def post_png(path, png, **kw):
    return http("POST", path, png, "image/png", **kw)


def chunked(path, data, ctype="application/json", chunk=4096):
    pieces = [data[i:i + chunk] for i in range(0, len(data), chunk)]
    body = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
    return http("POST", path, body, ctype, headers=["Transfer-Encoding: chunked"], length=False)


def exchange(port, data, timeout=TIMEOUT):
    """Sends data (tolerating the server closing early, as it does after refusing a body) and reads
    the reply until the connection closes or the declared body is complete."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    got = b""
    try:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        while True:
            try:
                part = s.recv(65536)
            except ConnectionResetError:
                break
            if not part:
                break
            got += part
            head, sep, rest = got.partition(b"\r\n\r\n")
            if sep:
                length = [l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
                if length and len(rest) >= int(length[0].split(b":")[1]):
                    break
    finally:
        s.close()
    resp = RawResponse(got)
    replies.record_raw(data, resp)
    return resp


def assert_finite(test, value, what):
    """No null (a NaN or infinity the server wrote) and no non-finite number anywhere in a reply."""
    if isinstance(value, dict):
        for v in value.values():
            assert_finite(test, v, what)
    elif isinstance(value, list):
        for v in value:
            test.assertIsNotNone(v, "%s: null in the reply (a NaN or infinity was written)" % what)
            assert_finite(test, v, what)
    elif isinstance(value, float):
        test.assertTrue(value == value and abs(value) != float("inf"), what)


def png_variants(grey):
    """The same 28x28 digit in the encodings the server must accept."""
    rows8 = [list(grey[y * 28:(y + 1) * 28]) for y in range(28)]
    rows16 = [[v * 257 for v in r] for r in rows8]
    palette = [(i, i, i) for i in range(256)]
    return {
        "grey 16-bit": pngutil.encode(28, 28, rows16, pngutil.GREY, 16),
        "grey 8-bit interlaced": pngutil.encode(28, 28, rows8, pngutil.GREY, 8, interlace=True),
        "palette 8-bit": pngutil.encode(28, 28, rows8, pngutil.PALETTE, 8, palette=palette),
        "grey+alpha 8-bit": pngutil.encode(28, 28, [[c for v in r for c in (v, 255)] for r in rows8],
                                           pngutil.GREY_ALPHA, 8),
        "grey+alpha 16-bit interlaced": pngutil.encode(
            28, 28, [[c for v in r for c in (v * 257, 65535)] for r in rows8], pngutil.GREY_ALPHA, 16,
            interlace=True),
        "RGBA 8-bit 56x56 (resized)": pngutil.encode(
            56, 56, [[c for x in range(56) for c in [rows8[y // 2][x // 2]] * 3 + [255]] for y in range(56)],
            pngutil.RGBA, 8),
        "grey 1-bit": pngutil.encode(28, 28, [[1 if v > 127 else 0 for v in r] for r in rows8], pngutil.GREY, 1),
    }


def catalogue(d, png):
    """Every row of the table. d is the default model's latent size, png a valid 28x28 digit."""
    z = [0.0] * d
    zs = ", ".join(["0"] * d)
    good_b64 = b64(png)
    idat = png.index(b"IDAT")
    idat_len = struct.unpack(">I", png[idat - 4:idat])[0]
    bad_idat_crc = bytearray(png)
    bad_idat_crc[idat + 4 + idat_len] ^= 0x55
    bad_ihdr_crc = bytearray(png)
    bad_ihdr_crc[29] ^= 0xFF
    huge = pngutil.SIGNATURE + pngutil.ihdr(100000, 100000, 8, 0) + pngutil.chunk(b"IDAT", zlib.compress(b"\0" * 64))
    blank = pngutil.grey8(bytes([255] * 64 * 64), 64, 64)
    noise = pngutil.grey8(bytes((i * 7919 + (i // 64) * 104729) % 41 + 214 for i in range(96 * 96)), 96, 96)
    jpeg = bytes.fromhex("ffd8ffe000104a46494600010100000100010000ffdb004300") + b"\x08" * 64 + b"\xff\xd9"
    gif = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
    req, val, par = "invalid_request", "invalid_value", "invalid_parameter"
    rows = [
        # --- PNG bodies ---
        Case("truncated PNG", post_png("/encode", png[:len(png) // 2]), 400, "invalid_png", "truncated"),
        Case("PNG cut inside its signature", post_png("/encode", png[:5]), 400, "invalid_png", "truncated"),
        Case("PNG with a bad IDAT CRC", post_png("/encode", bytes(bad_idat_crc)), 400, "invalid_png", "CRC"),
        Case("PNG with a bad IHDR CRC", post_png("/encode", bytes(bad_ihdr_crc)), 400, "invalid_png", "CRC"),
        Case("tiny PNG claiming 100000x100000", post_png("/encode", huge), 422, "image_too_large", "100000x100000"),
        Case("same, base64 in JSON", post_json("/encode", {"image": b64(huge)}), 422, "image_too_large", "image"),
        Case("PNG with a zero width", post_png("/encode", pngutil.SIGNATURE + pngutil.ihdr(0, 28, 8, 0)
                                               + pngutil.chunk(b"IDAT", zlib.compress(b"\0" * 28))),
             400, "invalid_png", "zero"),
        Case("PNG whose IDAT is not zlib", post_png("/encode", pngutil.SIGNATURE + pngutil.ihdr(28, 28, 8, 0)
                                                    + pngutil.chunk(b"IDAT", b"not zlib at all")
                                                    + pngutil.chunk(b"IEND", b"")), 400, "invalid_png", None),
        Case("PNG with an unknown filter type", post_png("/encode", pngutil.SIGNATURE + pngutil.ihdr(28, 28, 8, 0)
                                                         + pngutil.chunk(b"IDAT", zlib.compress(b"\x07" * 29 * 28))
                                                         + pngutil.chunk(b"IEND", b"")), 400, "invalid_png", "filter"),
        Case("PNG without IHDR", post_png("/encode", pngutil.SIGNATURE + pngutil.chunk(b"tEXt", b"Comment\0no header")
                                               + pngutil.chunk(b"IEND", b"")),
             400, "invalid_png", "IHDR"),
        Case("JPEG sent as PNG", post_png("/encode", jpeg), 400, "invalid_png", "JPEG"),
        Case("GIF sent as PNG", post_png("/encode", gif), 400, "invalid_png", "GIF"),
        Case("JSON sent as image/png", post_png("/encode", b'{"image": "x"}'), 400, "invalid_png", "JSON"),
        Case("base64 text sent as image/png", post_png("/encode", good_b64.encode()), 400, "invalid_png", "base64"),
        Case("empty PNG body", post_png("/encode", b""), 400, "invalid_png", "empty"),
        Case("PNG sent as application/json", post_json("/encode", png), 400, "invalid_json", "UTF-8"),
        # --- JSON bodies: bytes that do not parse ---
        Case("empty JSON body", post_json("/decode", b""), 400, "invalid_json", "empty"),
        Case("unterminated JSON", post_json("/decode", b'{"z": [1, 2'), 400, "invalid_json", "not valid JSON"),
        Case("bytes after the JSON value", post_json("/decode", ('{"z": [%s]} x' % zs).encode()), 400, "invalid_json",
             "after the JSON"),
        Case("NaN literal", post_json("/decode", ('{"z": [NaN%s]}' % (", 0" * (d - 1))).encode()), 400,
             "invalid_json", "NaN"),
        Case("Infinity literal", post_json("/decode", ('{"z": [Infinity%s]}' % (", 0" * (d - 1))).encode()), 400,
             "invalid_json", "Infinity"),
        Case("-Infinity literal", post_json("/decode", ('{"z": [-Infinity%s]}' % (", 0" * (d - 1))).encode()), 400,
             "invalid_json", "not valid JSON"),
        Case("nesting 10000 deep", post_json("/decode", b"[" * 10000), 400, "invalid_json", "nesting"),
        Case("nesting 10000 deep inside z", post_json("/decode", b'{"z":' + b"[" * 10000 + b"]" * 10000 + b"}"),
             400, "invalid_json", "nesting"),
        Case("invalid UTF-8 (0xff)", post_json("/decode", b'{"z": "\xff"}'), 400, "invalid_json", "UTF-8"),
        Case("overlong UTF-8", post_json("/decode", b'{"z": "\xc0\xaf"}'), 400, "invalid_json", "UTF-8"),
        Case("UTF-8 surrogate", post_json("/decode", b'{"z": "\xed\xa0\x80"}'), 400, "invalid_json", "UTF-8"),
        Case("UTF-8 cut at the end", post_json("/decode", b'{"z": "\xe2\x82'), 400, "invalid_json", "UTF-8"),
        Case("raw NUL byte between JSON tokens", post_json("/decode", ('{"z":\0[%s]}' % zs).encode()), 400,
             "invalid_json", None),
        Case("control character as JSON whitespace", post_json("/decode", ('\x0b{"z": [%s]}' % zs).encode()), 400,
             "invalid_json", None),
        Case("number with a leading zero", post_json("/decode", ('{"z": [01%s]}' % (", 0" * (d - 1))).encode()), 400,
             "invalid_json", None),
        Case("number ending in a dot", post_json("/decode", ('{"z": [1.%s]}' % (", 0" * (d - 1))).encode()), 400,
             "invalid_json", None),
        Case("raw control character in a string", post_json("/encode", b'{"image": "\x01"}'), 400,
             "invalid_json", None),
        Case("single-quoted JSON", post_json("/decode", b"{'z': [0]}"), 400, "invalid_json", None),
        Case("invalid base64", post_json("/encode", {"image": good_b64[:10] + "*" + good_b64[11:]}), 400,
             "invalid_base64", "'*'"),
        Case("base64 with a lone last character", post_json("/encode", {"image": "AAAAA"}), 400, "invalid_base64",
             "truncated"),
        Case("base64 data after padding", post_json("/encode", {"image": "AA==AA=="}), 400, "invalid_base64",
             "after padding"),
        Case("data URL that is not base64", post_json("/encode", {"image": "data:image/png," + good_b64}), 400,
             "invalid_base64", "base64"),
        Case("base64 of a truncated PNG", post_json("/encode", {"image": b64(png[:60])}), 400, "invalid_png", "image"),
        # a C string ends at an escaped NUL: "z\u0000x" would be read as the key "z"
        Case("escaped NUL in a key", post_json("/decode", ('{"z\\u0000ignored": [%s]}' % zs).encode()), 400,
             "invalid_json", None),
        Case("escaped NUL in a string", post_json("/encode", b'{"image": "\\u0000iVBORw0KGgo="}'), 400,
             "invalid_json", None),
        Case("lone high surrogate escape", post_json("/decode", ('{"z\\ud800": [%s]}' % zs).encode()), 400,
             "invalid_json", "surrogate"),
        Case("lone low surrogate escape", post_json("/encode", b'{"image": "\\udc00"}'), 400, "invalid_json",
             "surrogate"),
        Case("high surrogate escape followed by a non-surrogate", post_json("/encode", b'{"image": "\\ud800\\u0041"}'),
             400, "invalid_json", "surrogate"),
        # --- JSON bodies: well-formed but wrong ---
        Case("body is an array", post_json("/decode", b"[1, 2]"), 422, req, "JSON object"),
        Case("body is null", post_json("/decode", b"null"), 422, req, "JSON object"),
        Case("z is a string", post_json("/decode", {"z": "abc"}), 422, req, "z must be an array"),
        Case("z holds a string", post_json("/decode", {"z": ["a"] + z[1:]}), 422, req, "z[0] is not a number"),
        Case("z holds null", post_json("/decode", {"z": z[1:] + [None]}), 422, req, "is not a number"),
        Case("z holds a boolean", post_json("/decode", {"z": [True] + z[1:]}), 422, req, "is not a number"),
        Case("z nested three deep", post_json("/decode", {"z": [[z]]}), 422, req, "z[0][0] is not a number"),
        Case("z of the wrong length (3)", post_json("/decode", {"z": [0, 0, 0]}), 422, val,
             "z has 3 numbers; it needs %d" % d),
        Case("z one too long", post_json("/decode", {"z": z + [0]}), 422, val, "it needs %d" % d),
        Case("z empty", post_json("/decode", {"z": []}), 422, req, "z must be an array"),
        Case("z rows of different lengths", post_json("/decode", {"z": [z, z[:3]]}), 422, val, "z[1] has 3 numbers"),
        Case("huge number 1e400", post_json("/decode", ('{"z": [1e400%s]}' % (", 0" * (d - 1))).encode()), 422, val,
             "finite"),
        Case("number beyond float32 (4e38)", post_json("/decode", ('{"z": [4e38%s]}' % (", 0" * (d - 1))).encode()),
             422, val, "float32"),
        # the arc between two orthogonal vectors of float32-extreme components leaves float32's range
        Case("slerp overflowing float32", post_json("/interpolate?format=json", json.dumps({
            "from": [3e38] * d, "to": [3e38, -3e38] * (d // 2) + [0.0] * (d % 2), "steps": 3,
            "method": "slerp"}).encode()), 422, val, "overflows float32"),
        Case("huge integer seed", post_json("/encode", ('{"image": "%s", "seed": 1e300}' % good_b64).encode()), 422,
             req, "seed must be an integer"),
        Case("duplicate key", post_json("/decode", ('{"z": [%s], "z": [%s]}' % (zs, zs)).encode()), 422, req,
             "'z' appears more than once"),
        Case("unknown key", post_json("/decode", {"z": z, "zz": 1}), 422, req, "unknown field 'zz'"),
        Case("missing z", post_json("/decode", {}), 422, req, 'missing "z"'),
        Case("257 latent vectors", post_json("/decode", {"z": [[0] * d] * 257}), 422, "too_many_items", "257"),
        Case("two image fields", post_json("/encode", {"image": good_b64, "pixels": [0] * 784}), 422, req,
             "exactly one of"),
        Case("pixel above 1", post_json("/encode", {"pixels": [0] * 100 + [1.5] + [0] * 683}), 422, val,
             "pixels[100] is 1.5"),
        Case("negative pixel", post_json("/encode", {"pixels": [-0.25] + [0] * 783}), 422, val, "0..1"),
        Case("images is not a list", post_json("/encode", {"images": good_b64}), 422, req, "non-empty list"),
        Case("invert is a string", post_json("/encode", {"image": good_b64, "invert": "yes"}), 422, req,
             "invert must be true or false"),
        Case("negative seed", post_json("/encode", {"image": good_b64, "seed": -1}), 422, req, "seed"),
        # --- preparing images (normalize, invert=auto, pixels of any size, with_input) ---
        Case("normalize is a number", post_json("/encode", {"image": good_b64, "normalize": 1}), 422, req,
             "normalize must be a string"),
        Case("unknown normalize", post_json("/encode", {"image": good_b64, "normalize": "sharpen"}), 422, val,
             "none, mnist, fill or auto"),
        Case("invert is another string", post_json("/encode", {"image": good_b64, "invert": "sometimes"}), 422, req,
             "or \"auto\""),
        Case("blank PNG with normalize=mnist", post_png("/encode?normalize=mnist&invert=auto", blank), 422, "no_ink",
             "no ink"),
        Case("noise only with normalize=fill", post_json("/reconstruct", {"images": [good_b64, b64(noise)],
                                                                          "normalize": "fill", "invert": "auto"}),
             422, "no_ink", "images[1]"),
        Case("blank pixels with normalize=auto", post_json("/encode", {"pixels": [0] * 784, "normalize": "auto"}), 422,
             "no_ink", "pixels"),
        Case("interpolate from a blank PNG", post_json("/interpolate", {"from": b64(blank), "to": 3,
                                                                        "normalize": "mnist"}), 422, "no_ink", "from"),
        Case("width without height", post_json("/encode", {"pixels": [0] * 784, "width": 28}), 422, req,
             "both \"width\" and \"height\""),
        Case("width 0", post_json("/encode", {"pixels": [0], "width": 0, "height": 1}), 422, val,
             "width must be an integer"),
        Case("fractional height", post_json("/encode", {"pixels": [0] * 4, "width": 2, "height": 2.5}), 422, val,
             "height must be an integer"),
        Case("pixels fewer than width x height", post_json("/encode", {"pixels": [0] * 10, "width": 4, "height": 3}),
             422, val, "needs 12"),
        Case("width x height over --max-pixels", post_json("/encode", {"pixels": [0], "width": 16384,
                                                                       "height": 16384}), 422, "image_too_large",
             "--max-pixels"),
        Case("width with a PNG", post_json("/encode", {"image": good_b64, "width": 28, "height": 28}), 422, req,
             "a PNG carries its own size"),
        Case("with_input is a string", post_json("/reconstruct", {"image": good_b64, "with_input": "yes"}), 422, req,
             "with_input must be true or false"),
        Case("with_input on /encode", post_json("/encode", {"image": good_b64, "with_input": True}), 422, req,
             "unknown field 'with_input'"),
        Case("label 10", post_json("/interpolate", {"from": 10, "to": 8}), 422, val, "not a class label"),
        Case("label as a string", post_json("/interpolate", {"from": "3", "to": 8}), 422, val, "class labels are numbers"),
        Case("fractional label", post_json("/interpolate", {"from": 2.5, "to": 8}), 422, val, "2.5"),
        Case("steps 1000", post_json("/interpolate", {"from": 3, "to": 8, "steps": 1000}), 422, val, "steps"),
        Case("steps a string", post_json("/interpolate", {"from": 3, "to": 8, "steps": "4"}), 422, val, "steps"),
        Case("unknown interpolation method", post_json("/interpolate", {"from": 3, "to": 8, "method": "cubic"}), 422, val, "method"),
        Case("endpoint is an object", post_json("/interpolate", {"from": {"a": 1}, "to": 8}), 422, req,
             "from must be"),
        # --- query strings ---
        Case("n=-1", http("GET", "/sample?n=-1"), 422, par, "n must be"),
        Case("n=0", http("GET", "/sample?n=0"), 422, par, "n must be"),
        Case("n=257", http("GET", "/sample?n=257"), 422, par, "n must be from 1 to 256"),
        Case("n=1e9", http("GET", "/sample?n=1e9"), 422, par, "n must be an integer"),
        Case("n=1000000000", http("GET", "/sample?n=1000000000"), 422, par, "n must be from 1 to 256"),
        Case("n=abc", http("GET", "/sample?n=abc"), 422, par, "not 'abc'"),
        Case("n empty", http("GET", "/sample?n="), 422, par, "n must be"),
        Case("n beyond 64 bits", http("GET", "/sample?n=99999999999999999999999"), 422, par, "n must be"),
        Case("n repeated", http("GET", "/sample?n=2&n=3"), 422, par, "'n' is given more than once"),
        Case("model repeated", post_json("/decode?model=mnist&model=mnist", {"z": z}), 422, par, "more than once"),
        Case("unknown parameter", http("GET", "/sample?count=3"), 422, par, "unknown query parameter 'count'"),
        Case("temperature=nan", http("GET", "/sample?temperature=nan"), 422, par, "temperature"),
        Case("temperature=inf", http("GET", "/sample?temperature=inf"), 422, par, "temperature"),
        Case("seed=-5", http("GET", "/sample?seed=-5"), 422, par, "seed"),
        Case("format=xml", http("GET", "/sample?format=xml"), 422, par, "format must be png or json"),
        Case("invert=maybe", post_png("/encode?invert=maybe", png), 422, par, "invert"),
        Case("normalize=sharpen", post_png("/encode?normalize=sharpen", png), 422, par, "normalize must be none"),
        Case("normalize empty", post_png("/reconstruct?normalize=", png), 422, par, "normalize must be"),
        Case("normalize repeated", post_png("/encode?normalize=mnist&normalize=fill", png), 422, par, "more than once"),
        Case("invert=automatic", post_png("/encode?invert=automatic", png), 422, par, "or auto"),
        Case("normalize on /decode", post_json("/decode?normalize=mnist", {"z": z}), 422, par,
             "unknown query parameter 'normalize'"),
        Case("with_input=maybe", post_png("/reconstruct?with_input=maybe", png), 422, par, "with_input"),
        Case("interpolate normalize=bogus", post_json("/interpolate?normalize=bogus", {"from": 3, "to": 8}), 422, par,
             "normalize must be"),
        Case("unknown model", http("GET", "/sample?model=nope"), 404, "model_not_found", "loaded models"),
        # --- body size (--max-body %d) ---
        Case("declared length over the limit", http("POST", "/decode", b"{", "application/json",
                                                     length="1000000000000"), 413, "payload_too_large",
             "1000000000000"),
        Case("declared length over the limit, Expect: 100-continue",
             http("POST", "/encode", b"", "image/png", headers=["Expect: 100-continue"], length=str(MAX_BODY + 1)),
             413, "payload_too_large", str(MAX_BODY + 1)),
        Case("undeclared (chunked) body over the limit", chunked("/decode", b" " * (MAX_BODY + 10)), 413,
             "payload_too_large", "limit"),
        Case("chunked body over the limit in 1-byte chunks", chunked("/decode", b" " * (MAX_BODY + 1), chunk=1),
             413, "payload_too_large", "limit"),
        Case("chunked PNG body over the limit", chunked("/encode", png + b"\0" * MAX_BODY, ctype="image/png"),
             413, "payload_too_large", None),
        Case("n without a value", http("GET", "/sample?n"), 422, par, "not empty"),
        Case("format without a value", http("GET", "/sample?format"), 422, par, "format must be png or json"),
        # --- scoring and the latent space (the catalogue's models carry no trainer statistics) ---
        Case("score k=0", post_png("/score?k=0", png), 422, par, "k must be from 1 to 5000"),
        Case("score k=5001", post_json("/score", {"image": good_b64, "k": 5001}), 422, val, "k must be"),
        Case("score past --max-score-rows", post_json("/score", {"pixels": [[0] * 784] * 3, "k": 5000}), 422,
             "too_many_items", "--max-score-rows"),
        Case("manifold n=1", http("GET", "/manifold?n=1"), 422, par, "n must be from 2 to 32"),
        Case("manifold dims twice", http("GET", "/manifold?dims=0,0"), 422, par, "given twice"),
        Case("manifold dim past d", http("GET", "/manifold?dims=0,%d" % d), 422, par, "not a latent dimension"),
        Case("manifold three dims", http("GET", "/manifold?dims=0,1,2"), 422, par, "two latent dimensions"),
        Case("manifold base not numbers", http("GET", "/manifold?dims=0,1&base=abc"), 422, par, "finite numbers"),
        Case("manifold base of the wrong size", http("GET", "/manifold?dims=0,1&base=1,2"), 422, par, "numbers, not 2"),
        Case("manifold without a principal plane", http("GET", "/manifold?model=bare"), 422, val, "vae-train --annotate"),
        Case("traverse without diagnostics", http("GET", "/traverse?count=9&model=bare"), 422, val, "diagnostics"),
        Case("traverse steps=1", http("GET", "/traverse?dims=0&steps=1"), 422, par, "steps must be"),
        Case("traverse label and z", http("GET", "/traverse?dims=0&label=3&z=0"), 422, par, "not both"),
        Case("traverse two base points", post_json("/traverse", {"label": 3, "z": [0] * d, "dims": [0]}), 422, req,
             "one base point"),
        Case("traverse dims not a list", post_json("/traverse", {"dims": 3}), 422, req, "dims must be"),
        Case("sample a class without class statistics", http("GET", "/sample?label=3&model=bare"), 422, val, "class statistics"),
        Case("sample label=10", http("GET", "/sample?label=10"), 422, par, "label must be from 0 to 9"),
        Case("complete without a mask", post_json("/complete", {"image": good_b64}), 422, req, "known pixels"),
        Case("complete keep=middle", post_json("/complete", {"image": good_b64, "keep": "middle"}), 422, val,
             "keep must be"),
        Case("complete mask of 3 numbers", post_json("/complete", {"image": good_b64, "mask": [1, 0, 1]}), 422, val,
             "mask has 3 numbers"),
        Case("complete mask of halves", post_json("/complete", {"image": good_b64, "mask": [0.5] * 784}), 422, val,
             "0 or 1"),
        Case("complete steps=0", post_json("/complete", {"image": good_b64, "keep": "top", "steps": 0}), 422, val,
             "steps must be"),
        Case("complete unknown method", post_json("/complete", {"image": good_b64, "keep": "top", "method": "gibbs"}),
             422, val, "method must be"),
        Case("complete a list of images", post_json("/complete", {"images": [good_b64], "keep": "top"}), 422, req,
             "give one image"),
        Case("traverse from a list of images", post_json("/traverse", {"images": [good_b64], "dims": [0]}), 422, req,
             "give one image (\"image\"), not a list"),
        Case("score a blank page with normalize", http("POST", "/score?normalize=mnist", png_of(bytes(784)), "image/png"),
             422, "no_ink", "no ink"),
        Case("complete with normalize=sideways", post_json("/complete?normalize=sideways", {"image": good_b64, "keep": "top"}),
             422, par, "normalize"),
        # --- compressed bodies (Content-Encoding) ---
        Case("gzip body cut short", http("POST", "/decode", gzip.compress(json.dumps({"z": z}).encode())[:-9],
                                          "application/json", headers=["Content-Encoding: gzip"]), 400,
             "invalid_encoding", "truncated"),
        Case("gzip body with bytes after it", http("POST", "/decode", gzip.compress(json.dumps({"z": z}).encode()) + b"x",
                                                   "application/json", headers=["Content-Encoding: gzip"]), 400,
             "invalid_encoding", "after the end"),
        Case("raw deflate as Content-Encoding: deflate",
             http("POST", "/decode", zlib.compress(json.dumps({"z": z}).encode())[2:-4], "application/json",
                  headers=["Content-Encoding: deflate"]), 400, "invalid_encoding", "zlib format"),
        Case("gzip bomb past --max-body", http("POST", "/decode", gzip.compress(b" " * (4 * MAX_BODY), 9),
                                               "application/json", headers=["Content-Encoding: gzip"]), 413,
             "payload_too_large", "inflates past"),
        Case("Content-Encoding br", http("POST", "/decode", json.dumps({"z": z}), "application/json",
                                          headers=["Content-Encoding: br"]), 415, "unsupported_media_type",
             "Content-Encoding 'br'"),
        # --- routes, methods, media types ---
        Case("unknown route", http("GET", "/nope"), 404, "not_found", "no such endpoint"),
        Case("route with a trailing slash", http("GET", "/health/"), 404, "not_found", "/openapi.yaml"),
        Case("NUL escaped in the path", http("GET", "/health%00x"), 404, "not_found", None),
        Case("20 KB path", http("GET", "/" + "a" * 20000), 404, "not_found", None),
        Case("GET on a POST route", http("GET", "/encode"), 405, "method_not_allowed", "use POST"),
        Case("DELETE", http("DELETE", "/decode"), 405, "method_not_allowed", "DELETE"),
        Case("POST on a GET route", http("POST", "/sample", b"{}", "application/json"), 405, "method_not_allowed",
             "GET"),
        Case("unknown HTTP method", http("BREW", "/metrics"), 405, "method_not_allowed", "BREW"),
        Case("text/plain body", http("POST", "/decode", json.dumps({"z": z}), "text/plain"), 415,
             "unsupported_media_type", "text/plain"),
        Case("form-encoded body", http("POST", "/interpolate", "from=3&to=8", "application/x-www-form-urlencoded"),
             415, "unsupported_media_type", "curl -d"),
        Case("PNG content type on /decode", post_png("/decode", png), 415, "unsupported_media_type",
             "application/json"),
        Case("multipart body", http("POST", "/encode", b"--x\r\n\r\n--x--", "multipart/form-data; boundary=x"),
             415, "unsupported_media_type", "multipart"),
        # --- authentication ---
        Case("no API key", post_json("/decode", {"z": z}, auth=False), 401, "unauthorized", "Authorization: Bearer"),
        Case("wrong API key", post_json("/decode", {"z": z}, auth=False,
                                        headers=["Authorization: Bearer wrong"]), 401, "unauthorized", "wrong"),
        Case("API key with an extra character", http("GET", "/sample", auth=False,
                                                     headers=["Authorization: Bearer %sx" % KEY]),
             401, "unauthorized", None),
        Case("Basic instead of Bearer", http("GET", "/v1/models", auth=False,
                                             headers=["Authorization: Basic %s" % b64(KEY.encode())]),
             401, "unauthorized", None),
    ]
    return rows


def oip_catalogue(d, png):
    """Bad requests on Open Inference Protocol routes, answered in the protocol's {"error": "..."}
    shape: (name, raw request, status, message fragment)."""
    z = [0.0] * d
    head = json.dumps({"inputs": [{"name": "z", "shape": [1, d], "datatype": "FP32",
                                   "parameters": {"binary_data_size": 4 * d}}]}).encode()
    tail = struct.pack("<%df" % d, *z)
    infer = "/v2/models/mnist-decoder/infer"

    def binary(body, length, ctype=None, extra=()):
        return http("POST", infer, body, ctype, headers=["Inference-Header-Content-Length: %s" % length] + list(extra))

    return [
        ("binary header length past the body", binary(head + tail, len(head) + len(tail) + 1), 400, "only"),
        ("binary header length not a number", binary(head + tail, "0x10"), 400, "not '0x10'"),
        ("binary sizes that do not add up", binary(head + tail + b"\0" * 4, len(head)), 400, "add up to"),
        ("binary size against the shape", binary(head.replace(b"%d" % (4 * d), b"%d" % (4 * d - 4)) + tail[:-4],
                                                 len(head)), 400, "binary_data_size is"),
        ("binary input with data too", binary(json.dumps({"inputs": [{"name": "z", "shape": [1, d], "datatype": "FP32",
                                                                    "data": z, "parameters": {"binary_data_size": 4 * d}}]}
                                                        ).encode() + tail, len(json.dumps({"inputs": [
            {"name": "z", "shape": [1, d], "datatype": "FP32", "data": z,
             "parameters": {"binary_data_size": 4 * d}}]}))), 400, "both binary_data_size and data"),
        ("octet-stream without a header length", http("POST", infer, head + tail, "application/octet-stream"), 400,
         "needs Inference-Header-Content-Length"),
        ("NaN in binary data", binary(head + struct.pack("<f", float("nan")) + tail[4:], len(head)), 400, "finite"),
        ("repository: no such model", http("POST", "/v2/repository/models/nope/load"), 404, "this server has"),
        ("repository: parameters", post_json("/v2/repository/models/mnist/load", {"parameters": {"config": "x"}}),
         400, "not supported"),
        ("stats: no such model", http("GET", "/v2/models/nope-encoder/stats"), 404, "this server has"),
        ("stats: other version", http("GET", "/v2/models/mnist-encoder/versions/7/stats"), 404, "has version 1"),
        ("infer: other version", binary(head + tail, len(head)).replace(infer.encode(),
                                                                      b"/v2/models/mnist-decoder/versions/3/infer"),
         404, "not '3'"),
    ]


def must_succeed(d, png):
    """Valid but unusual requests: (name, raw request)."""
    rows = [("PNG, " + name, post_png("/encode", data)) for name, data in png_variants(digits().digit(5)).items()]
    zs = {"z": [0.0] * d}
    rows += [
        ("JSON with a charset parameter", http("POST", "/decode?format=json", json.dumps(zs),
                                               "application/json; charset=utf-8")),
        ("upper-case media type", http("POST", "/decode", json.dumps(zs), "APPLICATION/JSON")),
        ("no Content-Type, PNG bytes", http("POST", "/encode", png)),
        ("chunked JSON under the limit", chunked("/decode?format=json", json.dumps(zs).encode(), chunk=7)),
        ("JSON with every kind of whitespace", post_json("/decode", b' \t\r\n{ "z" :\n[' +
                                                         b" ,\t".join([b"0"] * d) + b"] } \n")),
        ("escaped key", post_json("/decode", ('{"\\u007a": [%s]}' % ", ".join(["0"] * d)).encode())),
        ("data URL with a media type", post_json("/encode", {"image": "data:image/png;base64," + b64(png)})),
        ("base64 wrapped at 76 columns", post_json("/encode", {"image": "\n".join(
            b64(png)[i:i + 76] for i in range(0, len(b64(png)), 76))})),
        ("float32 max", post_json("/decode", ('{"z": [3.4028234e38%s]}' % (", 0" * (d - 1))).encode())),
        ("n=256", http("GET", "/sample?n=256&seed=1")),
        ("query parameter without a value (invert)", post_png("/encode?invert", png)),
        ("normalize=auto&invert=auto on a 28x28 digit", post_png("/encode?normalize=auto&invert=auto", png)),
        ("normalize=fill on /reconstruct with the input", post_png("/reconstruct?normalize=fill&with_input", png)),
        ("pixels 3x2 with normalize=mnist", post_json("/encode", {"pixels": [0, 1, 0, 0, 1, 0], "width": 3,
                                                                  "height": 2, "normalize": "mnist"})),
        ("pixels 1x1 with normalize=none", post_json("/encode", {"pixels": [0.5], "width": 1, "height": 1})),
        ("a 1x1 PNG with invert=auto", post_png("/encode?invert=auto", pngutil.grey8(b"\x80", 1, 1))),
        ("interpolate linearly between float32 extremes", post_json("/interpolate?format=json", {
            "from": [3e38] * d, "to": [-3e38] * d, "steps": 3})),
        ("interpolate by slerp between float32 extremes", post_json("/interpolate?format=json", {
            "from": [3e38] * d, "to": [-3e38] * d, "steps": 3, "method": "slerp"})),
        ("decode float32 extremes", post_json("/decode?format=json", {"z": [3.4e38, -3.4e38] * (d // 2)
                                                                      + [0.0] * (d % 2)})),
    ]
    return rows


def framing(d):
    """Requests libmicrohttpd answers itself: (name, raw request, expected status)."""
    z = json.dumps({"z": [0.0] * d}).encode()
    return [
        ("Content-Length not a number", http("POST", "/decode", z, "application/json", length="abc"), 400),
        ("negative Content-Length", http("POST", "/decode", z, "application/json", length="-5"), 400),
        ("chunk size not hex", http("POST", "/decode", b"zz\r\n{}\r\n0\r\n\r\n", "application/json",
                                    headers=["Transfer-Encoding: chunked"], length=False), 400),
        ("40 KB header", http("GET", "/health", headers=["X-Big: " + "a" * 40000]), 431),
        ("HTTP/2.0 request line", b"GET /health HTTP/2.0\r\nHost: x\r\n\r\n", 505),
    ]


def ambiguous(d):
    """Requests whose body length is ambiguous or unknowable (request-smuggling material behind a
    proxy): (name, raw request). Each must be refused at once with a 400 (or 501) JSON error, not
    served and not left hanging until the idle timeout."""
    z = json.dumps({"z": [0.0] * d}).encode()
    body = b"%x\r\n%s\r\n0\r\n\r\n" % (len(z), z)
    return [
        ("two different Content-Lengths", http("POST", "/decode", z, "application/json",
                                               headers=["Content-Length: %d" % (len(z) + 5)])),
        ("Content-Length and chunked together", http("POST", "/decode", body, "application/json",
                                                     headers=["Transfer-Encoding: chunked"], length=str(len(z)))),
        ("Transfer-Encoding gzip", http("POST", "/decode", z, "application/json",
                                        headers=["Transfer-Encoding: gzip"], length=False)),
    ]


class Catalogue(ServerTestCase):
    server_args = ["--api-key", KEY, "--max-body", str(MAX_BODY)]
    auth = {"Authorization": "Bearer " + KEY}

    @classmethod
    def setUpClass(cls):
        cls.server_args = cls.server_args + ["--model", "bare=" + bare_weights()]
        super().setUpClass()
        cls.png = png_of(digits().digit(5))

    def assert_healthy(self, after):
        resp = exchange(self.server.port, http("GET", "/health", auth=False))
        self.assertEqual(resp.status, 200, "/health after %s: %r" % (after, resp.raw[:200]))
        self.assertEqual(resp.json(), {"status": "ok"})
        ok = exchange(self.server.port, post_json("/decode?format=json", {"z": [0.0] * self.d}))
        self.assertEqual(ok.status, 200, "valid /decode after %s: %r" % (after, ok.raw[:200]))
        self.assertEqual(len(ok.json()["pixels"][0]), 784)

    def test_bad_inputs(self):
        rows = catalogue(self.d, self.png)
        names = [r.name for r in rows]
        self.assertEqual(len(names), len(set(names)), "duplicate row names")
        self.assertGreaterEqual(len(rows), 40)
        started = time.monotonic()
        for row in rows:
            with self.subTest(row=row.name):
                resp = exchange(self.server.port, row.request)
                self.assertEqual(resp.status, row.status, "%s: %r" % (row.name, resp.raw[:300]))
                self.assertTrue((resp.header("content-type") or "").startswith("application/json"), row.name)
                body = resp.json()
                self.assertEqual(list(body), ["error"], body)
                err = body["error"]
                self.assertEqual(sorted(err), ["code", "message", "type"], body)
                self.assertEqual(err["code"], row.status, body)
                self.assertEqual(err["type"], row.etype, body)
                self.assertTrue(err["message"], body)
                if row.fragment:
                    self.assertIn(row.fragment.lower(), err["message"].lower(), body)
                self.assert_healthy(row.name)
        statuses = {}
        for r in rows:
            statuses[r.status] = statuses.get(r.status, 0) + 1
        print("\n  catalogue: %d bad-input cases (%s), each followed by /health and a valid /decode, in %.1f s"
              % (len(rows), ", ".join("%d x %d" % (n, s) for s, n in sorted(statuses.items())),
                 time.monotonic() - started), file=sys.stderr)

    def test_unusual_but_valid_inputs(self):
        rows = must_succeed(self.d, self.png)
        for name, request in rows:
            with self.subTest(row=name):
                resp = exchange(self.server.port, request)
                self.assertEqual(resp.status, 200, "%s: %r" % (name, resp.raw[:300]))
                if (resp.header("content-type") or "").startswith("application/json"):
                    body = resp.json()
                    self.assertNotIn("error", body)
                    assert_finite(self, body, name)
                    if "mu" in body:
                        self.assertEqual(len(body["mu"]), self.d)
                self.assert_healthy(name)
        print("\n  catalogue: %d unusual but valid inputs answered 200" % len(rows), file=sys.stderr)

    def test_ambiguous_body_length_is_refused(self):
        for name, request in ambiguous(self.d):
            with self.subTest(row=name):
                try:
                    resp = exchange(self.server.port, request, timeout=5)
                except socket.timeout:
                    self.fail("%s: no reply within 5 s (the server waits for a body it cannot delimit)" % name)
                self.assertIn(resp.status, (400, 501), "%s: %r" % (name, resp.raw[:300]))
                self.assertTrue((resp.header("content-type") or "").startswith("application/json"), name)
                self.assertEqual(resp.json()["error"]["code"], resp.status)
                self.assert_healthy(name)

    def test_oip_bad_inputs(self):
        rows = oip_catalogue(self.d, self.png)
        for name, request, status, fragment in rows:
            with self.subTest(row=name):
                resp = exchange(self.server.port, request)
                self.assertEqual(resp.status, status, "%s: %r" % (name, resp.raw[:300]))
                body = resp.json()
                self.assertEqual(list(body), ["error"], body)
                self.assertIsInstance(body["error"], str)
                self.assertIn(fragment.lower(), body["error"].lower(), body)
                self.assertTrue(resp.header("x-request-id"), name)
                self.assert_healthy(name)
        print("\n  catalogue: %d bad Open Inference Protocol requests, each followed by /health and a valid "
              "/decode" % len(rows), file=sys.stderr)

    def test_framing_refused_by_libmicrohttpd(self):
        for name, request, status in framing(self.d):
            with self.subTest(row=name):
                resp = exchange(self.server.port, request)
                self.assertEqual(resp.status, status, "%s: %r" % (name, resp.raw[:300]))
                self.assert_healthy(name)


if __name__ == "__main__":
    unittest.main()
