"""POST /encode: every input form (PNG body, base64, data URL, lists, pixels), invert, sampling, and
every PNG variant the contract lists, each compared with the equivalent 8-bit grey PNG."""
import math
import unittest

import pngutil
from common import ServerTestCase, b64, digits, dist, max_abs_diff, png_of
from pngutil import GREY, GREY_ALPHA, PALETTE, RGB, RGBA

# mu of two PNGs with the same grey values (different encodings) may differ only by float rounding
EXACT = 1e-4


def rows_of(values, width=28, per_pixel=1):
    """Rows of a flat per-pixel list, each pixel contributing `per_pixel` samples (flattened)."""
    rows = []
    for y in range(len(values) // (width * per_pixel)):
        rows.append(list(values[y * width * per_pixel:(y + 1) * width * per_pixel]))
    return rows


def flat(pixels):
    out = []
    for p in pixels:
        out.extend(p)
    return out


def upscale(g, factor, side=28):
    """Nearest-neighbour upscaling of a side x side image: each pixel becomes factor x factor."""
    out = []
    for y in range(side * factor):
        src = g[(y // factor) * side:(y // factor + 1) * side]
        for v in src:
            out.extend([v] * factor)
    return bytes(out)


def variants(g):
    """(name, PNG bytes, 8-bit grey values the PNG stands for) for every PNG variant."""
    out = []
    g = list(g)
    unused = next(v for v in range(1, 255) if v not in g)  # a grey the digit does not use
    out.append(("grey 8", pngutil.grey8(g, 28, 28), g))
    for depth in (1, 2, 4):
        top = (1 << depth) - 1
        q = [round(v * top / 255) for v in g]
        out.append(("grey %d-bit" % depth, pngutil.encode(28, 28, rows_of(q), GREY, depth),
                    [v * 255 // top for v in q]))
    out.append(("grey 16-bit", pngutil.encode(28, 28, rows_of([v * 257 for v in g]), GREY, 16), g))
    out.append(("grey 8 + tRNS background", pngutil.encode(
        28, 28, rows_of([v if v else unused for v in g]), GREY, 8, trns=unused), g))
    out.append(("grey+alpha 8, transparent background", pngutil.encode(
        28, 28, rows_of(flat((v, 255) if v else (137, 0) for v in g), per_pixel=2), GREY_ALPHA, 8), g))
    out.append(("grey+alpha 8, white ink with alpha", pngutil.encode(
        28, 28, rows_of(flat((255, v) for v in g), per_pixel=2), GREY_ALPHA, 8), g))
    out.append(("grey+alpha 16", pngutil.encode(
        28, 28, rows_of(flat((v * 257, 65535) if v else (1234, 0) for v in g), per_pixel=2), GREY_ALPHA, 16), g))
    out.append(("RGB 8", pngutil.encode(28, 28, rows_of(flat((v, v, v) for v in g), per_pixel=3), RGB, 8), g))
    out.append(("RGB 16", pngutil.encode(
        28, 28, rows_of(flat((v * 257,) * 3 for v in g), per_pixel=3), RGB, 16), g))
    out.append(("RGB 8 + tRNS background", pngutil.encode(
        28, 28, rows_of(flat((v, v, v) if v else (200, 10, 99) for v in g), per_pixel=3), RGB, 8,
        trns=(200, 10, 99)), g))
    out.append(("RGBA 8", pngutil.encode(
        28, 28, rows_of(flat((v, v, v, 255) if v else (12, 200, 99, 0) for v in g), per_pixel=4), RGBA, 8), g))
    out.append(("RGBA 16", pngutil.encode(
        28, 28, rows_of(flat((v * 257,) * 3 + (65535,) if v else (5, 6, 7, 0) for v in g), per_pixel=4),
        RGBA, 16), g))
    levels = sorted(set(g))
    index = {v: i for i, v in enumerate(levels)}
    out.append(("palette 8-bit", pngutil.encode(
        28, 28, rows_of([index[v] for v in g]), PALETTE, 8, palette=[(v, v, v) for v in levels]), g))
    # palette + tRNS: entry 0 is an opaque-looking red made fully transparent
    pal = [(255, 0, 0)] + [(v, v, v) for v in levels]
    idx = {v: i + 1 for i, v in enumerate(levels)}
    out.append(("palette + tRNS background", pngutil.encode(
        28, 28, rows_of([idx[v] if v else 0 for v in g]), PALETTE, 8, palette=pal,
        trns=[0] + [255] * len(levels)), g))
    # palette + tRNS with partial alpha: white entries whose alpha carries the ink
    out.append(("palette + tRNS alpha ink", pngutil.encode(
        28, 28, rows_of([index[v] for v in g]), PALETTE, 8, palette=[(255, 255, 255)] * len(levels),
        trns=levels), g))
    q16 = [round(v * 15 / 255) for v in g]
    out.append(("palette 4-bit (16 greys)", pngutil.encode(
        28, 28, rows_of(q16), PALETTE, 4, palette=[(k * 17,) * 3 for k in range(16)]), [k * 17 for k in q16]))
    q2 = [round(v * 3 / 255) for v in g]
    out.append(("palette 2-bit", pngutil.encode(
        28, 28, rows_of(q2), PALETTE, 2, palette=[(k * 85,) * 3 for k in range(4)]), [k * 85 for k in q2]))
    out.append(("Adam7 grey 8", pngutil.grey8(g, 28, 28, interlace=True), g))
    out.append(("Adam7 grey 2-bit", pngutil.encode(28, 28, rows_of([round(v * 3 / 255) for v in g]), GREY, 2,
                                                   interlace=True), [k * 85 for k in q2]))
    out.append(("Adam7 grey 16-bit", pngutil.encode(28, 28, rows_of([v * 257 for v in g]), GREY, 16,
                                                    interlace=True), g))
    out.append(("Adam7 RGBA 8", pngutil.encode(
        28, 28, rows_of(flat((v, v, v, 255) if v else (9, 9, 9, 0) for v in g), per_pixel=4), RGBA, 8,
        interlace=True), g))
    out.append(("Adam7 palette + tRNS", pngutil.encode(
        28, 28, rows_of([idx[v] if v else 0 for v in g]), PALETTE, 8, palette=pal,
        trns=[0] + [255] * len(levels), interlace=True), g))
    for f in range(5):
        out.append(("grey 8, filter %d only" % f, pngutil.grey8(g, 28, 28, filters=f), g))
    out.append(("grey 8 with text chunks", pngutil.grey8(
        g, 28, 28, extra_chunks=[(b"tEXt", b"Comment\x00hello"), (b"zzZz", b"private")]), g))
    return out


class Encode(ServerTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.g7 = digits().digit(7)
        cls.png7 = png_of(cls.g7)

    def mu_of(self, png, query=""):
        return self.encode_png(png, query)

    def test_png_body(self):
        resp = self.client.post_png("/encode", self.png7)
        self.assertEqual(resp.status, 200, resp)
        self.assertTrue(resp.content_type.startswith("application/json"))
        body = resp.json()
        self.assertEqual(sorted(body), ["logvar", "mu"])
        self.assert_vector(body["mu"], self.d, "mu")
        self.assert_vector(body["logvar"], self.d, "logvar")

    def test_png_body_without_content_type_is_sniffed(self):
        resp = self.client.post("/encode", self.png7)
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.json()["mu"], self.mu_of(self.png7))

    def test_json_without_content_type(self):
        resp = self.client.post("/encode", ('{"image": "%s"}' % b64(self.png7)).encode())
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.json()["mu"], self.mu_of(self.png7))

    def test_json_content_type_with_parameters(self):
        resp = self.client.post("/encode", {"image": b64(self.png7)},
                                content_type="Application/JSON; charset=utf-8")
        self.assertEqual(resp.status, 200, resp)

    def test_base64_image_equals_png_body(self):
        body = self.encode_json({"image": b64(self.png7)})
        self.assertEqual(body["mu"], self.mu_of(self.png7))
        self.assertEqual(len(body["logvar"]), self.d)

    def test_base64_with_line_breaks(self):
        text = b64(self.png7)
        wrapped = "\n".join(text[i:i + 76] for i in range(0, len(text), 76))
        self.assertEqual(self.encode_json({"image": wrapped})["mu"], self.mu_of(self.png7))

    def test_data_url(self):
        body = self.encode_json({"image": "data:image/png;base64," + b64(self.png7)})
        self.assertEqual(body["mu"], self.mu_of(self.png7))

    def test_images_list_gives_nested_reply(self):
        g = [digits().digit(k) for k in (0, 1, 2)]
        pngs = [png_of(x) for x in g]
        body = self.encode_json({"images": [b64(p) for p in pngs]})
        self.assertEqual(len(body["mu"]), 3)
        self.assertEqual(len(body["logvar"]), 3)
        for k, p in enumerate(pngs):
            self.assert_vector(body["mu"][k], self.d)
            self.assertLess(max_abs_diff(body["mu"][k], self.mu_of(p)), EXACT)
        one = self.encode_json({"images": [b64(pngs[0])]})
        self.assertEqual(len(one["mu"]), 1, "a list of one is still a list")

    def test_pixels_flat_and_nested(self):
        px7 = [v / 255 for v in self.g7]
        ref = self.mu_of(self.png7)
        flat_body = self.encode_json({"pixels": px7})
        self.assert_vector(flat_body["mu"], self.d)
        self.assertLess(max_abs_diff(flat_body["mu"], ref), EXACT)
        g3 = digits().digit(3)
        nested = self.encode_json({"pixels": [px7, [v / 255 for v in g3]]})
        self.assertEqual(len(nested["mu"]), 2)
        self.assertLess(max_abs_diff(nested["mu"][0], ref), EXACT)
        self.assertLess(max_abs_diff(nested["mu"][1], self.mu_of(png_of(g3))), EXACT)

    def test_invert(self):
        ref = self.mu_of(self.png7)
        inverted = bytes(255 - v for v in self.g7)
        png_inv = png_of(inverted)
        plain = self.mu_of(png_inv)
        self.assertGreater(dist(plain, ref), 1.0, "an inverted digit should encode differently")
        for name, mu in (
                ("?invert=1", self.mu_of(png_inv, "invert=1")),
                ("?invert=true", self.mu_of(png_inv, "invert=true")),
                ("JSON invert", self.encode_json({"image": b64(png_inv), "invert": True})["mu"]),
                ("pixels + invert", self.encode_json({"pixels": [1 - v / 255 for v in self.g7], "invert": True})["mu"]),
                ("query invert with JSON body", self.encode_json({"image": b64(png_inv)}, "?invert=yes")["mu"])):
            with self.subTest(name):
                self.assertLess(max_abs_diff(mu, ref), 1e-3)
        self.assertEqual(self.mu_of(self.png7, "invert=0"), ref)
        # transparent pixels are background with invert too (composited over white, then inverted)
        rgba = pngutil.encode(28, 28, rows_of(flat((255 - v, 255 - v, 255 - v, 255) if v else (0, 0, 0, 0)
                                                   for v in self.g7), per_pixel=4), RGBA, 8)
        self.assertLess(max_abs_diff(self.mu_of(rgba, "invert=1"), ref), 1e-3)

    def test_sample(self):
        body = self.encode_json({"image": b64(self.png7), "sample": True, "seed": 12345})
        self.assertEqual(sorted(body), ["logvar", "mu", "seed", "z"])
        self.assertEqual(body["seed"], 12345)
        self.assert_vector(body["z"], self.d, "z")
        again = self.encode_json({"image": b64(self.png7), "sample": True, "seed": 12345})
        self.assertEqual(again["z"], body["z"], "same seed, different z")
        other = self.encode_json({"image": b64(self.png7), "sample": True, "seed": 12346})
        self.assertNotEqual(other["z"], body["z"], "different seeds, same z")
        self.assertEqual(other["mu"], body["mu"])
        by_query = self.client.post_png("/encode?sample=1&seed=12345", self.png7).json()
        self.assertEqual(by_query["z"], body["z"], "?seed= and the JSON seed differ")
        fresh = self.client.post_png("/encode?sample=true", self.png7).json()
        self.assertIsInstance(fresh["seed"], int)
        self.assertTrue(0 <= fresh["seed"] <= 2 ** 53 - 1)
        replay = self.client.post_png("/encode?sample=true&seed=%d" % fresh["seed"], self.png7).json()
        self.assertEqual(replay["z"], fresh["z"], "the returned seed does not reproduce z")
        self.assertNotIn("z", self.encode_json({"image": b64(self.png7), "seed": 5}), "z without sample")

    def test_sample_is_mu_plus_scaled_normal_noise(self):
        """eps = (z - mu) / exp(logvar / 2) must look like N(0, 1) over many dimensions (a fixed
        seed makes this deterministic)."""
        images = [b64(png_of(digits().digit(k % 10, k // 10))) for k in range(20)]
        body = self.encode_json({"images": images, "sample": True, "seed": 2024})
        eps = []
        for mu, logvar, z in zip(body["mu"], body["logvar"], body["z"]):
            for m, lv, zz in zip(mu, logvar, z):
                eps.append((zz - m) / math.exp(lv / 2))
        n = len(eps)
        mean = sum(eps) / n
        std = math.sqrt(sum((e - mean) ** 2 for e in eps) / (n - 1))
        self.assertLess(abs(mean), 5 / math.sqrt(n), "mean of eps %.3f over %d values" % (mean, n))
        self.assertLess(abs(std - 1), 0.15, "std of eps %.3f over %d values" % (std, n))
        self.assertLess(max(abs(e) for e in eps), 6.5)
        # batched z equals z drawn for the whole batch at once: rows differ from each other
        self.assertNotEqual(body["z"][0], body["z"][1])

    def test_png_variants_match_8bit_grey(self):
        g = self.g7
        cases = variants(g)
        self.assertGreater(len(cases), 25)
        for name, png, grey in cases:
            with self.subTest(name):
                ref = self.mu_of(pngutil.grey8(grey, 28, 28))
                self.assertLess(max_abs_diff(self.mu_of(png), ref), EXACT)

    def test_quantised_variants_stay_close_to_the_original(self):
        """1-bit grey and a 16-grey palette lose detail but must still encode near the original,
        much nearer than a digit of another class."""
        ref = self.mu_of(self.png7)
        other = self.mu_of(png_of(digits().digit(1)))
        for name, png, _ in variants(self.g7):
            if name in ("grey 1-bit", "palette 4-bit (16 greys)", "grey 4-bit"):
                with self.subTest(name):
                    self.assertLess(dist(self.mu_of(png), ref), 0.5 * dist(other, ref))

    def test_upscaled_digit(self):
        ref = self.mu_of(self.png7)
        big = pngutil.grey8(upscale(self.g7, 10), 280, 280)
        self.assertLess(max_abs_diff(self.mu_of(big), ref), EXACT)
        # and an interlaced RGBA one of 3x
        g3x = upscale(self.g7, 3)
        rgba = pngutil.encode(84, 84, rows_of(flat((v, v, v, 255) for v in g3x), 84, per_pixel=4), RGBA, 8,
                              interlace=True)
        self.assertLess(max_abs_diff(self.mu_of(rgba), ref), EXACT)
        # a non-integer factor still lands close (area averaging)
        g50 = [self.g7[(y * 28 // 50) * 28 + x * 28 // 50] for y in range(50) for x in range(50)]
        self.assertLess(dist(self.mu_of(pngutil.grey8(g50, 50, 50)), ref),
                        0.5 * dist(self.mu_of(png_of(digits().digit(1))), ref))

    def test_jpeg_is_named(self):
        jpeg = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 200 + b"\xff\xd9"
        resp = self.client.post_png("/encode", jpeg)
        self.assert_error(resp, 400, "invalid_png", "JPEG")
        resp = self.client.post("/encode", {"image": b64(jpeg)})
        self.assert_error(resp, 400, "invalid_png", "image", "JPEG")

    def test_other_formats_are_named(self):
        for data, name in ((b"GIF89a" + b"\x00" * 40, "GIF"), (b"RIFF\x00\x00\x00\x00WEBPVP8 " + b"\x00" * 40, "WebP"),
                           (b"iVBORw0KGgo" + b"A" * 40, "base64")):
            with self.subTest(name):
                self.assert_error(self.client.post_png("/encode", data), 400, "invalid_png", name)


if __name__ == "__main__":
    unittest.main()
