#!/usr/bin/env python3
"""Writes tests/data/mnist-mini from the MNIST test set: images 0-999 as train, 1000-1499 as t10k."""
import gzip
import struct
import sys

src = sys.argv[1] if len(sys.argv) > 1 else "../shared/data/mnist"
images = gzip.open(f"{src}/t10k-images-idx3-ubyte.gz", "rb").read()
labels = gzip.open(f"{src}/t10k-labels-idx1-ubyte.gz", "rb").read()
for split, lo, hi in (("train", 0, 1000), ("t10k", 1000, 1500)):
    n = hi - lo
    with gzip.open(f"tests/data/mnist-mini/{split}-images-idx3-ubyte.gz", "wb", 9) as f:
        f.write(struct.pack(">IIII", 0x803, n, 28, 28) + images[16 + lo * 784:16 + hi * 784])
    with gzip.open(f"tests/data/mnist-mini/{split}-labels-idx1-ubyte.gz", "wb", 9) as f:
        f.write(struct.pack(">II", 0x801, n) + labels[8 + lo:8 + hi])
