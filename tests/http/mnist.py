"""MNIST test images for the HTTP suite: the idx files of MNIST_DIR, or the small committed slice.

Run as `python3 tests/http/mnist.py MNIST_DIR` to rewrite the slice in tests/data from the full
test set (the first PER_CLASS images of each class, in their original order).
"""
import gzip
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SLICE_DIR = os.path.join(HERE, "..", "data")
SLICE_IMAGES = "mnist-t10k-slice-images-idx3-ubyte.gz"
SLICE_LABELS = "mnist-t10k-slice-labels-idx1-ubyte.gz"
PER_CLASS = 30
SIDE = 28
PIXELS = SIDE * SIDE


def read_idx(path):
    """(dims, payload bytes) of a gzip-compressed idx file of unsigned bytes."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    zero, dtype, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != 0x08:
        raise ValueError("%s: not an idx file of unsigned bytes" % path)
    dims = struct.unpack(">%dI" % ndim, data[4:4 + 4 * ndim])
    return dims, data[4 + 4 * ndim:]


class Digits:
    """Test images (bytes of 784 values, 0 = background) and labels, with per-class helpers."""

    def __init__(self, images_path, labels_path, source):
        dims, pixels = read_idx(images_path)
        ldims, labels = read_idx(labels_path)
        if len(dims) != 3 or dims[1:] != (SIDE, SIDE) or ldims[0] != dims[0]:
            raise ValueError("unexpected idx shapes %r and %r" % (dims, ldims))
        self.source = source
        self.images = [pixels[i * PIXELS:(i + 1) * PIXELS] for i in range(dims[0])]
        self.labels = list(labels)
        self._means = {}

    def of_class(self, label):
        return [img for img, lab in zip(self.images, self.labels) if lab == label]

    def digit(self, label, k=0):
        """The k-th image of a class, as bytes."""
        return self.of_class(label)[k]

    def mean(self, label):
        """Mean image of a class, 784 floats in [0, 1]."""
        if label not in self._means:
            imgs = self.of_class(label)
            sums = [0] * PIXELS
            for img in imgs:
                sums = [s + v for s, v in zip(sums, img)]
            self._means[label] = [s / (255.0 * len(imgs)) for s in sums]
        return self._means[label]


def load(mnist_dir):
    """The full test set from mnist_dir when it is there, else the committed slice."""
    images = os.path.join(mnist_dir or "", "t10k-images-idx3-ubyte.gz")
    labels = os.path.join(mnist_dir or "", "t10k-labels-idx1-ubyte.gz")
    if mnist_dir and os.path.exists(images) and os.path.exists(labels):
        return Digits(images, labels, "MNIST test set in %s" % mnist_dir)
    return Digits(os.path.join(SLICE_DIR, SLICE_IMAGES), os.path.join(SLICE_DIR, SLICE_LABELS),
                  "committed slice tests/data/%s (%d per class)" % (SLICE_IMAGES, PER_CLASS))


def write_slice(mnist_dir):
    full = Digits(os.path.join(mnist_dir, "t10k-images-idx3-ubyte.gz"),
                  os.path.join(mnist_dir, "t10k-labels-idx1-ubyte.gz"), mnist_dir)
    taken, picked = [0] * 10, []
    for i, lab in enumerate(full.labels):
        if taken[lab] < PER_CLASS:
            taken[lab] += 1
            picked.append(i)
    n = len(picked)
    img = struct.pack(">HBBIII", 0, 8, 3, n, SIDE, SIDE) + b"".join(full.images[i] for i in picked)
    lab = struct.pack(">HBBI", 0, 8, 1, n) + bytes(full.labels[i] for i in picked)
    for name, data in ((SLICE_IMAGES, img), (SLICE_LABELS, lab)):
        # mtime 0: the same input gives the same bytes
        with open(os.path.join(SLICE_DIR, name), "wb") as raw:
            with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=9, mtime=0, filename="") as f:
                f.write(data)
    print("wrote %d images to %s" % (n, SLICE_DIR))


if __name__ == "__main__":
    write_slice(sys.argv[1])
