"""Boundaries a one-line mistake would move, each checked at its exact edge (issue 11: one-line
mutants that `make test` let through): the largest JSON-safe seed (2^53-1) accepted and echoed
digit for digit, 2^53 refused; seed 0 is a seed, not "no seed"; a bare ?invert or ?sample is true;
--batch-queue 1 serves an idle server; batches reach --batch-size and never exceed it; a body of
exactly --max-body is served and one byte more is 413, declared or streamed; and a tanh model, as
the trainer writes it and the server loads it, answers what a forward pass of its weights computed
here gives (tanh is applied outside the fused inference kernels)."""
import json
import math
import os
import shutil
import struct
import subprocess
import tempfile
import threading
import unittest

from common import Client, ServerTestCase, b64, digits, model_args, png_of, raw_exchange
from server import REPO, ServerProcess, build_dir, under_valgrind

SEED_MAX = 2 ** 53 - 1


def metric_lines(client):
    return client.get("/metrics").body.decode().splitlines()


def metric(lines, name):
    for line in lines:
        if line.startswith(name + " "):
            return int(line.split()[1])
    raise AssertionError("no metric %s" % name)


class Seeds(ServerTestCase):

    def setUp(self):
        self.png = png_of(digits().digit(3))

    def sample_json(self, query):
        resp = self.client.get("/sample?format=json&n=2" + query)
        self.assertEqual(resp.status, 200, resp)
        return resp

    def test_largest_seed_is_accepted_and_echoed_exactly(self):
        resp = self.sample_json("&seed=%d" % SEED_MAX)
        self.assertEqual(resp.header("X-Seed"), str(SEED_MAX))
        self.assertIn(b'"seed":%d' % SEED_MAX, resp.body)
        self.assertEqual(resp.json()["seed"], SEED_MAX)
        body = self.encode_json({"image": b64(self.png), "sample": True, "seed": SEED_MAX})
        self.assertEqual(body["seed"], SEED_MAX)
        by_query = self.client.post_png("/encode?sample=1&seed=%d" % SEED_MAX, self.png)
        self.assertEqual(by_query.status, 200, by_query)
        self.assertEqual(by_query.json()["z"], body["z"], "query and JSON seed 2^53-1 differ")
        self.assertEqual(self.encode_json({"image": b64(self.png), "sample": True, "seed": SEED_MAX - 1})["seed"],
                         SEED_MAX - 1)

    def test_seed_past_the_largest_is_refused(self):
        self.assert_error(self.client.get("/sample?seed=%d" % (SEED_MAX + 1)), 422, "invalid_parameter", "seed")
        self.assert_error(self.client.post("/encode", {"image": b64(self.png), "sample": True, "seed": SEED_MAX + 1}),
                          422, "invalid_request", "seed must be an integer from 0 to 2^53-1")

    def test_seed_zero_is_a_seed(self):
        a, b = self.sample_json("&seed=0"), self.sample_json("&seed=0")
        self.assertEqual(a.header("X-Seed"), "0")
        self.assertEqual(a.json()["seed"], 0)
        self.assertEqual(a.body, b.body, "seed=0 does not reproduce")
        self.assertNotEqual(self.sample_json("&seed=1").json()["z"], a.json()["z"], "seeds 0 and 1 sample alike")
        self.assertEqual(self.client.get("/sample?n=1&seed=0").header("X-Seed"), "0", "PNG reply")
        # in the body and in the query of /encode
        first = self.encode_json({"image": b64(self.png), "sample": True, "seed": 0})
        again = self.encode_json({"image": b64(self.png), "sample": True, "seed": 0})
        self.assertEqual(first["seed"], 0)
        self.assertEqual(first["z"], again["z"], "JSON seed 0 does not reproduce")
        by_query = self.client.post_png("/encode?sample=1&seed=0", self.png).json()
        self.assertEqual(by_query["seed"], 0)
        self.assertEqual(by_query["z"], first["z"])
        # the body's 0 wins over the query's seed
        self.assertEqual(self.encode_json({"image": b64(self.png), "sample": True, "seed": 0}, "?seed=9")["seed"], 0)


class ValuelessBooleans(ServerTestCase):

    def test_bare_invert_is_true(self):
        grey = digits().digit(5)
        inverted = png_of(bytes(255 - v for v in grey))
        ref = self.encode_png(png_of(grey))
        for query in ("invert", "invert=1"):
            with self.subTest(query):
                self.assertEqual(self.encode_png(inverted, query), ref, "?%s did not invert" % query)
        self.assertNotEqual(self.encode_png(inverted), ref)
        bare = self.client.post_png("/reconstruct?invert", inverted)
        self.assertEqual(bare.status, 200, bare)
        self.assertEqual(bare.body, self.client.post_png("/reconstruct?invert=true", inverted).body)
        self.assertNotEqual(bare.body, self.client.post_png("/reconstruct", inverted).body)

    def test_bare_sample_is_true(self):
        png = png_of(digits().digit(2))
        bare = self.client.post_png("/encode?sample&seed=5", png)
        self.assertEqual(bare.status, 200, bare)
        self.assertEqual(sorted(bare.json()), ["logvar", "mu", "seed", "z"], "?sample did not sample")
        self.assertEqual(bare.json(), self.client.post_png("/encode?sample=1&seed=5", png).json())
        self.assertNotIn("z", self.client.post_png("/encode?sample=0&seed=5", png).json())

    def test_bare_numbers_are_errors(self):
        for query, name in (("n", "n"), ("temperature", "temperature"), ("seed", "seed")):
            with self.subTest(query):
                self.assert_error(self.client.get("/sample?" + query), 422, "invalid_parameter", name)


class QueueOfOne(ServerTestCase):
    """--batch-queue 1: the one job is free whenever the server is idle."""
    server_args = ["--batch-queue", "1"]

    def test_idle_server_serves_every_batched_call(self):
        png = png_of(digits().digit(1))
        z = [0.1] * self.d
        for k in range(6):
            with self.subTest(k=k):
                self.assertEqual(self.client.post("/decode", {"z": z}).status, 200)
                self.assertEqual(self.client.post_png("/encode", png).status, 200)
                self.assertEqual(self.client.get("/sample?n=2&seed=%d" % k).status, 200)
                self.assertEqual(self.client.post_png("/reconstruct", png).status, 200)
        lines = metric_lines(self.client)
        self.assertEqual(metric(lines, "vae_overload_rejections_total"), 0)
        self.assertEqual(metric(lines, "vae_batches_total"), 24, "every call went through the batcher")


@unittest.skipIf(under_valgrind(), "timing-based: too slow under valgrind")
class BatchSizeCap(unittest.TestCase):
    """A burst of single-row calls four times --batch-size, meeting in the queue (a long window):
    batches fill up to --batch-size and never beyond, and every call gets the answer a server
    without batching gives."""

    BATCH = 4  # a bucket bound of vae_batch_rows: one row more would land in the next bucket
    CALLS = 16

    def test_batches_reach_the_cap_and_never_exceed_it(self):
        args = model_args() + ["--threads", "4", "--batch-size", str(self.BATCH), "--batch-wait-us", "300000",
                               "--batch-queue", "64"]
        with ServerProcess(args) as srv, ServerProcess(model_args() + ["--batching", "off"]) as plain:
            client = Client(srv.port)
            d = client.get("/v1/models").json()["models"][0]["latent_dim"]
            before = metric_lines(client)
            barrier = threading.Barrier(self.CALLS)
            results = [None] * self.CALLS

            def call(k):
                barrier.wait()
                results[k] = Client(srv.port).post("/decode?format=json", {"z": [0.05 * k] * d})

            threads = [threading.Thread(target=call, args=(k,)) for k in range(self.CALLS)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            after = metric_lines(client)
            for k, r in enumerate(results):
                self.assertEqual(r.status, 200, (k, r))
                alone = Client(plain.port).post("/decode?format=json", {"z": [0.05 * k] * d})
                self.assertEqual(r.body, alone.body, "call %d: batched answer differs from the unbatched one" % k)
            batches = metric(after, "vae_batches_total") - metric(before, "vae_batches_total")
            rows = metric(after, "vae_batched_requests_total") - metric(before, "vae_batched_requests_total")
            self.assertEqual(rows, self.CALLS)
            bucket = 'vae_batch_rows_bucket{le="%d"}' % self.BATCH
            within = metric(after, bucket) - metric(before, bucket)
            self.assertEqual(within, batches, "a batch held more than --batch-size %d rows" % self.BATCH)
            # the burst met in the queue: batches reached the cap
            self.assertGreaterEqual(batches, self.CALLS // self.BATCH)
            self.assertLessEqual(batches, self.CALLS // 2, "the burst never filled a batch (%d batches)" % batches)


class BodyAtTheCap(ServerTestCase):
    MAX_BODY = 1000
    server_args = ["--max-body", str(MAX_BODY)]

    def body_of(self, n):
        text = json.dumps({"z": [0.0] * self.d}).encode()
        self.assertLess(len(text), n)
        return text + b" " * (n - len(text))

    def send(self, body, chunk):
        if chunk is None:
            head = b"Content-Length: %d\r\n" % len(body)
            payload = body
        else:
            head = b"Transfer-Encoding: chunked\r\n"
            pieces = [body[i:i + chunk] for i in range(0, len(body), chunk)]
            payload = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
        return raw_exchange(self.server.port, b"POST /decode?format=json HTTP/1.1\r\nHost: t\r\n"
                                              b"Content-Type: application/json\r\nConnection: close\r\n" + head +
                            b"\r\n" + payload)

    def test_exactly_the_cap_is_served_and_one_byte_more_is_413(self):
        for chunk in (None, 1000, 999, 500, 7, 1):
            how = "declared" if chunk is None else "chunks of %d" % chunk
            with self.subTest(how):
                at = self.send(self.body_of(self.MAX_BODY), chunk)
                self.assertEqual(at.status, 200, at.raw[:300])
                self.assertEqual(len(at.json()["pixels"][0]), 784)
                over = self.send(self.body_of(self.MAX_BODY + 1), chunk)
                self.assertEqual(over.status, 413, over.raw[:300])
                self.assertEqual(over.json()["error"]["type"], "payload_too_large")
        self.assert_alive()


def read_safetensors(path):
    """{name: (shape, flat list of floats)} and the metadata of a safetensors file."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        raw = data[8 + n + begin:8 + n + end]
        tensors[name] = (info["shape"], list(struct.unpack("<%df" % (len(raw) // 4), raw)))
    return tensors, header.get("__metadata__", {})


def linear(tensors, prefix, x):
    (rows, cols), w = tensors[prefix + ".weight"]
    _, b = tensors[prefix + ".bias"]
    assert len(x) == cols
    return [b[o] + sum(w[o * cols + i] * x[i] for i in range(cols)) for o in range(rows)]


class TanhModel(unittest.TestCase):
    """A tanh model trained here (1 epoch on tests/data/mnist-mini, 784-24-12-5), served from its
    file, against a forward pass of its weights in Python."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="vae-tanh-")
        cls.path = os.path.join(cls.tmp, "tanh.safetensors")
        proc = subprocess.run([os.path.join(build_dir(), "vae-train"), "--data", "tests/data/mnist-mini", "--out",
                               cls.path, "--hidden", "24,12", "--latent", "5", "--activation", "tanh", "--epochs",
                               "1", "--threads", "1", "--quiet"], cwd=REPO, capture_output=True, text=True,
                              timeout=120)
        assert proc.returncode == 0, proc.stderr
        cls.tensors, cls.metadata = read_safetensors(cls.path)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def decode_ref(self, z):
        h = [math.tanh(v) for v in linear(self.tensors, "dec.0", z)]
        h = [math.tanh(v) for v in linear(self.tensors, "dec.1", h)]
        return [1 / (1 + math.exp(-v)) for v in linear(self.tensors, "dec.out", h)]

    def encode_ref(self, x):
        h = [math.tanh(v) for v in linear(self.tensors, "enc.0", x)]
        h = [math.tanh(v) for v in linear(self.tensors, "enc.1", h)]
        return linear(self.tensors, "enc.mu", h), linear(self.tensors, "enc.logvar", h)

    def assert_close(self, got, want, what):
        self.assertEqual(len(got), len(want), what)
        worst = max(abs(g - w) for g, w in zip(got, want))
        self.assertLess(worst, 1e-4, "%s: off by %g from the forward pass of the weights" % (what, worst))

    def test_served_answers_match_the_forward_pass(self):
        self.assertEqual(self.metadata.get("activation"), "tanh")
        zs = [[0.0] * 5, [1.5, -2.0, 0.5, 3.0, -1.0]]
        grey = digits().digit(7)
        x = [v / 255 for v in grey]
        for batching in ("on", "off"):
            with self.subTest(batching=batching), \
                    ServerProcess(["--model", "tanh=" + self.path, "--batching", batching]) as srv:
                client = Client(srv.port)
                info = client.get("/v1/models").json()["models"][0]
                self.assertEqual((info["activation"], info["latent_dim"]), ("tanh", 5))
                resp = client.post("/decode?format=json", {"z": zs})
                self.assertEqual(resp.status, 200, resp)
                for k, (z, pixels) in enumerate(zip(zs, resp.json()["pixels"])):
                    self.assert_close(pixels, self.decode_ref(z), "decode %d" % k)
                enc = client.post_png("/encode", png_of(grey))
                self.assertEqual(enc.status, 200, enc)
                mu, logvar = self.encode_ref(x)
                self.assert_close(enc.json()["mu"], mu, "mu")
                self.assert_close(enc.json()["logvar"], logvar, "logvar")
                rec = client.post("/reconstruct?format=json", {"pixels": x})
                self.assert_close(rec.json()["pixels"][0], self.decode_ref(mu), "reconstruct")
                oip = client.post("/v2/models/tanh-decoder/infer", {"inputs": [
                    {"name": "z", "shape": [1, 5], "datatype": "FP32", "data": zs[1]}]})
                self.assertEqual(oip.status, 200, oip)
                self.assert_close(oip.json()["outputs"][0]["data"], self.decode_ref(zs[1]), "OIP decode")


if __name__ == "__main__":
    unittest.main()
