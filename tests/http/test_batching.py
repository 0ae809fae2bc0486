"""Dynamic batching: concurrent small model calls share batches, and each request still gets exactly
the answer it would get alone (and with --batching off); different models and operations are never
mixed; a full queue answers 503 with Retry-After; SIGTERM runs what is queued and exits 0."""
import math
import re
import threading
import unittest

from common import Client, ServerTestCase, digits, png_of
from server import ServerProcess
from common import model_args


import os

# the largest call the server batches (smaller ones share batches; larger run on their own thread)
with open(os.path.join(os.path.dirname(__file__), "..", "..", "server", "batcher.h")) as f:
    JOB_ROWS = int(re.search(r"#define VAE_BATCH_JOB_ROWS (\d+)", f.read()).group(1))


def metric(text, name):
    m = re.search(r"^%s (\d+)$" % re.escape(name), text, re.M)
    return int(m.group(1)) if m else None


def run_parallel(fn, items, threads=8):
    """Calls fn(item) for every item from `threads` threads at once; returns results in order."""
    results = [None] * len(items)
    barrier = threading.Barrier(threads)

    def worker(t):
        barrier.wait()  # start together, so the calls meet in the queue
        for i in range(t, len(items), threads):
            try:
                results[i] = fn(items[i])
            except Exception as e:  # reported by the caller's assertions
                results[i] = e

    pool = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for p in pool:
        p.start()
    for p in pool:
        p.join()
    return results


def latent(d, k):
    return [round(math.sin(k * 1.7 + i) * 1.3, 4) for i in range(d)]


class Batching(ServerTestCase):
    # a wide window makes the calls of one burst meet in one batch, deterministically enough
    server_args = ["--threads", "2", "--batch-wait-us", "20000", "--batch-size", "64"]

    def calls(self):
        """A mix of batchable calls on both models: (method, path, body, content type)."""
        d = {name: m["latent_dim"] for name, m in self.models.items()}
        pngs = [png_of(digits().digit(k)) for k in range(4)]
        calls = []
        for k in range(24):
            model = "mnist" if k % 2 == 0 else "fashion"
            kind = k % 4
            if kind == 0:
                calls.append(("POST", "/decode?model=%s" % model, {"z": latent(d[model], k)}, None))
            elif kind == 1:
                calls.append(("POST", "/decode?format=json&model=%s" % model,
                              {"z": [latent(d[model], k), latent(d[model], k + 1)]}, None))
            elif kind == 2:
                calls.append(("GET", "/sample?n=%d&seed=%d&model=%s" % (k % 5 + 1, k, model), None, None))
            else:
                calls.append(("POST", "/encode?model=%s" % model, pngs[k % 4], "image/png"))
        return calls

    def call(self, c, client=None):
        method, path, body, ctype = c
        return (client or self.client).request(method, path, body=body, content_type=ctype)

    def test_concurrent_calls_share_batches_and_get_their_own_answers(self):
        calls = self.calls()
        alone = [self.call(c) for c in calls]  # one at a time: every batch holds one call
        for c, r in zip(calls, alone):
            self.assertEqual(r.status, 200, (c, r))
        before = self.client.get("/metrics").body.decode()
        together = run_parallel(self.call, calls)
        after = self.client.get("/metrics").body.decode()
        for c, a, t in zip(calls, alone, together):
            self.assertNotIsInstance(t, Exception, c)
            self.assertEqual(t.status, 200, (c, t))
            self.assertEqual(t.body, a.body, "%s %s: batched answer differs from the lone one" % c[:2])
        batches = metric(after, "vae_batches_total") - metric(before, "vae_batches_total")
        items = metric(after, "vae_batched_requests_total") - metric(before, "vae_batched_requests_total")
        def call_rows(c):
            if c[0] == "GET":
                return int(re.search(r"n=(\d+)", c[1]).group(1))
            if c[3]:  # a PNG body: one image
                return 1
            return len(c[2]["z"]) if isinstance(c[2]["z"][0], list) else 1
        rows = sum(r for r in map(call_rows, calls) if r <= JOB_ROWS)
        self.assertGreater(rows, 0)
        self.assertEqual(items, rows, "every small call's rows go through the batcher, and only those")
        self.assertLess(batches, len(calls), "concurrent calls never shared a batch")

    def test_same_answers_with_batching_off(self):
        calls = self.calls()
        with ServerProcess(model_args() + ["--batching", "off"]) as off:
            plain = Client(off.port)
            for c in calls:
                a, b = self.call(c), self.call(c, plain)
                self.assertEqual((a.status, b.status), (200, 200), c)
                self.assertEqual(a.body, b.body, "%s %s differs with --batching off" % c[:2])
            metrics = plain.get("/metrics").body.decode()
            self.assertEqual(metric(metrics, "vae_batches_total"), 0)

    def test_large_calls_run_outside_the_batcher(self):
        before = metric(self.client.get("/metrics").body.decode(), "vae_batched_requests_total")
        resp = self.client.get("/sample?n=%d&seed=3" % (JOB_ROWS + 1))
        self.assertEqual(resp.status, 200)
        after = metric(self.client.get("/metrics").body.decode(), "vae_batched_requests_total")
        self.assertEqual(after, before, "a call larger than a job is a batch itself: it runs on its thread")


class QueueFull(unittest.TestCase):
    def test_full_queue_answers_503_and_recovers(self):
        # two queue places and a long window: a burst of eight overflows the queue
        with ServerProcess(model_args() + ["--batch-queue", "2", "--batch-wait-us", "300000"]) as srv:
            client = Client(srv.port)
            d = client.get("/v1/models").json()["models"][0]["latent_dim"]
            results = run_parallel(lambda k: client.post("/decode", {"z": latent(d, k)}), list(range(8)))
            statuses = sorted(r.status for r in results)
            self.assertIn(200, statuses)
            self.assertIn(503, statuses, "the burst never overflowed a queue of two")
            for r in results:
                if r.status == 503:
                    err = r.json()["error"]
                    self.assertEqual((err["code"], err["type"]), (503, "overloaded"))
                    self.assertIn("--batch-queue", err["message"])
                    self.assertEqual(r.header("Retry-After"), "1")
            metrics = client.get("/metrics").body.decode()
            self.assertEqual(metric(metrics, "vae_overload_rejections_total"), statuses.count(503))
            self.assertEqual(client.post("/decode", {"z": latent(d, 1)}).status, 200, "no recovery")


class DrainWithQueuedCalls(unittest.TestCase):
    def test_sigterm_runs_queued_calls_and_exits_zero(self):
        srv = ServerProcess(model_args() + ["--batch-wait-us", "500000"])
        srv.start()
        client = Client(srv.port)
        d = client.get("/v1/models").json()["models"][0]["latent_dim"]
        results = []
        threads = [threading.Thread(target=lambda k=k: results.append(client.post("/decode", {"z": latent(d, k)})))
                   for k in range(4)]
        for t in threads:
            t.start()
        # wait until all four are queued (in flight), then stop the server under them
        import time
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            text = client.get("/metrics").body.decode()
            if metric(text, "vae_requests_in_flight") >= 5:  # the four and this /metrics
                break
            time.sleep(0.01)
        srv.stop()  # SIGTERM; asserts exit code 0
        for t in threads:
            t.join()
        self.assertEqual([r.status for r in results], [200] * 4)


if __name__ == "__main__":
    unittest.main()
