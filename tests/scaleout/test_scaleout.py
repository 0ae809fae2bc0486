#!/usr/bin/env python3
"""make scaleout-test: two vae-server replicas behind nginx (tests/scaleout/stack.py: the frontend
image's nginx configuration, rendered for loopback ports) under load.

  - the page and the API answer through nginx;
  - requests are spread over both replicas (each replica's /metrics counters);
  - kill -9 of one replica in the middle of a load of requests loses none: nginx retries them on
    the other (the access log shows the retries), and the page keeps answering;
  - the killed replica, restarted, gets traffic again once its fail_timeout has passed;
  - SIGTERM to a replica under load (a rolling update) loses none either, and it exits 0;
  - with every replica gone, the API answers the JSON error shape (503) and the page still loads.

Usage: test_scaleout.py [BUILD_DIR]. Prints one line per check and "N passed, N failed"; exits 1 on
any failure. About 30 s.
"""
import base64
import http.client
import json
import os
import random
import re
import signal
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "container"))
import apicheck  # noqa: E402
from stack import Stack, StackError, wait_status  # noqa: E402


class Load:
    """`threads` clients, each on its own keep-alive connection to nginx, sending a mix of GET
    /sample, POST /decode and POST /encode for `seconds`; counts answers by status, and failures
    (any non-200 or transport error) with their reasons."""

    def __init__(self, port, latent_dim, threads=6, seconds=5.0):
        self.port, self.d, self.threads, self.seconds = port, latent_dim, threads, seconds
        self.lock = threading.Lock()
        self.ok = 0
        self.failures = []
        self.workers = []
        self.image = "data:image/png;base64," + base64.b64encode(apicheck.digit_png(28)).decode()

    def request(self, i, rng):
        kind = i % 3
        if kind == 0:
            return "GET", "/api/sample?n=16&seed=%d" % rng.randrange(1 << 30), None
        if kind == 1:
            return "POST", "/api/decode", json.dumps({"z": [rng.gauss(0, 1) for _ in range(self.d)]})
        return "POST", "/api/encode", json.dumps({"image": self.image})

    def worker(self, seed):
        rng = random.Random(seed)
        conn, i = None, seed
        deadline = time.monotonic() + self.seconds
        while time.monotonic() < deadline:
            method, path, body = self.request(i, rng)
            i += 1
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
                headers = {"Content-Type": "application/json"} if body else {}
                conn.request(method, path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                if resp.status == 200:
                    with self.lock:
                        self.ok += 1
                else:
                    with self.lock:
                        self.failures.append("%s %s -> %d %s" % (method, path, resp.status, data[:200]))
            except (OSError, http.client.HTTPException) as e:
                with self.lock:
                    self.failures.append("%s %s -> %s: %s" % (method, path, type(e).__name__, e))
                if conn is not None:
                    conn.close()
                conn = None
        if conn is not None:
            conn.close()

    def start(self):
        self.workers = [threading.Thread(target=self.worker, args=(k,)) for k in range(self.threads)]
        for w in self.workers:
            w.start()
        return self

    def join(self):
        for w in self.workers:
            w.join()
        return self


def served(replica):
    """Requests a replica has answered with 200 on the model routes, from its /metrics."""
    status, _, body = apicheck.http("GET", replica.url + "/metrics", timeout=5)
    if status != 200:
        raise apicheck.CheckFailed("GET %s/metrics: %d" % (replica.url, status))
    total = 0
    for m in re.finditer(r'^vae_requests_total\{route="(/[a-z]+)",model="[^"]*",status="200"\} (\d+)$', body.decode(), re.M):
        if m.group(1) in ("/sample", "/decode", "/encode", "/reconstruct", "/interpolate"):
            total += int(m.group(2))
    return total


def retried_lines(stack, since=0):
    """Access-log lines (from byte offset `since`) where nginx tried more than one replica."""
    with open(stack.access_log, errors="replace") as f:
        f.seek(since)
        return [line for line in f if re.search(r"upstream=\S+, ", line)]


def log_size(stack):
    return os.path.getsize(stack.access_log)


def main(argv):
    build = argv[1] if len(argv) > 1 else "build"
    started = time.monotonic()
    results = []

    def check(name, fn):
        t0 = time.monotonic()
        try:
            detail = fn()
            results.append(True)
            print("  ok   %-58s %5.1f s  %s" % (name, time.monotonic() - t0, detail or ""))
        except (apicheck.CheckFailed, AssertionError, OSError, ValueError, KeyError) as e:
            results.append(False)
            print("  FAIL %-58s %5.1f s  %s" % (name, time.monotonic() - t0, e))

    try:
        stack = Stack(build, replicas=2).start()
    except StackError as e:
        print("scaleout: cannot start the stack: %s" % e, file=sys.stderr)
        return 1
    try:
        r0, r1 = stack.replicas
        api = stack.url + "/api"
        doc = json.loads(apicheck.http("GET", api + "/v1/models")[2])
        models = [m["name"] for m in doc["models"]]
        latent = doc["models"][0]["latent_dim"]

        def page():
            status, headers, body = apicheck.http("GET", stack.url + "/")
            assert status == 200 and b"VAE playground" in body, "GET /: %d %r" % (status, body[:100])
            assert headers.get("content-type", "").startswith("text/html"), headers.get("content-type")
            for asset, kind in (("/app.js", "application/javascript"), ("/app.css", "text/css")):
                status, headers, _ = apicheck.http("GET", stack.url + asset)
                assert status == 200 and headers.get("content-type", "").startswith(kind), "GET %s: %d" % (asset, status)

        check("the page and its assets through nginx", page)
        for name, fn in apicheck.checks(api, models):
            check("API through nginx: " + name, fn)

        def body_limit():
            big = b'{"image":"' + b"A" * (4 * 1024 * 1024 + 10) + b'"}'
            status, _, body = apicheck.http("POST", api + "/encode", big, {"Content-Type": "application/json"})
            doc = json.loads(body)
            assert status == 413 and doc["error"]["type"] == "payload_too_large", "%d %r" % (status, body[:200])

        check("a body over 4 MiB: the API's JSON 413 from nginx", body_limit)

        def request_ids():
            # nginx makes an ID when the client sends none and passes it on; a client's sane one goes
            # through unchanged; both come back on the reply and appear in nginx's log line
            status, headers, _ = apicheck.http("GET", api + "/health")
            made = headers.get("x-request-id", "")
            assert status == 200 and re.fullmatch(r"[0-9a-f]{32}", made), "nginx's ID %r" % made
            status, headers, _ = apicheck.http("GET", api + "/health", headers={"X-Request-Id": "trace-123"})
            assert headers.get("x-request-id") == "trace-123", headers.get("x-request-id")
            # nginx writes a request's log line after it has sent the reply, so the client can be
            # faster than the line: wait for it (seen once in CI: both lines there a moment later)
            deadline = time.monotonic() + 2
            while True:
                with open(stack.access_log, errors="replace") as f:
                    log = f.read()
                if ("id=" + made in log and "id=trace-123" in log) or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            assert "id=" + made in log and "id=trace-123" in log, "request IDs missing from nginx's log"
            status, headers, body = apicheck.http("POST", api + "/v2/repository/models/mnist/unload")
            assert status == 404 and headers.get("x-request-id"), "the repository API is proxied: %d %r" % (status, body)
            return "nginx-made %s" % made

        check("request IDs through nginx; the repository API stays per replica", request_ids)

        def spread():
            before = [served(r0), served(r1)]
            load = Load(stack.port, latent, threads=4, seconds=2.0).start().join()
            assert not load.failures, "%d failures: %s" % (len(load.failures), load.failures[:3])
            # a replica counts a request when it completes, just after the client has the reply
            deadline = time.monotonic() + 2
            while True:
                got = [served(r0) - before[0], served(r1) - before[1]]
                total = sum(got)
                if total >= load.ok or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            assert total >= load.ok, "replicas counted %d, the load got %d" % (total, load.ok)
            assert min(got) >= 0.3 * total, "uneven spread %r" % got
            return "%d requests: %d + %d" % (total, got[0], got[1])

        check("requests are spread over both replicas", spread)

        def kill_under_load():
            mark = log_size(stack)
            before1 = served(r1)
            load = Load(stack.port, latent, threads=6, seconds=5.0).start()
            time.sleep(1.5)
            r0.kill(signal.SIGKILL)
            load.join()
            assert not load.failures, "%d of %d requests failed: %s" % (
                len(load.failures), load.ok + len(load.failures), load.failures[:3])
            assert load.ok > 50, "only %d requests in 5 s" % load.ok
            retried = retried_lines(stack, mark)
            assert retried, "no request was retried: the kill did not hit the load"
            return "%d requests, 0 failed, %d retried on the other replica (survivor served %d)" % (
                load.ok, len(retried), served(r1) - before1)

        check("kill -9 of a replica under load loses no request", kill_under_load)

        def still_answers():
            page()
            status, _, body = apicheck.http("GET", api + "/sample?n=4&seed=1")
            assert status == 200, "GET /api/sample: %d %r" % (status, body[:200])

        check("the page and the API still answer with one replica", still_answers)

        def recovers():
            r0.start()
            restarted = time.monotonic()
            deadline = restarted + 15
            while time.monotonic() < deadline:
                for _ in range(8):
                    status, _, _ = apicheck.http("GET", api + "/sample?n=1")
                    assert status == 200, "GET /api/sample: %d during recovery" % status
                if served(r0) > 0:
                    # Each nginx worker keeps its own count of failures: one that has not sent r0 a
                    # request yet still skips it until fail_timeout (5 s) after its last failure,
                    # which was before the restart. Past that every worker has it back.
                    time.sleep(max(0.0, restarted + 5.5 - time.monotonic()))
                    return "back in the rotation after %.1f s" % (time.monotonic() - restarted)
                time.sleep(0.5)
            raise AssertionError("the restarted replica got no request in 15 s")

        check("a restarted replica gets traffic again", recovers)

        def sigterm_under_load():
            load = Load(stack.port, latent, threads=6, seconds=4.0).start()
            time.sleep(1.0)
            r1.kill(signal.SIGTERM)
            code = r1.wait(15)
            load.join()
            assert code == 0, "the replica exited with %d on SIGTERM" % code
            assert not load.failures, "%d of %d requests failed: %s" % (
                len(load.failures), load.ok + len(load.failures), load.failures[:3])
            return "%d requests, 0 failed; the replica exited 0" % load.ok

        check("SIGTERM of a replica under load loses no request", sigterm_under_load)

        def all_down():
            r0.kill(signal.SIGKILL)
            r0.wait()
            status, headers, body = apicheck.http("GET", api + "/sample?n=1")
            doc = json.loads(body)
            assert status == 503 and doc["error"]["type"] == "not_ready", "%d %r" % (status, body[:200])
            assert headers.get("retry-after") == "1", headers
            page()
            assert wait_status(stack.url + "/healthz", 200, 2), "nginx's /healthz"

        check("no replica left: JSON 503 from nginx, the page still loads", all_down)
    finally:
        stack.stop(keep_dir=not all(results))
        if not all(results):
            print("scaleout: logs kept in %s" % stack.dir)
    passed, failed = results.count(True), results.count(False)
    print("scaleout: %d passed, %d failed (%.0f s)" % (passed, failed, time.monotonic() - started))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
