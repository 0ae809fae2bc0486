#!/usr/bin/env python3
"""Writes the request bodies tests/hardening/mix.lua sends (valid requests for the shipped mnist
model, d read from its file), from the committed MNIST slice: bodies.py OUT_DIR"""
import base64
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "http"))
import mnist  # noqa: E402
from common import latent_dim  # noqa: E402
import pngutil  # noqa: E402


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    digits = mnist.load(os.environ.get("VAE_TEST_MNIST", os.path.join(HERE, "..", "..", "..", "shared", "data", "mnist")))
    five = digits.digit(5)
    png = pngutil.grey8(five, 28, 28)
    d = latent_dim()
    files = {
        "digit.png": png,
        "decode_one.json": json.dumps({"z": [0.1 * (i % 7) - 0.3 for i in range(d)]}),
        "decode_batch8.json": json.dumps({"z": [[0.05 * ((i + k) % 9) - 0.2 for i in range(d)] for k in range(8)]}),
        "encode_b64.json": json.dumps({"image": base64.b64encode(png).decode()}),
        "encode_pixels.json": json.dumps({"pixels": [round(v / 255.0, 4) for v in digits.digit(3)]}),
        "interpolate_labels.json": json.dumps({"from": 3, "to": 8, "steps": 8}),
        "interpolate_png.json": json.dumps({"from": base64.b64encode(png).decode(), "to": 1, "steps": 4,
                                            "method": "slerp"}),
        "oip_decode.json": json.dumps({"inputs": [{"name": "z", "datatype": "FP32", "shape": [1, d],
                                                   "data": [0.0] * d}]}),
    }
    for name, data in files.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data if isinstance(data, bytes) else data.encode())


if __name__ == "__main__":
    main()
