"""Pictures made from test images, as a user's photo, scan or canvas would show them: the 28x28 item
scaled (bilinear) onto a larger canvas at a random position, dark ink on a light page or light on a
dark one, with sensor noise and a light gradient across the page. Deterministic for a seed (pure
Python: the HTTP suite and tests/bench/prepare_accuracy.py share it).

Each variant of the README's "Preparing pictures" table is a dict of the parameters below:
size (a fraction range of the canvas side), dark (probability of dark ink on a light page),
noise (the standard deviation of Gaussian noise, on the 0..1 scale) and gradient (its amplitude)."""
import math
import random

import pngutil

CANVAS = 112

VARIANTS = [
    ("half size, dark on light (the issue's experiment)", dict(size=(0.5, 0.5), dark=1.0, noise=0.0, gradient=0.0)),
    ("a third to full size, dark on light", dict(size=(1 / 3, 1.0), dark=1.0, noise=0.0, gradient=0.0)),
    ("a third to full size, either polarity", dict(size=(1 / 3, 1.0), dark=0.5, noise=0.0, gradient=0.0)),
    ("... and noise (sigma 0.1)", dict(size=(1 / 3, 1.0), dark=0.5, noise=0.1, gradient=0.0)),
    ("... and a light gradient (0.25)", dict(size=(1 / 3, 1.0), dark=0.5, noise=0.0, gradient=0.25)),
    ("... with noise and gradient together", dict(size=(1 / 3, 1.0), dark=0.5, noise=0.1, gradient=0.25)),
]


def scale_bilinear(item, side, size):
    """item (side x side values in 0..1) resampled to size x size, sampling at pixel centres."""
    f = side / size
    out = [0.0] * (size * size)
    for i in range(size):
        v = (i + 0.5) * f - 0.5
        v = 0.0 if v < 0 else (side - 1.0 if v > side - 1 else v)
        y0 = int(v)
        y1 = min(y0 + 1, side - 1)
        fy = v - y0
        r0, r1 = y0 * side, y1 * side
        for j in range(size):
            u = (j + 0.5) * f - 0.5
            u = 0.0 if u < 0 else (side - 1.0 if u > side - 1 else u)
            x0 = int(u)
            x1 = min(x0 + 1, side - 1)
            fx = u - x0
            top = item[r0 + x0] * (1 - fx) + item[r0 + x1] * fx
            bottom = item[r1 + x0] * (1 - fx) + item[r1 + x1] * fx
            out[i * size + j] = top * (1 - fy) + bottom * fy
    return out


def scene(item, rng, size=(0.5, 0.5), dark=1.0, noise=0.0, gradient=0.0, canvas=CANVAS, side=28):
    """(grey bytes canvas x canvas, parameters drawn) for one item (side*side bytes, 0 = background).
    The ink is composited over the page: v = g + ink * (1 - g) in ink units, g the gradient; a dark
    page shows 1 - v."""
    lo, hi = size
    px = int(round(canvas * (lo + (hi - lo) * rng.random())))
    px = max(1, min(canvas, px))
    x0 = rng.randint(0, canvas - px)
    y0 = rng.randint(0, canvas - px)
    is_dark = rng.random() < dark
    angle = rng.random() * 2 * math.pi
    ink = scale_bilinear([v / 255.0 for v in item], side, px)
    ca, sa = math.cos(angle), math.sin(angle)
    half = (canvas - 1) / 2.0
    span = half * (abs(ca) + abs(sa)) or 1.0  # the projection's half range over the canvas
    out = bytearray(canvas * canvas)
    gauss = rng.gauss
    for y in range(canvas):
        iy = y - y0
        for x in range(canvas):
            ix = x - x0
            a = ink[iy * px + ix] if 0 <= ix < px and 0 <= iy < px else 0.0
            g = gradient * 0.5 * (1 + ((x - half) * ca + (y - half) * sa) / span) if gradient else 0.0
            v = g + a * (1 - g)
            luma = 1 - v if is_dark else v
            if noise:
                luma += gauss(0.0, noise)
            luma = 0.0 if luma < 0 else 1.0 if luma > 1 else luma
            out[y * canvas + x] = int(luma * 255 + 0.5)
    return bytes(out), {"size": px, "x": x0, "y": y0, "dark": is_dark}


def scene_png(item, rng, canvas=CANVAS, **variant):
    grey, drawn = scene(item, rng, canvas=canvas, **variant)
    return pngutil.grey8(grey, canvas, canvas), drawn


def pick(labels, count, seed):
    """count indices into labels, the same number of each class (count // 10), drawn with seed."""
    rng = random.Random(seed)
    per = count // 10
    picked = []
    for k in range(10):
        idx = [i for i, lab in enumerate(labels) if lab == k]
        picked += rng.sample(idx, per)
    rng.shuffle(picked)
    return picked
