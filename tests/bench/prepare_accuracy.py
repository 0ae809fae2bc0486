#!/usr/bin/env python3
"""The README's "Preparing pictures" figures: test images the models never saw, drawn onto 112x112
canvases (tests/http/scenes.py: size, position, polarity, noise, gradient), sent as PNGs to
/encode and /reconstruct?with_input=1 of a vae-server started here, for every normalize and
invert setting. Prints, per variant and setting, the nearest-class-centroid accuracy of mu (the
centroids the weights carry), the reconstruction error of the prepared input (BCE summed over its
784 pixels, nats, the model's own loss) and how many images were refused as having no ink, beside
the same figures for the test images as the datasets prepared them. Asserts nothing: the HTTP
suite's test_prepare.py holds the bounds.

usage: prepare_accuracy.py [--build DIR] [--mnist DIR] [--fashion DIR] [--count N] [--seed S]
"""
import argparse
import base64
import http.client
import json
import math
import os
import random
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "http"))

import mnist  # noqa: E402
import pngutil  # noqa: E402
import scenes  # noqa: E402
from server import REPO, ServerProcess  # noqa: E402

NORMALIZE = ["none", "mnist", "fill", "auto"]
INVERT = ["no", "yes", "auto"]


class Api:
    """One keep-alive connection to the server."""

    def __init__(self, port):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def post(self, path, body, ctype="application/json"):
        data = json.dumps(body).encode() if ctype == "application/json" else body
        self.conn.request("POST", path, body=data, headers={"Content-Type": ctype})
        r = self.conn.getresponse()
        return r.status, json.loads(r.read().decode())


def centroids(api, model):
    """The class centroids the weights carry: /interpolate from a label to itself."""
    out = []
    for k in range(10):
        status, body = api.post("/interpolate?format=json&model=" + model, {"from": k, "to": k, "steps": 2})
        assert status == 200, body
        out.append(body["z"][0])
    return out


def nearest(mu, cents):
    return min(range(10), key=lambda k: sum((a - b) ** 2 for a, b in zip(mu, cents[k])))


def bce(x, xhat):
    eps = 1e-7
    return -sum(t * math.log(max(p, eps)) + (1 - t) * math.log(max(1 - p, eps)) for t, p in zip(x, xhat))


def measure(api, model, cents, items, labels, query):
    """(accuracy, mean reconstruction BCE of the prepared input, refused) of PNG items."""
    right = refused = 0
    losses = []
    for png, label in zip(items, labels):
        q = "model=%s&%s" % (model, query)
        status, body = api.post("/encode?" + q, png, "image/png")
        if status == 422 and body["error"]["type"] == "no_ink":
            refused += 1
            continue
        assert status == 200, (query, body)
        right += nearest(body["mu"], cents) == label
        status, rec = api.post("/reconstruct?format=json&with_input=1&" + q, png, "image/png")
        assert status == 200, rec
        losses.append(bce(rec["input"][0], rec["pixels"][0]))
    return right / len(items), (sum(losses) / len(losses) if losses else float("nan")), refused


def baseline(api, model, cents, images, labels):
    """The same figures for the 28x28 test images as the dataset has them (pixels, normalize=none)."""
    right = 0
    losses = []
    for img, label in zip(images, labels):
        px = [v / 255.0 for v in img]
        status, body = api.post("/encode?model=" + model, {"pixels": px})
        assert status == 200, body
        right += nearest(body["mu"], cents) == label
        status, rec = api.post("/reconstruct?format=json&with_input=1&model=" + model, {"pixels": px})
        losses.append(bce(rec["input"][0], rec["pixels"][0]))
    return right / len(images), sum(losses) / len(losses)


def dataset(path, source):
    return mnist.Digits(os.path.join(path, "t10k-images-idx3-ubyte.gz"), os.path.join(path, "t10k-labels-idx1-ubyte.gz"),
                        source)


def run(api, model, data, count, seed, settings, out):
    idx = scenes.pick(data.labels, count, seed)
    images = [data.images[i] for i in idx]
    labels = [data.labels[i] for i in idx]
    cents = centroids(api, model)
    acc, loss = baseline(api, model, cents, images, labels)
    out.write("\n### %s: %d test images (%d per class, seed %d)\n\n" % (model, count, count // 10, seed))
    out.write("As the dataset prepared them (28x28, `pixels`): accuracy **%.1f%%**, reconstruction BCE %.1f\n\n"
              % (100 * acc, loss))
    out.write("| picture (112x112 PNG) | " + " | ".join("`%s`" % s for s in settings) + " |\n")
    out.write("| --- |" + " --- |" * len(settings) + "\n")
    rows = [("the test image itself (28x28)", None)] + scenes.VARIANTS
    for v, (name, variant) in enumerate(rows):
        rng = random.Random(seed * 100 + v)
        if variant is None:
            pngs = [pngutil.grey8(img, 28, 28) for img in images]
        else:
            pngs = [scenes.scene_png(img, rng, **variant)[0] for img in images]
        cells = []
        for s in settings:
            a, l, r = measure(api, model, cents, pngs, labels, s)
            cells.append("%.1f%% (%.0f%s)" % (100 * a, l, ", %d refused" % r if r else ""))
        out.write("| %s | %s |\n" % (name, " | ".join(cells)))
        out.flush()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(REPO, "build"))
    ap.add_argument("--mnist", default=os.path.join(REPO, "..", "shared", "data", "mnist"))
    ap.add_argument("--fashion", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--seed", type=int, default=15)
    ap.add_argument("--settings", default=None, help="comma-separated queries (default: every normalize x invert)")
    args = ap.parse_args()
    os.environ["VAE_TEST_BUILD"] = os.path.abspath(args.build)
    settings = args.settings.split(",") if args.settings else [
        "normalize=%s&invert=%s" % (n, i) for n in NORMALIZE for i in INVERT]
    started = time.monotonic()
    models = ["--model", "mnist=model/weights/mnist.safetensors", "--model", "fashion=model/weights/fashion.safetensors",
              "--log-format", "off"]
    with ServerProcess(models) as srv:
        api = Api(srv.port)
        run(api, "mnist", dataset(args.mnist, "MNIST"), args.count, args.seed, settings, sys.stdout)
        fashion_settings = [s for s in settings if "normalize=mnist" not in s]
        run(api, "fashion", dataset(args.fashion, "Fashion-MNIST"), args.count, args.seed, fashion_settings, sys.stdout)
    print("\n(%.0f s)" % (time.monotonic() - started))


if __name__ == "__main__":
    main()
