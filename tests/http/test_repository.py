"""Live model reload and the Open Inference Protocol's statistics and repository extensions.

A served weights file replaced on disk is read again on SIGHUP or POST
/v2/repository/models/{model}/load: a changed file becomes the next version (GET /v2/models/{model},
/v1/models, the SHA-256 of its bytes), an unchanged one keeps its version, a broken one keeps the old
model serving and says why (the load's 400, the index's reason, the log); unload stops serving until
the next load; requests in flight finish on the model they started with. Statistics count what the
models did in Triton's shape."""
import hashlib
import json
import os
import shutil
import signal
import tempfile
import threading
import time
import unittest

from common import Client, ServerTestCase, digits, twin_weights
from server import ServerProcess

REPO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
MNIST = os.path.join(REPO, "model", "weights", "mnist.safetensors")
_other_dir = tempfile.mkdtemp(prefix="vae-repository-")
# another model of the shipped mnist model's exact shape (its decoder's output bias moved): what the
# served file is swapped for, since a reload keeps the served shape
OTHER = twin_weights(MNIST, os.path.join(_other_dir, "other.safetensors"))


def tearDownModule():
    shutil.rmtree(_other_dir, ignore_errors=True)


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def replace(path, source=None, data=None):
    """Replaces path atomically (a new file renamed over it), as an operator should."""
    tmp = path + ".tmp"
    if source:
        shutil.copyfile(source, tmp)
    else:
        with open(tmp, "wb") as f:
            f.write(data)
    os.replace(tmp, path)


class Reload(unittest.TestCase):
    """One server per test: its weights file lives in a temporary directory the test rewrites."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="vae-reload-")
        self.path = os.path.join(self.dir, "served.safetensors")
        shutil.copyfile(MNIST, self.path)
        self.server = ServerProcess(["--model", "m=" + self.path, "--model", "other=" + OTHER])
        self.server.start()
        self.client = Client(self.server.port)
        self.d = self.client.get("/v1/models").json()["models"][0]["latent_dim"]

    def tearDown(self):
        if self.server.alive():
            self.server.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def decode(self, model="m"):
        resp = self.client.post("/decode?format=json&model=" + model, {"z": [0.5] * self.d})
        self.assertEqual(resp.status, 200, resp)
        return resp.json()["pixels"]

    def version(self, name="m-decoder"):
        resp = self.client.get("/v2/models/" + name)
        return resp.json()["versions"][0] if resp.status == 200 else None

    def load(self, name="m", body=None):
        return self.client.request("POST", "/v2/repository/models/%s/load" % name, body=body)

    def test_changed_file_is_the_next_version(self):
        a = self.decode()
        want_b = self.decode("other")
        models = {m["name"]: m for m in self.client.get("/v1/models").json()["models"]}
        self.assertEqual((models["m"]["version"], models["m"]["sha256"]), (1, sha256(MNIST)))
        # unchanged: same version
        resp = self.load()
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.json(), {"name": "m", "version": "1", "sha256": sha256(MNIST), "state": "READY",
                                       "changed": False})
        # changed: version 2, the new file's numbers and hash
        replace(self.path, OTHER)
        resp = self.load("m-encoder")  # either face reloads the one file
        self.assertEqual(resp.json()["version"], "2")
        self.assertTrue(resp.json()["changed"])
        self.assertEqual(self.decode(), want_b)
        self.assertNotEqual(a, want_b)
        self.assertEqual(self.version(), "2")
        self.assertEqual(self.version("m-encoder"), "2")
        models = {m["name"]: m for m in self.client.get("/v1/models").json()["models"]}
        self.assertEqual((models["m"]["version"], models["m"]["sha256"]), (2, sha256(OTHER)))
        infer = self.client.post("/v2/models/m-decoder/versions/2/infer",
                                 {"inputs": [{"name": "z", "shape": [1, self.d], "datatype": "FP32",
                                              "data": [0.5] * self.d}]})
        self.assertEqual((infer.status, infer.json()["model_version"]), (200, "2"))
        self.assertEqual(self.client.get("/v2/models/m-decoder/versions/1").status, 404)
        # the metrics carry the version and hash
        metrics = self.client.get("/metrics").body.decode()
        self.assertIn('model="m",', metrics)
        self.assertIn('version="2",sha256="%s"' % sha256(OTHER), metrics)
        self.assertIn('vae_model_reloads_total{result="loaded"} 2', metrics)

    def test_broken_file_keeps_the_old_model(self):
        a = self.decode()
        good = open(MNIST, "rb").read()
        cases = [("truncated", good[:len(good) // 2], "past the end"),
                 ("not safetensors", b"hello" * 100, "header"),
                 ("NaN weight", good[:-4] + b"\x00\x00\xc0\x7f", "NaN"),
                 ("empty", b"", "")]
        for name, data, fragment in cases:
            with self.subTest(case=name):
                replace(self.path, data=data)
                resp = self.load()
                self.assertEqual(resp.status, 400, resp)
                message = resp.json()["error"]
                self.assertIn("version 1 keeps serving", message)
                self.assertIn(fragment.lower(), message.lower())
                self.assertEqual(self.decode(), a)
                self.assertEqual(self.version(), "1")
                index = self.client.post("/v2/repository/index", None).json()
                entry = [e for e in index if e["name"] == "m-decoder"][0]
                self.assertEqual((entry["state"], entry["version"]), ("READY", "1"))
                self.assertIn("model 'm'", entry["reason"])
        self.assertEqual(self.client.get("/ready").status, 200)
        # a good file again: the failure is forgotten, the version moves on
        replace(self.path, OTHER)
        self.assertEqual(self.load().json()["version"], "2")
        index = self.client.post("/v2/repository/index", None).json()
        self.assertNotIn("reason", [e for e in index if e["name"] == "m-decoder"][0])
        metrics = self.client.get("/metrics").body.decode()
        self.assertIn('vae_model_reloads_total{result="failed"} 4', metrics)

    def test_wider_file_is_refused(self):
        # the workspaces were sized at start: a wider model must wait for a restart
        tiny_dir = tempfile.mkdtemp()
        try:
            wide = os.path.join(tiny_dir, "wide.safetensors")
            import subprocess
            from server import build_dir
            subprocess.run([os.path.join(build_dir(), "vae-train"), "--data", os.path.join(REPO, "tests", "data", "mnist-mini"),
                            "--out", wide, "--hidden", "2048", "--latent", "4", "--epochs", "1", "--threads", "1",
                            "--quiet"], check=True, stdout=subprocess.DEVNULL)
            replace(self.path, wide)
            resp = self.load()
            self.assertEqual(resp.status, 400, resp)
            self.assertIn("wider than the server was started for", resp.json()["error"])
        finally:
            shutil.rmtree(tiny_dir)

    def test_sighup_reloads_every_loaded_model(self):
        replace(self.path, OTHER)
        want = self.decode("other")
        self.server.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while self.version() != "2" and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(self.version(), "2")
        self.assertEqual(self.decode(), want)
        self.assertEqual(self.version("other-decoder"), "1")  # unchanged file, same version
        replace(self.path, data=b"broken")
        self.server.proc.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        self.assertEqual(self.version(), "2")
        self.assertEqual(self.decode(), want)
        self.assertEqual(self.client.get("/ready").status, 200)
        self.server.stop()
        self.assertIn("SIGHUP: model 'm' version 2", self.server.stderr)
        self.assertIn("version 2 keeps serving", self.server.stderr)

    def test_unload_and_load_again(self):
        a = self.decode()
        resp = self.client.post("/v2/repository/models/m/unload", None)
        self.assertEqual((resp.status, resp.json()), (200, {"name": "m", "state": "UNAVAILABLE"}))
        resp = self.client.post("/decode?model=m", {"z": [0.0] * self.d})
        self.assertEqual(resp.status, 404)
        self.assertIn("unloaded", resp.json()["error"]["message"])
        self.assertEqual(self.client.get("/v2/models/m-decoder").status, 404)
        ready = self.client.get("/v2/models/m-decoder/ready")
        self.assertEqual((ready.status, ready.json()), (400, {"name": "m-decoder", "ready": False}))
        self.assertNotIn("m", [m["name"] for m in self.client.get("/v1/models").json()["models"]])
        index = self.client.post("/v2/repository/index", {"ready": True}).json()
        self.assertNotIn("m-decoder", [e["name"] for e in index])
        full = self.client.post("/v2/repository/index", {}).json()
        self.assertEqual([e["state"] for e in full if e["name"].startswith("m-")], ["UNAVAILABLE"] * 2)
        self.assertEqual(self.client.get("/ready").status, 200)  # the server still serves the others
        # the same file again: back, at the same version
        resp = self.load()
        self.assertEqual((resp.status, resp.json()["version"]), (200, "1"))
        self.assertEqual(self.decode(), a)

    def test_errors(self):
        self.assertEqual(self.load("nope").status, 404)
        self.assertIn("this server has", self.load("nope").json()["error"])
        resp = self.load(body={"parameters": {"config": "{}"}})
        self.assertEqual(resp.status, 400)
        self.assertIn("'config' is not supported", resp.json()["error"])
        self.assertEqual(self.client.request("POST", "/v2/repository/models/m/load", body=b"{",
                                             content_type="application/json").status, 400)
        self.assertEqual(self.client.get("/v2/repository/models/m/load").status, 405)
        self.assertEqual(self.client.post("/v2/repository/index", {"ready": "yes"}).status, 400)

    def test_requests_in_flight_finish_on_their_model(self):
        """Clients decoding without pause while the file flips between two models and a broken file:
        every reply is exactly one of the two models' (never a mix, never an error)."""
        want = {json.dumps(self.decode()), json.dumps(self.decode("other"))}
        stop = threading.Event()
        bad = []
        counts = [0]

        def hammer():
            c = Client(self.server.port)
            while not stop.is_set():
                resp = c.post("/decode?format=json&model=m", {"z": [0.5] * self.d})
                counts[0] += 1
                if resp.status != 200 or json.dumps(resp.json()["pixels"]) not in want:
                    bad.append(resp.status)

        threads = [threading.Thread(target=hammer) for _ in range(3)]
        for t in threads:
            t.start()
        try:
            for i in range(20):
                replace(self.path, [MNIST, None, OTHER, None][i % 4], data=b"broken" if i % 2 else None)
                resp = self.load()
                self.assertEqual(resp.status, 400 if i % 2 else 200, resp)
        finally:
            stop.set()
            for t in threads:
                t.join()
        self.assertEqual(bad, [])
        self.assertGreater(counts[0], 20)


class ModelControl(ServerTestCase):
    server_args = ["--model-control", "off", "--api-key", "k"]
    auth = {"Authorization": "Bearer k"}

    def test_off_refuses_load_and_unload(self):
        for action in ("load", "unload"):
            with self.subTest(action=action):
                resp = self.client.post("/v2/repository/models/mnist/%s" % action, None)
                self.assertEqual(resp.status, 403, resp)
                self.assertIn("--model-control off", resp.json()["error"])
        self.assertEqual(self.client.post("/v2/repository/index", None).status, 200)

    def test_api_key_needed(self):
        anon = Client(self.server.port)
        for path in ("/v2/repository/index", "/v2/repository/models/mnist/load", "/v2/models/stats"):
            with self.subTest(path=path):
                resp = anon.request("GET" if path.endswith("stats") else "POST", path)
                self.assertEqual(resp.status, 401)
                self.assertEqual(list(resp.json()), ["error"])


class Statistics(ServerTestCase):
    server_args = ["--batching", "off"]

    def stats(self, path="/v2/models/stats"):
        resp = self.client.get(path)
        self.assertEqual(resp.status, 200, resp)
        return {s["name"]: s for s in resp.json()["model_stats"]}

    def test_counts_and_durations(self):
        before = self.stats()
        self.assertEqual(sorted(before), ["fashion-decoder", "fashion-encoder", "mnist-decoder", "mnist-encoder"])
        z = [0.1] * self.d
        for n in (1, 3, 3):
            self.assertEqual(self.client.post("/decode?format=json", {"z": [z] * n}).status, 200)
        self.assertEqual(self.client.get("/sample?n=5&seed=1").status, 200)
        pixels = [v / 255.0 for v in digits().digit(4)]
        self.assertEqual(self.client.post("/reconstruct?format=json", {"pixels": [pixels] * 2}).status, 200)
        after = self.stats()
        dec, enc = after["mnist-decoder"], after["mnist-encoder"]
        d0 = before["mnist-decoder"]
        self.assertEqual(dec["inference_count"] - d0["inference_count"], 1 + 3 + 3 + 5 + 2)
        self.assertEqual(dec["execution_count"] - d0["execution_count"], 5)
        self.assertEqual(enc["inference_count"] - before["mnist-encoder"]["inference_count"], 2)
        succ = dec["inference_stats"]["success"]
        self.assertEqual(succ["count"] - d0["inference_stats"]["success"]["count"], 5)
        for key in ("success", "compute_input", "compute_infer", "compute_output"):
            self.assertGreater(dec["inference_stats"][key]["ns"], 0, key)
        sizes = {b["batch_size"]: b for b in dec["batch_stats"]}
        self.assertTrue({1, 3, 5, 2} <= set(sizes), sizes)
        self.assertEqual(sizes[3]["compute_infer"]["count"], 2)
        self.assertGreater(dec["last_inference"], 1.7e12)  # milliseconds since the epoch
        self.assertEqual(after["fashion-decoder"]["inference_count"], before["fashion-decoder"]["inference_count"])
        # one model, and one version of it
        one = self.stats("/v2/models/mnist-decoder/stats")
        self.assertEqual(list(one), ["mnist-decoder"])
        self.assertEqual(one["mnist-decoder"]["version"], "1")
        self.assertEqual(list(self.stats("/v2/models/mnist-decoder/versions/1/stats")), ["mnist-decoder"])
        self.assertEqual(self.client.get("/v2/models/nope-decoder/stats").status, 404)
        self.assertEqual(self.client.get("/v2/models/mnist/stats").status, 404)

    def test_failures_count(self):
        before = self.stats()["mnist-decoder"]["inference_stats"]["fail"]["count"]
        # a request refused before any model call is the client's error, not the model's
        self.assertEqual(self.client.post("/decode", {"z": [1, 2]}).status, 422)
        self.assertEqual(self.stats()["mnist-decoder"]["inference_stats"]["fail"]["count"], before)


class BatchedStatistics(ServerTestCase):
    """With the batcher, a batch of many requests is one execution."""

    def test_queue_time_and_executions(self):
        before = Client(self.server.port).get("/v2/models/mnist-decoder/stats").json()["model_stats"][0]

        def one():
            Client(self.server.port).post("/decode", {"z": [0.2] * self.d})

        threads = [threading.Thread(target=one) for _ in range(32)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        after = self.client.get("/v2/models/mnist-decoder/stats").json()["model_stats"][0]
        self.assertEqual(after["inference_count"] - before["inference_count"], 32)
        self.assertLessEqual(after["execution_count"] - before["execution_count"], 32)
        self.assertEqual(after["inference_stats"]["queue"]["count"] - before["inference_stats"]["queue"]["count"], 32)


if __name__ == "__main__":
    unittest.main()
