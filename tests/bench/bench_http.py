#!/usr/bin/env python3
"""make bench: wrk on loopback against vae-server, every endpoint in one run, beside the server's own
/health (the HTTP ceiling) and OpenBLAS sgemm on this machine (the compute ceiling). Prints figures;
asserts nothing (timings on a shared machine are not tests).

usage: bench_http.py BUILD_DIR [--seconds S] [--connections C] [--model NAME=PATH ...] [--threads N]
"""
import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def rss_mb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def wrk(url, seconds, connections, threads, script=None):
    cmd = ["wrk", "-t%d" % threads, "-c%d" % connections, "-d%ds" % seconds, "--latency", url]
    if script:
        cmd[1:1] = ["-s", script]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)

    def pct(p):
        m = re.search(r"^\s+%s%%\s+([\d.]+)(us|ms|s)\b" % p, out, re.M)
        v, unit = float(m.group(1)), m.group(2)
        return v / 1000.0 if unit == "us" else v * 1000.0 if unit == "s" else v

    return {"rps": rps, "p50": pct("50"), "p99": pct("99"),
            "errors": (int(non2xx.group(1)) if non2xx else 0) + (sum(map(int, errors.groups())) if errors else 0)}


def lua_post(path, body, content_type, headers=None):
    f = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
    body_lua = "".join("\\%d" % b for b in body) if isinstance(body, bytes) else body.replace("\\", "\\\\").replace('"', '\\"')
    f.write('wrk.method = "POST"\nwrk.path = "%s"\nwrk.headers["Content-Type"] = "%s"\n' % (path, content_type))
    for k, v in (headers or {}).items():
        f.write('wrk.headers["%s"] = "%s"\n' % (k, v))
    f.write('wrk.body = "%s"\n' % body_lua)
    f.close()
    return f.name


class Variant:
    """One server under test: a label, its binary and extra flags."""

    def __init__(self, spec, default_server):
        label, _, rest = spec.partition("=")
        parts = rest.split(",") if rest else []
        self.label = label
        self.server = parts[0] if parts and parts[0] else default_server
        self.extra = parts[1:]
        self.proc = None


def start(variant, args):
    port = free_port()
    cmd = [variant.server, "--port", str(port), "--bind", "127.0.0.1", "--threads", str(args.threads),
           "--log-format", "off"] + ["--model=" + m for m in args.model] + variant.extra
    t0 = time.monotonic()
    variant.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    variant.base = "http://127.0.0.1:%d" % port
    variant.ready_ms = None
    while time.monotonic() - t0 < 10:
        try:
            if urllib.request.urlopen(variant.base + "/ready", timeout=1).status == 200:
                variant.ready_ms = (time.monotonic() - t0) * 1000
                break
        except OSError:
            time.sleep(0.001)
    if variant.ready_ms is None:
        variant.proc.kill()
        sys.exit("%s did not become ready:\n%s" % (variant.label, variant.proc.stderr.read()))
    variant.rss_start = rss_mb(variant.proc.pid)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--seconds", type=int, default=int(os.environ.get("BENCH_SECONDS", "8")))
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--wrk-threads", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2, help="server worker threads")
    ap.add_argument("--model", action="append", default=[])
    ap.add_argument("--variant", action="append", default=[],
                    help="LABEL=[SERVER][,FLAG...]: a server to measure (several are measured back to back)")
    args = ap.parse_args()

    default_server = os.path.join(args.build, "vae-server")
    variants = [Variant(v, default_server) for v in args.variant] or [Variant("vae-server=", default_server)]
    peak = float(subprocess.run([os.path.join(args.build, "bench", "peak_flops"), str(args.threads)],
                                capture_output=True, text=True, check=True).stdout)
    for v in variants:
        start(v, args)
    base0 = variants[0].base
    models = json.load(urllib.request.urlopen(base0 + "/v1/models"))["models"]
    m = models[0]
    d = m["latent_dim"]
    dims = [d] + list(reversed(m["hidden"])) + [784]
    decoder_macs = sum(a * b for a, b in zip(dims, dims[1:]))
    digit_path = os.path.join(HERE, "..", "..", "docs", "api", "digit.png")
    digit = open(digit_path, "rb").read() if os.path.exists(digit_path) else None

    z1 = json.dumps({"z": [0.25] * d})
    z16 = json.dumps({"z": [[0.1 * ((i + j) % 7 - 3) for j in range(d)] for i in range(16)]})
    cases = [
        ("GET /health", "/health", None, 0),
        ("POST /decode (1 z, PNG)", "/decode", lua_post("/decode", z1, "application/json"), 1),
        ("POST /decode (1 z, JSON)", "/decode?format=json", lua_post("/decode?format=json", z1, "application/json"), 1),
        ("POST /decode (16 z, PNG)", "/decode", lua_post("/decode", z16, "application/json"), 16),
    ]
    if digit:
        cases.append(("POST /encode (28x28 PNG)", "/encode", lua_post("/encode", digit, "image/png"), -1))
        cases.append(("POST /reconstruct (PNG)", "/reconstruct", lua_post("/reconstruct", digit, "image/png"), -1))
    cases += [
        ("GET /sample?n=16", "/sample?n=16", None, 16),
        ("GET /sample?n=64", "/sample?n=64", None, 64),
        ("GET /sample?n=16&format=json", "/sample?n=16&format=json", None, 16),
        ("POST /interpolate 3->8", "/interpolate",
         lua_post("/interpolate", '{"from":3,"to":8,"steps":10}', "application/json"), 10),
    ]
    for v in variants:  # warm-up
        for path in ("/health", "/sample?n=16"):
            wrk(v.base + path, 1, args.connections, args.wrk_threads)
    rows = []
    health = {}
    for name, path, script, n in cases:
        for v in variants:  # back to back, so drift on a shared machine hits every variant alike
            r = wrk(v.base + path, args.seconds, args.connections, args.wrk_threads, script)
            health.setdefault(v.label, r["rps"])
            bound = peak * 1e9 / (2.0 * decoder_macs * n) if n > 0 else None
            rows.append((name, v.label, r, bound))
    for v in variants:
        v.rss_end = rss_mb(v.proc.pid)
        v.proc.send_signal(signal.SIGTERM)
        v.code = v.proc.wait(timeout=30)

    print("model %s (%s), %d server threads, %d connections, wrk %d thread(s), %d s per endpoint" %
          (m["name"], m["architecture"], args.threads, args.connections, args.wrk_threads, args.seconds))
    print("compute ceiling: OpenBLAS sgemm %.1f GFLOP/s on %d threads; decoder %d multiply-adds per image" %
          (peak, args.threads, decoder_macs))
    print()
    label = len(variants) > 1
    print("| endpoint |%s conns | req/s | p50 ms | p99 ms | vs /health | compute bound req/s | of bound | errors |"
          % (" server |" if label else ""))
    print("| --- |%s --- | --- | --- | --- | --- | --- | --- | --- |" % (" --- |" if label else ""))
    for name, vlabel, r, bound in rows:
        print("| %s |%s %d | %.0f | %.2f | %.2f | %.0f%% | %s | %s | %d |" % (
            name, " %s |" % vlabel if label else "", args.connections, r["rps"], r["p50"], r["p99"],
            100.0 * r["rps"] / health[vlabel], "%.0f" % bound if bound else "",
            "%.0f%%" % (100.0 * r["rps"] / bound) if bound else "", r["errors"]))
    print()
    for v in variants:
        print("%s: ready %.0f ms after exec; resident memory %.1f MB at ready, %.1f MB after the run; "
              "exit code %d" % (v.label, v.ready_ms, v.rss_start, v.rss_end, v.code))


if __name__ == "__main__":
    main()
