#!/usr/bin/env python3
"""make reload-test: live reload under load. wrk drives the endpoint mix (tests/hardening/mix.lua) at
saturation while the served weights file is replaced and reloaded RELOADS times (50 by default),
alternating good files (the shipped mnist weights and a twin of the same shape whose decoder output
bias is moved, tests/http/common.py's twin_weights) and broken ones
(truncated, garbage, a NaN weight), half through POST /v2/repository/models/mnist/load and half
through SIGHUP. Meanwhile verifier clients decode a fixed z and check each reply is exactly one of
the two good models' (never a mix of two files, never an error). Fails unless: wrk saw no non-2xx
reply and no socket error, every verifier reply matched, every good load published a new version
and every broken one was refused with the old version serving, the process stayed up and exits 0
on SIGTERM, and resident memory after the reloads is within RSS_SLACK_KB (4 MB) of its level after
the first reloads (old models are freed when their last request lets go).

    tests/hardening/reload.py [BUILD_DIR] [RELOADS]"""
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
MNIST = os.path.join(REPO, "model", "weights", "mnist.safetensors")
RSS_SLACK_KB = 4096
sys.path.insert(0, os.path.join(REPO, "tests", "http"))
from common import twin_weights  # noqa: E402


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def request(port, method, path, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, path, body=json.dumps(body).encode() if body is not None else None, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def replace(path, source=None, data=None):
    tmp = path + ".tmp"
    if source:
        shutil.copyfile(source, tmp)
    else:
        with open(tmp, "wb") as f:
            f.write(data)
    os.replace(tmp, path)


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    reloads = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    out = os.path.join(REPO, "build", "hardening")
    os.makedirs(out, exist_ok=True)
    subprocess.run([sys.executable, os.path.join(HERE, "bodies.py"), os.path.join(out, "bodies")], check=True)
    workdir = tempfile.mkdtemp(prefix="vae-reload-load-")
    served = os.path.join(workdir, "mnist.safetensors")
    shutil.copyfile(MNIST, served)
    other = twin_weights(MNIST, os.path.join(workdir, "other.safetensors"))
    good = open(MNIST, "rb").read()
    broken = [good[:len(good) // 3], b"not a weights file" * 50, good[:-4] + b"\x00\x00\xc0\x7f"]
    port = free_port()
    log = open(os.path.join(out, "reload-server.err"), "w")
    server = subprocess.Popen([os.path.join(build, "vae-server"), "--bind", "127.0.0.1", "--port", str(port),
                               "--log-format", "off", "--model", "mnist=" + served, "--model", "other=" + other],
                              cwd=REPO, stdout=subprocess.DEVNULL, stderr=log)
    failures = []
    try:
        for _ in range(300):
            try:
                if request(port, "GET", "/ready")[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        d = json.loads(request(port, "GET", "/v1/models")[1])["models"][0]["latent_dim"]
        z = {"z": [0.5] * d}
        want = {request(port, "POST", "/decode?format=json", z)[1],
                request(port, "POST", "/decode?format=json&model=other", z)[1]}
        assert len(want) == 2

        wrk = subprocess.Popen(["wrk", "-t2", "-c32", "-d600s", "--timeout", "10s", "-s",
                                os.path.join(HERE, "mix.lua"), "http://127.0.0.1:%d" % port, "--",
                                os.path.join(out, "bodies")], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        stop = threading.Event()
        verified = [0]
        mismatches = []

        def verify():
            while not stop.is_set():
                try:
                    status, body = request(port, "POST", "/decode?format=json", z)
                except OSError as e:
                    mismatches.append("socket error %s" % e)
                    continue
                verified[0] += 1
                if status != 200 or body not in want:
                    mismatches.append("status %d, %d bytes not from either model" % (status, len(body)))

        verifiers = [threading.Thread(target=verify) for _ in range(2)]
        for t in verifiers:
            t.start()
        time.sleep(2)
        rss_warm = None
        version = 1
        goods = [other, MNIST]
        for i in range(reloads):
            is_good = i % 2 == 0
            if is_good:
                replace(served, goods[(i // 2) % 2])
            else:
                replace(served, data=broken[(i // 2) % len(broken)])
            if i % 4 < 2:
                status, body = request(port, "POST", "/v2/repository/models/mnist/load")
                if status != (200 if is_good else 400):
                    failures.append("reload %d: load answered %d %r" % (i, status, body[:200]))
            else:
                server.send_signal(signal.SIGHUP)
                time.sleep(0.3)
            if is_good:
                version += 1
            meta = json.loads(request(port, "GET", "/v2/models/mnist-decoder")[1])
            if meta.get("versions") != [str(version)]:
                failures.append("reload %d: version %r, expected %d" % (i, meta.get("versions"), version))
            if i == 9:
                rss_warm = rss_kb(server.pid)
            time.sleep(0.2)
        rss_end = rss_kb(server.pid)
        stop.set()
        for t in verifiers:
            t.join()
        wrk.send_signal(signal.SIGINT)
        try:
            text = wrk.communicate(timeout=30)[0].decode(errors="replace")
        except subprocess.TimeoutExpired:
            wrk.kill()
            text = wrk.communicate()[0].decode(errors="replace")
        mix = [l for l in text.splitlines() if l.startswith("mix:")]
        print(mix[0] if mix else text[-2000:])
        if not mix or "non-2xx 0; socket errors: connect 0, read 0, write 0, timeout 0, status 0;" not in mix[0]:
            failures.append("wrk saw errors while reloading")
        if mismatches:
            failures.append("%d verifier replies were not exactly one model's: %s" % (len(mismatches), mismatches[:3]))
        if rss_warm is not None and rss_end - rss_warm > RSS_SLACK_KB:
            failures.append("resident memory grew from %d kB to %d kB over the reloads" % (rss_warm, rss_end))
        metrics = request(port, "GET", "/metrics")[1].decode()
        loaded = re.search(r'vae_model_reloads_total\{result="loaded"\} (\d+)', metrics)
        refused = re.search(r'vae_model_reloads_total\{result="failed"\} (\d+)', metrics)
        print("reload-test: %d reloads (%d good, %d broken; half by the repository API, half by SIGHUP) under "
              "wrk; %d verified replies; server RSS %s kB after 10 reloads, %d kB after %d; metrics: %s loaded, "
              "%s refused" % (reloads, (reloads + 1) // 2, reloads // 2, verified[0], rss_warm, rss_end, reloads,
                              loaded.group(1) if loaded else "?", refused.group(1) if refused else "?"))
        if server.poll() is not None:
            failures.append("the server died (exit %s)" % server.returncode)
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
            try:
                code = server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                code = "killed"
            if code != 0:
                failures.append("exit %s after SIGTERM" % code)
        log.close()
        shutil.rmtree(workdir, ignore_errors=True)
    for f in failures:
        print("reload-test: FAILED: " + f, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
