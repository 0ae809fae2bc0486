#!/usr/bin/env python3
"""make bench (part): the Open Inference Protocol's binary tensor data against JSON, under wrk on one
server in one run: the encoder at batch 1, 16 and 64 and the decoder at batch 1 and 64, each with
JSON in and out and with binary in and out, alternated variant by variant and repeated (ROUNDS) so
the machine's drift shows as spread rather than as a difference. Prints requests/s (median of the
rounds, and the range), the bytes on the wire each way, and the ratio. Asserts only that every
reply was a 200 (figures on a shared machine are not tests).

usage: bench_oip.py BUILD_DIR [--seconds S] [--rounds R] [--connections C]"""
import argparse
import json
import os
import re
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(HERE, "..", "http"))
import mnist  # noqa: E402


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def lua(path, body, headers):
    f = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
    f.write('wrk.method = "POST"\nwrk.path = "%s"\n' % path)
    for k, v in headers.items():
        f.write('wrk.headers["%s"] = "%s"\n' % (k, v))
    f.write('wrk.body = "%s"\n' % "".join("\\%d" % b for b in body))
    f.close()
    return f.name


def wrk(port, script, seconds, connections):
    out = subprocess.run(["wrk", "-t1", "-c%d" % connections, "-d%ds" % seconds, "-s", script,
                          "http://127.0.0.1:%d" % port], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errs = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return rps, (int(bad.group(1)) if bad else 0) + (sum(map(int, errs.groups())) if errs else 0)


def request(port, path, body, headers):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), data=body, method="POST", headers=headers)
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.status, resp.read()


def bodies(face, rows, d):
    """(JSON body, binary body, binary headers) asking for every output."""
    name = "x" if face == "encoder" else "z"
    flat = [v for r in rows for v in r]
    width = len(rows[0])
    text = json.dumps({"inputs": [{"name": name, "shape": [len(rows), width], "datatype": "FP32",
                                   "data": flat}]}).encode()
    tail = struct.pack("<%df" % len(flat), *flat)
    head = json.dumps({"inputs": [{"name": name, "shape": [len(rows), width], "datatype": "FP32",
                                   "parameters": {"binary_data_size": len(tail)}}],
                       "parameters": {"binary_data_output": True}}).encode()
    return text, head + tail, {"Inference-Header-Content-Length": str(len(head)),
                               "Content-Type": "application/octet-stream"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--seconds", type=int, default=int(os.environ.get("BENCH_SECONDS", "4")))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--connections", type=int, default=16)
    args = ap.parse_args()
    port = free_port()
    proc = subprocess.Popen([os.path.join(args.build, "vae-server"), "--port", str(port), "--bind", "127.0.0.1",
                             "--threads", "2", "--log-format", "off", "--model",
                             "mnist=" + os.path.join(REPO, "model", "weights", "mnist.safetensors")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for _ in range(200):
            try:
                if urllib.request.urlopen("http://127.0.0.1:%d/ready" % port, timeout=1).status == 200:
                    break
            except OSError:
                time.sleep(0.05)
        d = json.load(urllib.request.urlopen("http://127.0.0.1:%d/v1/models" % port))["models"][0]["latent_dim"]
        digits = mnist.load(os.environ.get("VAE_TEST_MNIST", os.path.join(REPO, "..", "shared", "data", "mnist")))
        cases = []
        for face, n in (("encoder", 1), ("encoder", 16), ("encoder", 64), ("decoder", 1), ("decoder", 64)):
            if face == "encoder":
                rows = [[v / 255.0 for v in digits.digit(i % 10, i // 10)] for i in range(n)]
            else:
                rows = [[0.1 * ((i + k) % 11) - 0.5 for k in range(d)] for i in range(n)]
            text, binary, headers = bodies(face, rows, d)
            path = "/v2/models/mnist-%s/infer" % face
            _, text_reply = request(port, path, text, {"Content-Type": "application/json"})
            _, binary_reply = request(port, path, binary, headers)
            cases.append({"label": "%s batch %d" % (face, n), "path": path,
                          "json": (lua(path, text, {"Content-Type": "application/json"}), len(text), len(text_reply)),
                          "binary": (lua(path, binary, headers), len(binary), len(binary_reply)),
                          "rps": {"json": [], "binary": []}})
        failed = 0
        for _ in range(args.rounds):
            for c in cases:
                for kind in ("json", "binary"):
                    rps, bad = wrk(port, c[kind][0], args.seconds, args.connections)
                    c["rps"][kind].append(rps)
                    failed += bad
        print("Open Inference Protocol, binary tensor data against JSON (mnist 784-512-256-%d, %d connections, "
              "%d rounds of %d s per variant, alternated):" % (d, args.connections, args.rounds, args.seconds))
        print("  %-18s %22s %22s %7s %21s %21s" % ("", "JSON req/s", "binary req/s", "ratio", "JSON bytes in/out",
                                                    "binary bytes in/out"))
        for c in cases:
            j, b = sorted(c["rps"]["json"]), sorted(c["rps"]["binary"])
            jm, bm = j[len(j) // 2], b[len(b) // 2]
            print("  %-18s %8.0f (%5.0f-%5.0f) %8.0f (%5.0f-%5.0f) %6.2fx %10d/%10d %10d/%10d" % (
                c["label"], jm, j[0], j[-1], bm, b[0], b[-1], bm / jm, c["json"][1], c["json"][2], c["binary"][1],
                c["binary"][2]))
            for kind in ("json", "binary"):
                os.unlink(c[kind][0])
        if failed:
            print("bench_oip: %d requests failed" % failed, file=sys.stderr)
            return 1
    finally:
        proc.terminate()
        proc.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
