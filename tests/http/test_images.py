"""Endpoints that answer with images: /reconstruct, /decode, /sample (PNG replies decoded and
checked: size, 8-bit grey, sensible ink; JSON replies: shapes and ranges)."""
import math
import unittest

from common import ServerTestCase, b64, cell, digits, mse, png_of, scaled


def grid_size(n):
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    return cols * 28, rows * 28


class Reconstruct(ServerTestCase):

    def test_png_reply(self):
        g = digits().digit(2)
        grey = self.assert_png(self.client.post_png("/reconstruct", png_of(g)), 28, 28)
        self.assert_ink(grey, "reconstruction")

    def test_json_reply(self):
        g = digits().digit(2)
        for query, headers in (("?format=json", {}), ("", {"Accept": "application/json"})):
            with self.subTest(query=query, headers=headers):
                resp = self.client.post("/reconstruct" + query, {"image": b64(png_of(g))}, headers=headers)
                self.assertEqual(resp.status, 200, resp)
                self.assertTrue(resp.content_type.startswith("application/json"))
                px = resp.json()["pixels"]
                self.assertEqual(len(px), 1)
                self.assertEqual(len(px[0]), 784)
                self.assertTrue(all(0 <= v <= 1 for v in px[0]))
        # the PNG reply is the JSON one quantised
        grey = self.assert_png(self.client.post_png("/reconstruct", png_of(g)), 28, 28)
        self.assertLessEqual(max(abs(a - b * 255) for a, b in zip(grey, px[0])), 0.5 + 1e-3)

    def test_several_images_give_a_grid(self):
        pngs = [b64(png_of(digits().digit(k))) for k in range(5)]
        grey = self.assert_png(self.client.post("/reconstruct", {"images": pngs}), *grid_size(5))
        self.assertEqual(grid_size(5), (84, 56))
        for k in range(5):
            self.assert_ink(cell(grey, 84, k % 3, k // 3), "cell %d" % k)
        self.assertEqual(cell(grey, 84, 2, 1), [0] * 784, "the unused cell must be black")
        resp = self.client.post("/reconstruct?format=json", {"pixels": [[v / 255 for v in digits().digit(k)] for k in range(3)]})
        self.assertEqual(len(resp.json()["pixels"]), 3)

    def test_reconstruction_is_closer_to_its_digit_than_to_another_class(self):
        for label in range(10):
            with self.subTest(label=label):
                g = digits().digit(label)
                other = (label + 5) % 10
                grey = self.assert_png(self.client.post_png("/reconstruct", png_of(g)), 28, 28)
                rec = scaled(grey)
                self.assertLess(mse(rec, scaled(g)), mse(rec, digits().mean(other)),
                                "reconstruction of a %d is nearer the mean %d" % (label, other))


class Decode(ServerTestCase):

    def z_of(self, label, k=0):
        return self.encode_png(png_of(digits().digit(label, k)))

    def test_one_z_gives_a_digit(self):
        for z, what in ((self.z_of(0), "mu of a 0"), ([0.0] * self.d, "the prior mean")):
            with self.subTest(what):
                resp = self.client.post("/decode", {"z": z})
                grey = self.assert_png(resp, 28, 28)
                self.assert_ink(grey, what)

    def test_several_z_give_a_grid(self):
        for n in (2, 3, 4, 5, 10, 17):
            with self.subTest(n=n):
                zs = [self.z_of(k % 10, k // 10) for k in range(n)]
                grey = self.assert_png(self.client.post("/decode", {"z": zs}), *grid_size(n))
                w = grid_size(n)[0]
                cols = w // 28
                single = self.decode_json(zs)
                for k in range(n):
                    c = cell(grey, w, k % cols, k // cols)
                    self.assert_ink(c, "cell %d" % k)
                    self.assertLessEqual(max(abs(a - b * 255) for a, b in zip(c, single[k])), 0.5 + 1e-3)

    def test_json_reply(self):
        zs = [self.z_of(1), self.z_of(4)]
        for query, headers in (("?format=json", {}), ("", {"Accept": "application/json"}),
                               ("?format=json", {"Accept": "image/png"})):
            with self.subTest(query=query, headers=headers):
                resp = self.client.post("/decode" + query, {"z": zs}, headers=headers)
                self.assertEqual(resp.status, 200, resp)
                self.assertTrue(resp.content_type.startswith("application/json"))
                px = resp.json()["pixels"]
                self.assertEqual([len(p) for p in px], [784, 784])
                self.assertTrue(all(0 <= v <= 1 for p in px for v in p))
        one = self.client.post("/decode?format=json", {"z": zs[0]}).json()["pixels"]
        self.assertEqual(len(one), 1, "one z still gives a list of rows")

    def test_png_format_explicit(self):
        z = self.z_of(6)
        for query, headers in (("?format=png", {}), ("", {"Accept": "image/png"}),
                               ("?format=png", {"Accept": "application/json"}),
                               ("", {"Accept": "application/json, image/png"})):
            with self.subTest(query=query, headers=headers):
                self.assert_png(self.client.post("/decode" + query, {"z": z}, headers=headers), 28, 28)

    def test_json_equals_png_pixels(self):
        z = self.z_of(8)
        grey = self.assert_png(self.client.post("/decode", {"z": z}), 28, 28)
        px = self.decode_json([z])[0]
        self.assertLessEqual(max(abs(a / 255 - b) for a, b in zip(grey, px)), 1 / 255)


class Sample(ServerTestCase):

    def sample(self, query):
        return self.client.get("/sample" + query)

    def test_default_16(self):
        resp = self.sample("?seed=1")
        grey = self.assert_png(resp, 112, 112)
        self.assertGreater(sum(1 for v in grey if v > 128), 16 * 10, "blank samples")
        self.assertEqual(self.assert_png(self.sample("?n=16&seed=1"), 112, 112), grey)

    def test_sizes(self):
        for n, size in ((1, (28, 28)), (5, (84, 56)), (16, (112, 112)), (17, (140, 112)), (256, (448, 448))):
            with self.subTest(n=n):
                grey = self.assert_png(self.sample("?n=%d&seed=3" % n), *size)
                cols = size[0] // 28
                self.assertGreater(sum(1 for v in cell(grey, size[0], (n - 1) % cols, (n - 1) // cols) if v > 128), 0,
                                   "the last sample is blank")

    def test_seed_reproducibility(self):
        a, b = self.sample("?seed=42"), self.sample("?seed=42")
        self.assertEqual(a.status, 200)
        self.assertEqual(a.body, b.body, "same seed, different bytes")
        self.assertEqual(a.header("X-Seed"), "42")
        self.assertNotEqual(self.sample("?seed=43").body, a.body, "different seeds, same images")
        fresh = self.sample("?n=4")
        self.assertRegex(fresh.header("X-Seed") or "", r"^\d+$")
        self.assertLessEqual(int(fresh.header("X-Seed")), 2 ** 53 - 1)
        replay = self.sample("?n=4&seed=" + fresh.header("X-Seed"))
        self.assertEqual(replay.body, fresh.body, "reusing X-Seed does not reproduce")

    def test_temperature_zero_gives_identical_cells(self):
        grey = self.assert_png(self.sample("?n=9&temperature=0&seed=5"), 84, 84)
        first = cell(grey, 84, 0, 0)
        self.assert_ink(first, "decoded prior mean")
        for k in range(1, 9):
            self.assertEqual(cell(grey, 84, k % 3, k // 3), first, "cell %d differs" % k)
        body = self.sample("?n=3&temperature=0&format=json").json()
        self.assertTrue(all(v == 0 for row in body["z"] for v in row))
        self.assertNotEqual(self.sample("?n=9&temperature=0.5&seed=5").body, self.sample("?n=9&temperature=1&seed=5").body)

    def test_json(self):
        resp = self.sample("?n=5&seed=9&format=json")
        self.assertEqual(resp.status, 200)
        self.assertTrue(resp.content_type.startswith("application/json"))
        body = resp.json()
        self.assertEqual(sorted(body), ["pixels", "seed", "z"])
        self.assertEqual(body["seed"], 9)
        self.assertEqual(resp.header("X-Seed"), "9")
        self.assertEqual([len(z) for z in body["z"]], [self.d] * 5)
        self.assertEqual([len(p) for p in body["pixels"]], [784] * 5)
        self.assertTrue(all(0 <= v <= 1 for p in body["pixels"] for v in p))
        by_accept = self.client.get("/sample?n=5&seed=9", headers={"Accept": "application/json"}).json()
        self.assertEqual(by_accept, body)
        # the JSON images are the PNG's, unquantised
        grey = self.assert_png(self.sample("?n=5&seed=9"), 84, 56)
        for k in range(5):
            c = cell(grey, 84, k % 3, k // 3)
            self.assertLessEqual(max(abs(a / 255 - b) for a, b in zip(c, body["pixels"][k])), 1 / 255)
        # decoding the returned z gives the returned images
        self.assertLess(max(abs(a - b) for p, q in zip(self.decode_json(body["z"]), body["pixels"])
                            for a, b in zip(p, q)), 1e-4)

    def test_smaller_n_is_a_prefix(self):
        small = self.sample("?n=3&seed=77&format=json").json()
        large = self.sample("?n=20&seed=77&format=json").json()
        self.assertEqual(large["z"][:3], small["z"])
        for p, q in zip(small["pixels"], large["pixels"][:3]):
            self.assertLess(max(abs(a - b) for a, b in zip(p, q)), 1e-4)

    def test_prior_samples_look_like_noise_scaled_by_temperature(self):
        body = self.sample("?n=64&seed=11&temperature=2&format=json").json()
        values = [v for z in body["z"] for v in z]
        n = len(values)
        mean = sum(values) / n
        std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
        self.assertLess(abs(mean), 5 * 2 / math.sqrt(n))
        self.assertLess(abs(std - 2), 0.2)


if __name__ == "__main__":
    unittest.main()
