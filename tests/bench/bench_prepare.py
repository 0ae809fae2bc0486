#!/usr/bin/env python3
"""make bench-prepare: the cost per request of each preparation option. wrk on loopback against one
vae-server, POST /encode (and /reconstruct?with_input=1) of the same PNG with each normalize and
invert setting, back to back, for a 28x28 digit, a 112x112 picture of one (dark ink on a light page)
and a 1024x768 photo-sized one. Prints a table; asserts nothing (timings on a shared machine are not
tests: compare the rows of one run).

usage: bench_prepare.py BUILD_DIR [--seconds S] [--connections C] [--threads N]
"""
import argparse
import os
import random
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "http"))

import bench_http  # noqa: E402  (wrk and its Lua body scripts)
import mnist  # noqa: E402
import pngutil  # noqa: E402
import scenes  # noqa: E402
from server import REPO, ServerProcess  # noqa: E402

SETTINGS = ["invert=1", "invert=auto", "normalize=mnist&invert=auto", "normalize=fill&invert=auto",
            "normalize=auto&invert=auto"]


def pictures():
    """(name, PNG): a test digit as MNIST has it, drawn at half size on a 112x112 page, and the same
    page scaled to 1024x768 (nearest neighbour: a photo's size, not its detail)."""
    data = mnist.load(os.path.join(REPO, "..", "shared", "data", "mnist"))
    digit = data.digit(3)
    page, _ = scenes.scene(digit, random.Random(15), size=(0.5, 0.5), dark=1.0, noise=0.03)
    w, h = 1024, 768
    big = bytes(page[(y * scenes.CANVAS // h) * scenes.CANVAS + x * scenes.CANVAS // w] for y in range(h) for x in range(w))
    return [("28x28 digit", pngutil.grey8(bytes(255 - v for v in digit), 28, 28)),
            ("112x112 page", pngutil.grey8(page, scenes.CANVAS, scenes.CANVAS)),
            ("1024x768 page", pngutil.grey8(big, w, h, level=9))]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("build")
    ap.add_argument("--seconds", type=int, default=int(os.environ.get("BENCH_SECONDS", "5")))
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2, help="server worker threads")
    args = ap.parse_args()
    os.environ["VAE_TEST_BUILD"] = os.path.abspath(args.build)
    flags = ["--model", "mnist=model/weights/mnist.safetensors", "--threads", str(args.threads),
             "--log-format", "off", "--max-body", str(16 << 20)]
    rows = []
    with ServerProcess(flags) as srv:
        base = "http://127.0.0.1:%d" % srv.port
        bench_http.wrk(base + "/health", 1, args.connections, 1)  # warm-up
        for name, png in pictures():
            cases = [("/encode?" + q, q) for q in SETTINGS]
            cases.append(("/reconstruct?with_input=1&normalize=auto&invert=auto", "reconstruct, with_input, auto"))
            plain = None
            for path, label in cases:
                r = bench_http.wrk(base + path, args.seconds, args.connections, 1,
                                   bench_http.lua_post(path, png, "image/png"))
                plain = plain or r["rps"]
                rows.append((name, len(png), label, r, r["rps"] / plain))
    print("POST of one PNG, %d server threads, %d connections, %d s per row; model mnist" %
          (args.threads, args.connections, args.seconds))
    print()
    print("| picture | PNG bytes | options | req/s | p50 ms | p99 ms | vs invert=1 | errors |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, size, label, r, ratio in rows:
        print("| %s | %d | `%s` | %.0f | %.2f | %.2f | %.0f%% | %d |" % (name, size, label, r["rps"], r["p50"], r["p99"],
                                                                     100 * ratio, r["errors"]))


if __name__ == "__main__":
    main()
