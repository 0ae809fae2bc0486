#!/usr/bin/env python3
"""make bench-pipeline: the server before and after a change, side by side in one run, and the model
calls the request pipeline now batches (/reconstruct, the encodes of /interpolate's PNG ends, the
Open Inference Protocol's infer calls) with batching on and off. Every variant is a server started
here on its own port; each endpoint is measured on every variant in turn, ROUNDS times over, so the
machine's drift shows as spread rather than as a difference. Prints requests/s (median of the
rounds, and the range) per endpoint and variant, and each variant's ratio to the first. Figures on a
shared machine are not tests: it asserts only that every reply was a 2xx.

usage: bench_pipeline.py --variant LABEL=SERVER[,FLAG...] ... [--seconds S] [--rounds R] [--connections C]"""
import argparse
import base64
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def lua(path, body, ctype):
    f = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
    f.write('wrk.method = "POST"\nwrk.path = "%s"\nwrk.headers["Content-Type"] = "%s"\n' % (path, ctype))
    data = body if isinstance(body, bytes) else body.encode()
    f.write('wrk.body = "%s"\n' % "".join("\\%d" % b for b in data))
    f.close()
    return f.name


def wrk(url, script, seconds, connections):
    cmd = ["wrk", "-t1", "-c%d" % connections, "-d%ds" % seconds, url]
    if script:
        cmd[1:1] = ["-s", script]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errs = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return rps, (int(bad.group(1)) if bad else 0) + (sum(map(int, errs.groups())) if errs else 0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--variant", action="append", required=True)
    ap.add_argument("--seconds", type=int, default=int(os.environ.get("BENCH_SECONDS", "3")))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--connections", type=int, default=32)
    args = ap.parse_args()
    weights = os.path.join(REPO, "model", "weights", "mnist.safetensors")
    variants = []
    for spec in args.variant:
        label, _, rest = spec.partition("=")
        parts = rest.split(",")
        port = free_port()
        proc = subprocess.Popen([parts[0], "--port", str(port), "--bind", "127.0.0.1", "--threads", "2",
                                 "--log-format", "off", "--model", "mnist=" + weights] + parts[1:],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        variants.append({"label": label, "proc": proc, "base": "http://127.0.0.1:%d" % port})
    try:
        for v in variants:
            for _ in range(200):
                try:
                    if urllib.request.urlopen(v["base"] + "/ready", timeout=1).status == 200:
                        break
                except OSError:
                    time.sleep(0.05)
        d = 32
        digit = open(os.path.join(REPO, "docs", "api", "digit.png"), "rb").read()
        b64 = base64.b64encode(digit).decode()
        pixels = [0.0] * 784
        cases = [
            ("GET /health", "/health", None),
            ("POST /decode (1 z, PNG)", "/decode", lua("/decode", json.dumps({"z": [0.25] * d}), "application/json")),
            ("POST /encode (PNG)", "/encode", lua("/encode", digit, "image/png")),
            ("POST /reconstruct (PNG) [newly batched]", "/reconstruct", lua("/reconstruct", digit, "image/png")),
            ("GET /sample?n=4", "/sample?n=4", None),
            ("GET /sample?n=16", "/sample?n=16", None),
            ("POST /interpolate labels", "/interpolate",
             lua("/interpolate", '{"from":3,"to":8,"steps":4}', "application/json")),
            ("POST /interpolate PNG ends [newly batched]", "/interpolate",
             lua("/interpolate", json.dumps({"from": b64, "to": b64, "steps": 4}), "application/json")),
            ("POST /v2 decoder infer 1 [newly batched]", "/v2/models/mnist-decoder/infer",
             lua("/v2/models/mnist-decoder/infer", json.dumps({"inputs": [
                 {"name": "z", "shape": [1, d], "datatype": "FP32", "data": [0.25] * d}]}), "application/json")),
            ("POST /v2 encoder infer 1 [newly batched]", "/v2/models/mnist-encoder/infer",
             lua("/v2/models/mnist-encoder/infer", json.dumps({"inputs": [
                 {"name": "x", "shape": [1, 784], "datatype": "FP32", "data": pixels}]}), "application/json")),
        ]
        for v in variants:  # warm-up
            wrk(v["base"] + "/health", None, 1, args.connections)
        results = {(c[0], v["label"]): [] for c in cases for v in variants}
        failed = 0
        for _ in range(args.rounds):
            for name, path, script in cases:
                for v in variants:
                    rps, bad = wrk(v["base"] + path, script, args.seconds, args.connections)
                    results[(name, v["label"])].append(rps)
                    failed += bad
        print("request pipeline: %d variants, %d connections, %d rounds of %d s per endpoint and variant, "
              "alternated" % (len(variants), args.connections, args.rounds, args.seconds))
        head = "  %-44s" % "" + "".join("%26s" % v["label"] for v in variants)
        print(head)
        for name, _, script in cases:
            line = "  %-44s" % name
            first = None
            for v in variants:
                r = sorted(results[(name, v["label"])])
                med = r[len(r) // 2]
                first = first or med
                line += "%10.0f (%5.0f-%5.0f)%s" % (med, r[0], r[-1], " %4.2fx" % (med / first) if v is not variants[0]
                                                   else "      ")
            print(line)
            if script:
                os.unlink(script)
        if failed:
            print("bench_pipeline: %d requests failed" % failed, file=sys.stderr)
            return 1
    finally:
        for v in variants:
            v["proc"].terminate()
            v["proc"].wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
