"""POST /interpolate: the 3 -> 8 strip judged against the test set's class means, slerp and linear,
both ends, endpoints given as labels, latent vectors and base64 PNGs, and the step limits."""
import math
import unittest

from common import ServerTestCase, b64, cell, digits, f32, max_abs_diff, mse, png_of, scaled


class Interpolate(ServerTestCase):

    def strip(self, body, query=""):
        resp = self.client.post("/interpolate" + query, body)
        steps = body.get("steps", 10)
        return self.assert_png(resp, 28 * steps, 28)

    def json(self, body, query="?format=json"):
        resp = self.client.post("/interpolate" + query, body)
        self.assertEqual(resp.status, 200, resp)
        self.assertTrue(resp.content_type.startswith("application/json"))
        out = resp.json()
        steps = body.get("steps", 10)
        self.assertEqual(sorted(out), ["pixels", "z"])
        self.assertEqual([len(z) for z in out["z"]], [self.d] * steps)
        self.assertEqual([len(p) for p in out["pixels"]], [784] * steps)
        return out

    def test_three_to_eight(self):
        """The first image is closer to the mean test-set 3 than to the mean 8, the last the other
        way round; every cell has ink."""
        mean3, mean8 = digits().mean(3), digits().mean(8)
        for method in ("linear", "slerp"):
            with self.subTest(method=method):
                body = {"from": 3, "to": 8, "steps": 10}
                if method == "slerp":
                    body["method"] = "slerp"
                grey = self.strip(body)
                first, last = scaled(cell(grey, 280, 0)), scaled(cell(grey, 280, 9))
                self.assertLess(mse(first, mean3), mse(first, mean8), "the first image is not a 3")
                self.assertLess(mse(last, mean8), mse(last, mean3), "the last image is not an 8")
                for k in range(10):
                    self.assert_ink(cell(grey, 280, k), "cell %d" % k)

    def test_default_steps_and_method(self):
        self.strip({"from": 3, "to": 8})
        self.assertEqual(self.json({"from": 3, "to": 8}), self.json({"from": 3, "to": 8, "method": "linear", "steps": 10}))

    def test_steps_limits(self):
        for steps in (2, 3, 64):
            with self.subTest(steps=steps):
                grey = self.strip({"from": 1, "to": 7, "steps": steps})
                self.assert_ink(cell(grey, 28 * steps, steps - 1), "last cell")

    def test_ends_are_the_decoded_endpoints(self):
        for method in ("linear", "slerp"):
            with self.subTest(method=method):
                out = self.json({"from": 3, "to": 8, "steps": 5, "method": method})
                ends = self.decode_json([out["z"][0], out["z"][-1]])
                self.assertLess(max_abs_diff(out["pixels"][0], ends[0]), 1e-4)
                self.assertLess(max_abs_diff(out["pixels"][-1], ends[1]), 1e-4)
                # the PNG strip shows the same images
                grey = self.strip({"from": 3, "to": 8, "steps": 5, "method": method})
                for k in range(5):
                    self.assertLessEqual(max(abs(a / 255 - b) for a, b in zip(cell(grey, 140, k), out["pixels"][k])),
                                         1 / 255)

    def test_latent_vector_endpoints(self):
        a = [f32(math.sin(i + 1)) for i in range(self.d)]
        b = [f32(math.cos(3 * i) * 1.5) for i in range(self.d)]
        for method in ("linear", "slerp"):
            with self.subTest(method=method):
                out = self.json({"from": a, "to": b, "steps": 7, "method": method})
                self.assertEqual([f32(x) for x in out["z"][0]], a, "z[0] is not `from`")
                self.assertEqual([f32(x) for x in out["z"][-1]], b, "z[-1] is not `to`")
                mid = out["z"][3]
                if method == "linear":
                    self.assertLess(max_abs_diff(mid, [(x + y) / 2 for x, y in zip(a, b)]), 1e-5)
                else:
                    # on the great circle: sin((1-t)w)/sin(w) a + sin(tw)/sin(w) b at t = 1/2
                    na, nb = math.hypot(*a), math.hypot(*b)
                    cos = sum(x * y for x, y in zip(a, b)) / (na * nb)
                    omega = math.acos(cos)
                    wa = wb = math.sin(omega / 2) / math.sin(omega)
                    self.assertLess(max_abs_diff(mid, [wa * x + wb * y for x, y in zip(a, b)]), 1e-4)
        lin = self.json({"from": a, "to": b, "steps": 7})
        slerp = self.json({"from": a, "to": b, "steps": 7, "method": "slerp"})
        self.assertGreater(max_abs_diff(lin["z"][3], slerp["z"][3]), 1e-3, "slerp and linear agree")

    def test_label_endpoints_are_centroids(self):
        out = self.json({"from": 3, "to": 8, "steps": 4})
        again = self.json({"from": out["z"][0], "to": out["z"][-1], "steps": 4})
        self.assertEqual(again["z"][0], out["z"][0])
        self.assertLess(max_abs_diff(again["pixels"][0], out["pixels"][0]), 1e-5)
        # the class-3 centroid decodes to something nearer the mean 3 than the mean 8
        first = out["pixels"][0]
        self.assertLess(mse(first, digits().mean(3)), mse(first, digits().mean(8)))

    def test_png_endpoints(self):
        png3, png8 = png_of(digits().digit(3)), png_of(digits().digit(8))
        mu3, mu8 = self.encode_png(png3), self.encode_png(png8)
        out = self.json({"from": b64(png3), "to": "data:image/png;base64," + b64(png8), "steps": 6})
        self.assertLess(max_abs_diff(out["z"][0], mu3), 1e-5)
        self.assertLess(max_abs_diff(out["z"][-1], mu8), 1e-5)
        grey = self.strip({"from": b64(png3), "to": b64(png8), "steps": 6})
        first, last = scaled(cell(grey, 168, 0)), scaled(cell(grey, 168, 5))
        self.assertLess(mse(first, scaled(digits().digit(3))), mse(first, scaled(digits().digit(8))))
        self.assertLess(mse(last, scaled(digits().digit(8))), mse(last, scaled(digits().digit(3))))
        # mixed: a label and a PNG; and invert for dark-on-light PNGs
        mixed = self.json({"from": 3, "to": b64(png8), "steps": 3})
        self.assertLess(max_abs_diff(mixed["z"][-1], mu8), 1e-5)
        inverted = png_of(bytes(255 - v for v in digits().digit(8)))
        inv = self.json({"from": 3, "to": b64(inverted), "steps": 3, "invert": True})
        self.assertLess(max_abs_diff(inv["z"][-1], mu8), 1e-3)


if __name__ == "__main__":
    unittest.main()
