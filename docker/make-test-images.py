#!/usr/bin/env python3
"""Writes the web page's test images (docker/web/test-images/): the first image of each class in the
MNIST and Fashion-MNIST test sets, as 28x28 grey PNGs, so that the page can be used without drawing.

    docker/make-test-images.py [--mnist DIR] [--fashion DIR] [--out DIR]

Defaults: ../shared/data/mnist, /usr/share/datasets/fashion-mnist (Debian's dataset-fashion-mnist)
and docker/web/test-images, from the repository root. Standard library only; the output is the same
byte for byte on every run.
"""
import argparse
import gzip
import os
import struct
import zlib

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def read_idx(path):
    """The payload of an idx file (gzip-compressed or not) and its dimensions."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    zero, kind, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or kind != 0x08:
        raise ValueError("%s is not an unsigned-byte idx file" % path)
    dims = struct.unpack(">%dI" % ndim, data[4:4 + 4 * ndim])
    return data[4 + 4 * ndim:], dims


def png_grey(pixels, width, height):
    """An 8-bit greyscale PNG of width*height bytes, row by row."""
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    rows = b"".join(b"\x00" + pixels[y * width:(y + 1) * width] for y in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b""))


def write_set(name, folder, out):
    images, (count, h, w) = read_idx(os.path.join(folder, "t10k-images-idx3-ubyte.gz"))
    labels, _ = read_idx(os.path.join(folder, "t10k-labels-idx1-ubyte.gz"))
    first = {}
    for i in range(count):
        first.setdefault(labels[i], i)
        if len(first) == 10:
            break
    for label in sorted(first):
        i = first[label]
        path = os.path.join(out, "%s-%d.png" % (name, label))
        with open(path, "wb") as f:
            f.write(png_grey(images[i * w * h:(i + 1) * w * h], w, h))
        print("%s: test image %d, class %d" % (os.path.relpath(path, ROOT), i, label))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mnist", default=os.path.join(ROOT, "..", "shared", "data", "mnist"))
    ap.add_argument("--fashion", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--out", default=os.path.join(ROOT, "docker", "web", "test-images"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    write_set("mnist", args.mnist, args.out)
    write_set("fashion", args.fashion, args.out)


if __name__ == "__main__":
    main()
