"""Service endpoints: GET /, /health, /ready, /metrics, /v1/models, /openapi.yaml; HEAD and OPTIONS."""
import json
import os
import re
import struct
import time
import unittest

from common import SECOND_MODEL, ServerTestCase, digits, png_of
from server import REPO
from test_openapi import routes_from_source

METADATA_KEYS = ("activation", "latent_dim", "hidden", "input_shape", "dataset", "epochs", "train_loss",
                 "test_loss", "command")

SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})? (\S+)$')
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """[(name, {label: value}, float value)] of a Prometheus text exposition; checks every line."""
    samples = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            if line.startswith("#"):
                assert re.match(r"^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* \S", line), line
            continue
        m = SAMPLE_RE.match(line)
        assert m, "not a Prometheus sample line: %r" % line
        labels = dict(LABEL_RE.findall(m.group(3) or ""))
        samples.append((m.group(1), labels, float(m.group(4))))
    return samples


def series(samples, name, **labels):
    return [v for n, l, v in samples if n == name and all(l.get(k) == w for k, w in labels.items())]


class ServiceEndpoints(ServerTestCase):

    def test_index(self):
        resp = self.client.get("/")
        self.assertEqual(resp.status, 200)
        self.assertTrue(resp.content_type.startswith("application/json"))
        body = resp.json()
        self.assertEqual(body["name"], "vae-server")
        self.assertRegex(body["version"], r"^\d+\.\d+\.\d+")
        self.assertEqual(body["documentation"], "/openapi.yaml")
        expected = sorted("%s %s" % (m.upper(), p) for p, methods in routes_from_source().items() for m in methods)
        self.assertEqual(sorted(body["endpoints"]), expected)

    def test_health(self):
        resp = self.client.get("/health")
        self.assertEqual(resp.status, 200)
        self.assertTrue(resp.content_type.startswith("application/json"))
        self.assertEqual(resp.json(), {"status": "ok"})

    def test_ready_after_load(self):
        resp = self.client.get("/ready")
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.json(), {"status": "ready"})

    def test_head_has_headers_but_no_body(self):
        resp = self.client.request("HEAD", "/health")
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.body, b"")
        self.assertTrue(resp.content_type.startswith("application/json"))

    def test_options_lists_allowed_methods(self):
        for path, allow in (("/encode", "POST, OPTIONS"), ("/health", "GET, HEAD, OPTIONS"),
                            ("/sample", "GET, HEAD, OPTIONS")):
            with self.subTest(path=path):
                resp = self.client.request("OPTIONS", path)
                self.assertEqual(resp.status, 204)
                self.assertEqual(resp.header("Allow"), allow)
                self.assertEqual(resp.body, b"")

    def test_no_cors_headers_without_the_flag(self):
        for resp in (self.client.get("/health", headers={"Origin": "https://app.example"}),
                     self.client.get("/nope", headers={"Origin": "https://app.example"})):
            self.assertIsNone(resp.header("Access-Control-Allow-Origin"), resp)

    def test_openapi_document(self):
        resp = self.client.get("/openapi.yaml")
        self.assertEqual(resp.status, 200)
        self.assertTrue(resp.content_type.startswith("application/yaml"), resp.content_type)
        self.assertTrue(resp.body.startswith(b"openapi: 3.1"), resp.body[:40])
        with open(os.path.join(REPO, "openapi.yaml"), "rb") as f:
            self.assertEqual(resp.body, f.read(), "the served document differs from openapi.yaml")

    def test_models(self):
        resp = self.client.get("/v1/models")
        self.assertEqual(resp.status, 200)
        self.assertTrue(resp.content_type.startswith("application/json"))
        models = resp.json()["models"]
        self.assertEqual([m["name"] for m in models], ["mnist", SECOND_MODEL])
        self.assertEqual([m["default"] for m in models], [True, False])
        for m in models:
            with self.subTest(model=m["name"]):
                for key in ("name", "default", "latent_dim", "hidden", "activation", "input_shape",
                            "parameters", "dtype", "metadata"):
                    self.assertIn(key, m)
                # what the file stores: the shipped mnist as F16, the other as F32
                with open(os.path.join(REPO, "model", "weights", "%s.safetensors" % m["name"]), "rb") as f:
                    (n,) = struct.unpack("<Q", f.read(8))
                    header = json.loads(f.read(n))
                self.assertEqual(m["dtype"], header["enc.0.weight"]["dtype"])
                self.assertIsInstance(m["latent_dim"], int)
                self.assertGreater(m["latent_dim"], 0)
                self.assertIsInstance(m["hidden"], list)
                self.assertTrue(all(isinstance(h, int) and h > 0 for h in m["hidden"]))
                self.assertEqual(m["input_shape"], [28, 28])
                self.assertIn(m["activation"], ("relu", "leaky_relu", "tanh"))
                # at least the weight matrices of an MLP encoder (mu and logvar) and decoder
                widths = [784] + m["hidden"] + [m["latent_dim"]]
                weights = sum(a * b for a, b in zip(widths, widths[1:]))
                self.assertGreaterEqual(m["parameters"], 2 * weights)
                if "architecture" in m:
                    self.assertEqual(m["architecture"], "-".join(str(w) for w in widths))
                meta = m["metadata"]
                for key in METADATA_KEYS:
                    self.assertIn(key, meta)
                    self.assertIsInstance(meta[key], str)
                self.assertEqual(meta["activation"], m["activation"])
                self.assertEqual(int(meta["latent_dim"]), m["latent_dim"])
                self.assertEqual([int(h) for h in meta["hidden"].split(",")], m["hidden"])
                self.assertEqual(meta["input_shape"], "28x28")
                self.assertGreater(int(meta["epochs"]), 0)
                self.assertGreater(float(meta["train_loss"]), 0)
                self.assertGreater(float(meta["test_loss"]), 0)


class Metrics(ServerTestCase):
    """Its own server, so the counters hold exactly this class's requests."""

    def metrics(self):
        resp = self.client.get("/metrics")
        self.assertEqual(resp.status, 200)
        self.assertTrue(resp.content_type.startswith("text/plain"), resp.content_type)
        self.assertIn("version=0.0.4", resp.content_type)
        return parse_metrics(resp.body.decode("utf-8"))

    def wait_for(self, name, want, **labels):
        """Counters are updated when a request completes, which may be just after its client has
        the reply: poll until the count is reached (never a timing assertion), then compare."""
        deadline = time.monotonic() + 30
        while True:
            samples = self.metrics()
            got = sum(series(samples, name, **labels))
            if got >= want or time.monotonic() > deadline:
                self.assertEqual(got, want, "%s%r" % (name, labels))
                return samples
            time.sleep(0.01)

    def test_counts_histograms_and_info(self):
        png = png_of(digits().digit(7))
        for _ in range(3):
            self.assertEqual(self.client.post_png("/encode", png).status, 200)
        for _ in range(2):
            self.assertEqual(self.client.post("/encode", {"pixels": [2.0] * 784}).status, 422)
        self.assertEqual(self.client.get("/no/such/route").status, 404)
        self.wait_for("vae_requests_total", 1, route="unmatched", status="404")
        self.wait_for("vae_requests_total", 2, route="/encode", status="422")
        samples = self.wait_for("vae_requests_total", 3, route="/encode", status="200")

        # every answered request is counted once, by route
        totals = {}
        for name, labels, value in samples:
            if name == "vae_requests_total":
                totals[labels["route"]] = totals.get(labels["route"], 0) + value
                self.assertRegex(labels["status"], r"^(\d{3}|other)$")
        self.assertEqual(totals.get("/encode"), 5)

        # histograms: buckets cumulative in le order, +Inf == _count == that route's request total
        routes = {l["route"] for n, l, v in samples if n == "vae_request_duration_seconds_bucket"}
        self.assertIn("/encode", routes)
        for route in routes:
            with self.subTest(route=route):
                buckets = [(l["le"], v) for n, l, v in samples
                           if n == "vae_request_duration_seconds_bucket" and l["route"] == route]
                self.assertEqual(buckets[-1][0], "+Inf")
                bounds = [float(le) for le, _ in buckets[:-1]]
                self.assertEqual(bounds, sorted(bounds))
                counts = [v for _, v in buckets]
                self.assertEqual(counts, sorted(counts), "buckets are not cumulative")
                count = series(samples, "vae_request_duration_seconds_count", route=route)
                total = series(samples, "vae_request_duration_seconds_sum", route=route)
                self.assertEqual(len(count), 1)
                self.assertEqual(len(total), 1)
                self.assertEqual(counts[-1], count[0])
                self.assertGreaterEqual(total[0], 0)
                if route != "/metrics":  # the scrapes themselves may still be completing
                    self.assertEqual(count[0], totals[route])

        # one model_info series per loaded model, the default flagged
        info = [(l, v) for n, l, v in samples if n == "vae_model_info"]
        self.assertEqual(sorted(l["model"] for l, _ in info), sorted(self.models))
        for labels, value in info:
            m = self.models[labels["model"]]
            self.assertEqual(value, 1)
            self.assertEqual(labels["latent_dim"], str(m["latent_dim"]))
            self.assertEqual(labels["activation"], m["activation"])
            self.assertEqual(labels["default"], "true" if m["default"] else "false")
            self.assertEqual(labels["dataset"], m["metadata"]["dataset"])

        # gauges: this scrape is itself in flight
        in_flight = series(samples, "vae_requests_in_flight")
        self.assertEqual(len(in_flight), 1)
        self.assertGreaterEqual(in_flight[0], 1)
        self.assertEqual(series(samples, "vae_ready"), [1])
        self.assertEqual(len(series(samples, "vae_uptime_seconds")), 1)
        self.assertGreater(series(samples, "vae_resident_memory_bytes")[0], 0)


if __name__ == "__main__":
    unittest.main()
