"""Shared pieces of the HTTP suite: configuration, an HTTP client (http.client and raw sockets), the
base class whose tests share one server, the MNIST digits, and image helpers."""
import atexit
import base64
import http.client
import json
import math
import os
import re
import socket
import struct
import tempfile
import unittest

import mnist
import pngutil
import replies
from server import REPO, ServerProcess, under_valgrind

MNIST_WEIGHTS = "model/weights/mnist.safetensors"
FASHION_WEIGHTS = "model/weights/fashion.safetensors"
MNIST2D_WEIGHTS = "model/weights/mnist2d.safetensors"
SECOND_MODEL = "fashion"
TIMEOUT = 600.0 if under_valgrind() else 30.0


def mnist_dir():
    return os.environ.get("VAE_TEST_MNIST", os.path.join(REPO, "..", "shared", "data", "mnist"))


def model_args():
    """--model flags for the two shipped models: mnist (the default) and fashion."""
    return ["--model", "mnist=" + MNIST_WEIGHTS, "--model", "%s=%s" % (SECOND_MODEL, FASHION_WEIGHTS)]


def shipped_model_args():
    """--model flags for every shipped model, as make run serves them: mnist, fashion and mnist2d."""
    return model_args() + ["--model", "mnist2d=" + MNIST2D_WEIGHTS]


# The tensors of the network itself; the rest of a shipped file is the statistics vae-train
# --annotate adds (class centroids, principal plane, diagnostics, score tables).
NETWORK_TENSORS = ("enc.", "dec.")
_bare = None


def read_weights(path):
    """(header, data) of a safetensors file: its JSON header and the bytes after it."""
    with open(path, "rb") as f:
        blob = f.read()
    n = struct.unpack("<Q", blob[:8])[0]
    return json.loads(blob[8:8 + n]), blob[8 + n:]


def network_only(source, path):
    """Writes to path a copy of the weights file source with only its network tensors and its
    metadata: the model an older trainer or a PyTorch export writes, without the statistics."""
    header, data = read_weights(source)
    out, parts, off = {"__metadata__": header.get("__metadata__", {})}, [], 0
    for name, t in header.items():
        if name == "__metadata__" or not name.startswith(NETWORK_TENSORS):
            continue
        a, b = t["data_offsets"]
        parts.append(data[a:b])
        out[name] = dict(t, data_offsets=[off, off + b - a])
        off += b - a
    return write_weights(path, out, b"".join(parts))


def bare_weights():
    """A copy of the shipped MNIST model with only its network tensors: the model a trainer of an
    older version wrote, which every statistics-based method must refuse clearly. Written once per run
    into a temporary directory."""
    global _bare
    if _bare is None:
        fd, _bare = tempfile.mkstemp(prefix="vae-bare-", suffix=".safetensors")
        os.close(fd)
        network_only(os.path.join(REPO, MNIST_WEIGHTS), _bare)
        atexit.register(os.unlink, _bare)
    return _bare


def latent_dim(path=None):
    """d of a weights file (default the shipped mnist model), from its safetensors header."""
    header, _ = read_weights(path or os.path.join(REPO, MNIST_WEIGHTS))
    return int(header["__metadata__"]["latent_dim"])


def write_weights(path, header, data):
    """Writes a safetensors file: header (its JSON, padded to 8 bytes), then data."""
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data)
    return path


# struct's code and size of the tensor dtypes the tests edit in place (the shipped files use these two)
TENSOR_FORMATS = {"F32": ("f", 4), "F16": ("e", 2)}


def tensor_format(info):
    """(struct code, bytes per value) of a tensor's header entry."""
    if info["dtype"] not in TENSOR_FORMATS:
        raise ValueError("tests edit F32 and F16 tensors only, not %s" % info["dtype"])
    return TENSOR_FORMATS[info["dtype"]]


def twin_weights(source, path, shift=1.0):
    """Writes to path a copy of the weights file source whose decoder output bias is moved by shift:
    another model of exactly the same shape (same tensors, same statistics) that decodes every z to
    different pixels, for tests that swap one served file for another of the same architecture."""
    header, data = read_weights(source)
    a, b = header["dec.out.bias"]["data_offsets"]
    code, size = tensor_format(header["dec.out.bias"])
    fmt = "<%d%s" % ((b - a) // size, code)
    bias = struct.unpack(fmt, data[a:b])
    return write_weights(path, header, data[:a] + struct.pack(fmt, *(v + shift for v in bias)) + data[b:])


_digits = None
_fashion = None


def fashion():
    """The Fashion-MNIST test set (Debian's dataset-fashion-mnist, which the test command installs;
    VAE_TEST_FASHION names another directory), loaded once; a missing set is an error, not a skip."""
    global _fashion
    if _fashion is None:
        where = os.environ.get("VAE_TEST_FASHION", "/usr/share/datasets/fashion-mnist")
        images = os.path.join(where, "t10k-images-idx3-ubyte.gz")
        if not os.path.exists(images):
            raise AssertionError("%s not found: install dataset-fashion-mnist (tests/install-deps.sh does)" % images)
        _fashion = mnist.Digits(images, os.path.join(where, "t10k-labels-idx1-ubyte.gz"), "Fashion-MNIST in " + where)
    return _fashion


def digits():
    """The MNIST test digits (loaded once)."""
    global _digits
    if _digits is None:
        _digits = mnist.load(mnist_dir())
    return _digits


# --- HTTP ---

class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # case-insensitive .get(); .get_all() for repeated headers
        self.body = body

    def header(self, name):
        return self.headers.get(name)

    @property
    def content_type(self):
        return self.headers.get("Content-Type", "")

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def png(self):
        return pngutil.decode(self.body)

    def __repr__(self):
        return "<%d %s %r>" % (self.status, self.content_type, self.body[:300])


class Client:
    """One connection per request (the server closes connections after some errors)."""

    def __init__(self, port, headers=None):
        self.port = port
        self.headers = dict(headers or {})

    def request(self, method, path, body=None, headers=None, content_type=None):
        h = dict(self.headers)
        h.update(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        elif isinstance(body, str):
            body = body.encode("utf-8")
        if content_type is not None:
            h["Content-Type"] = content_type
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=TIMEOUT)
        try:
            conn.request(method, path, body=body, headers=h)
            resp = conn.getresponse()
            data = resp.read()
            replies.record(method, path, resp.status, resp.headers, data)
            return Response(resp.status, resp.headers, data)
        finally:
            conn.close()

    def get(self, path, headers=None):
        return self.request("GET", path, headers=headers)

    def post(self, path, body, headers=None, content_type=None):
        return self.request("POST", path, body=body, headers=headers, content_type=content_type)

    def post_png(self, path, png, headers=None):
        return self.request("POST", path, body=png, headers=headers, content_type="image/png")


class RawResponse:
    def __init__(self, data):
        self.raw = data
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        m = re.match(r"HTTP/1\.[01] (\d{3})", lines[0]) if lines else None
        if not m:
            raise AssertionError("not an HTTP response: %r" % data[:200])
        self.status = int(m.group(1))
        self.headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            self.headers[k.strip().lower()] = v.strip()
        n = int(self.headers.get("content-length", len(rest)))
        self.body = rest[:n]

    def header(self, name):
        return self.headers.get(name.lower())

    def json(self):
        return json.loads(self.body.decode("utf-8"))


def raw_exchange(port, data, timeout=None):
    """Sends raw bytes, reads until the server closes the connection (or a complete response with
    Content-Length arrived), and parses the first response."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout or TIMEOUT)
    try:
        s.sendall(data)
        got = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            got += chunk
            head, sep, rest = got.partition(b"\r\n\r\n")
            if sep:
                m = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
                if m and len(rest) >= int(m.group(1)):
                    break
        resp = RawResponse(got)
        replies.record_raw(data, resp)
        return resp
    finally:
        s.close()


# --- images and vectors ---

def png_of(pixels, side=28):
    return pngutil.grey8(pixels, side, side)


def b64(data):
    return base64.b64encode(data).decode("ascii")


def f32(x):
    """x rounded to the nearest float32 (what the server computes with)."""
    return struct.unpack("<f", struct.pack("<f", x))[0]


def max_abs_diff(a, b):
    assert len(a) == len(b), (len(a), len(b))
    return max(abs(x - y) for x, y in zip(a, b))


def dist(a, b):
    return math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b)))


def mse(a, b):
    assert len(a) == len(b)
    return sum((x - y) ** 2 for x, y in zip(a, b)) / len(a)


def cell(grey, width, col, row=0, side=28):
    """The side x side cell (col, row) of a grid image given as a flat list of bytes."""
    out = []
    for y in range(side):
        start = (row * side + y) * width + col * side
        out.extend(grey[start:start + side])
    return out


def scaled(grey):
    return [v / 255.0 for v in grey]


# --- base test case ---

class ServerTestCase(unittest.TestCase):
    """Tests of one class share one server, started with server_args (+ the two models unless
    with_models is False) and stopped, asserting exit code 0, after the last test."""

    server_args = []
    server_env = None
    with_models = True
    auth = {}  # headers every request sends (e.g. the API key)
    maxDiff = 4000

    @classmethod
    def setUpClass(cls):
        args = (model_args() if cls.with_models else []) + list(cls.server_args)
        cls.server = ServerProcess(args, env=cls.server_env, name="vae-server(%s)" % cls.__name__)
        cls.server.start()
        cls.client = Client(cls.server.port, cls.auth)
        resp = cls.client.get("/v1/models")
        assert resp.status == 200, resp
        cls.models = {m["name"]: m for m in resp.json()["models"]}
        cls.default_model = resp.json()["models"][0]["name"]
        cls.d = cls.models[cls.default_model]["latent_dim"]

    @classmethod
    def tearDownClass(cls):
        server = getattr(cls, "server", None)
        if server is None:
            return
        try:
            # whatever the tests sent, the process is alive and healthy at the end
            assert server.alive(), "the server died during %s\n%s" % (cls.__name__, server.stderr)
            resp = Client(server.port).get("/health")
            assert resp.status == 200 and resp.json() == {"status": "ok"}, resp
        except BaseException:
            server.kill()
            raise
        server.stop()

    # --- helpers ---

    def latent(self, model=None):
        return self.models[model or self.default_model]["latent_dim"]

    def encode_png(self, png, query="", model=None):
        """mu of one PNG body (asserting 200)."""
        q = query + ("&" if query and model else "") + ("model=" + model if model else "")
        resp = self.client.post_png("/encode" + ("?" + q if q else ""), png)
        self.assertEqual(resp.status, 200, resp)
        return resp.json()["mu"]

    def encode_json(self, body, query=""):
        resp = self.client.post("/encode" + query, body)
        self.assertEqual(resp.status, 200, resp)
        return resp.json()

    def decode_json(self, zs, model=None):
        resp = self.client.post("/decode?format=json" + ("&model=" + model if model else ""), {"z": zs})
        self.assertEqual(resp.status, 200, resp)
        return resp.json()["pixels"]

    def assert_png(self, resp, width, height):
        """A 200 image/png reply of the given size, 8-bit grey; returns the flat grey bytes."""
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.content_type, "image/png")
        img = resp.png()
        self.assertEqual((img.width, img.height), (width, height))
        self.assertEqual((img.color_type, img.depth), (pngutil.GREY, 8), "not 8-bit grey")
        return img.grey8()

    def assert_ink(self, grey, what="image"):
        """Sensible ink for a digit on a dark background: some bright strokes, mostly background."""
        bright = sum(1 for v in grey if v > 128)
        dark = sum(1 for v in grey if v < 64)
        self.assertGreater(bright, len(grey) * 0.02, "%s: almost no ink (%d bright pixels)" % (what, bright))
        self.assertGreater(dark, len(grey) * 0.5, "%s: not mostly background (%d dark of %d)" % (what, dark, len(grey)))

    def assert_vector(self, v, n, what="vector"):
        self.assertIsInstance(v, list, what)
        self.assertEqual(len(v), n, what)
        for x in v:
            self.assertIsInstance(x, (int, float), what)
            self.assertTrue(math.isfinite(x), what)

    def assert_alive(self):
        """The server still answers a valid model request."""
        resp = self.client.post("/decode?format=json", {"z": [0.0] * self.d})
        self.assertEqual(resp.status, 200, "server no longer answers a valid request: %r" % resp)
        self.assertEqual(len(resp.json()["pixels"][0]), 784)

    def assert_error(self, resp, status, etype, *fragments):
        """The one error shape, code == status, the type, and message fragments (case-insensitive);
        then checks the server still serves a valid request."""
        self.assertEqual(resp.status, status, resp)
        ctype = resp.header("Content-Type") or ""
        self.assertTrue(ctype.startswith("application/json"), "error content type %r" % ctype)
        body = resp.json()
        self.assertEqual(list(body), ["error"], body)
        err = body["error"]
        self.assertEqual(sorted(err), ["code", "message", "type"], body)
        self.assertEqual(err["code"], status, body)
        self.assertEqual(err["type"], etype, body)
        self.assertIsInstance(err["message"], str)
        for fragment in fragments:
            self.assertIn(fragment.lower(), err["message"].lower(), "message %r lacks %r" % (err["message"], fragment))
        self.assert_alive()
        return err["message"]
