"""normalize and invert=auto on every image-taking endpoint: what the replies say was done, the
prepared input beside the reconstruction, pixel arrays of any size, "no ink", and the measured
bound: test digits drawn on 112x112 canvases (tests/http/scenes.py) must be classified by the
nearest class centroid of their mu about as well as the test images themselves."""
import random
import sys
import unittest

import pngutil
import scenes
from common import SECOND_MODEL, ServerTestCase, b64, digits, max_abs_diff, png_of

SEED = 15
COUNT = 200  # the experiment: 200 test digits, 20 per class (the harder variant: the first 100)

# The bounds (README "Preparing pictures"): with normalize=auto&invert=auto the drawn digits are
# classified within these many points of the test images themselves, and above these floors.
MNIST_MARGIN, MNIST_FLOOR = 0.05, 0.75
FASHION_MARGIN, FASHION_FLOOR = 0.10, 0.55


def scene(label=3, k=0, seed=1, **variant):
    """One test digit drawn on a canvas: (PNG, grey bytes, what was drawn)."""
    rng = random.Random(seed)
    grey, drawn = scenes.scene(digits().digit(label, k), rng, **variant)
    return pngutil.grey8(grey, scenes.CANVAS, scenes.CANVAS), grey, drawn


class Preparation(ServerTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.dark, cls.dark_grey, cls.drawn = scene(3, dark=1.0, size=(0.5, 0.5))
        cls.light, _, _ = scene(3, seed=2, dark=0.0, size=(0.6, 0.6))

    def encode(self, png, query="", model=None):
        q = query + ("&model=" + model if model else "")
        resp = self.client.post_png("/encode?" + q, png)
        self.assertEqual(resp.status, 200, resp)
        return resp.json()

    def centroids(self, model):
        out = []
        for k in range(10):
            resp = self.client.post("/interpolate?format=json&model=" + model, {"from": k, "to": k, "steps": 2})
            self.assertEqual(resp.status, 200, resp)
            out.append(resp.json()["z"][0])
        return out

    # --- the options and what the replies say ---

    def test_models_say_what_auto_means(self):
        self.assertEqual(self.models["mnist"]["preparation"], {"normalize": "none", "invert": False, "auto": "mnist"})
        self.assertEqual(self.models["mnist"]["metadata"]["normalize"], "mnist")
        self.assertEqual(self.models[SECOND_MODEL]["preparation"]["auto"], "fill")

    def test_default_is_the_plain_average(self):
        plain = self.encode(self.dark, "invert=1")
        self.assertNotIn("prepared", plain, "the plain average's reply is as it always was")
        self.assertEqual(self.encode(self.dark, "invert=1&normalize=none")["mu"], plain["mu"])

    def test_prepared_says_what_was_done(self):
        body = self.encode(self.dark, "normalize=mnist&invert=auto")
        p = body["prepared"]
        self.assertEqual((p["normalize"], p["invert"], p["polarity"]), ("mnist", True, "border"))
        x, y, w, h = p["box"]
        d = self.drawn  # the ink lies inside the square the 28x28 digit was scaled into
        self.assertTrue(d["x"] <= x and x + w <= d["x"] + d["size"] and d["y"] <= y and y + h <= d["y"] + d["size"], p)
        self.assertGreater(max(w, h), d["size"] * 0.5, p)
        self.assertTrue(0 < p["threshold"] < 1, p)
        # scale and offset map the box into the frame: for mnist its longer side becomes 20 pixels,
        # inside 28x28, around the centre of mass at (14, 14)
        self.assertAlmostEqual(max(w, h) * p["scale"], 20, delta=1.5)
        ox, oy = p["offset"]
        self.assertTrue(-2 <= ox and ox + w * p["scale"] <= 30 and -2 <= oy and oy + h * p["scale"] <= 30, p)
        self.assertLess(abs(ox + w * p["scale"] / 2 - 14), 4, p)
        self.assertLess(abs(oy + h * p["scale"] / 2 - 14), 4, p)
        light = self.encode(self.light, "normalize=mnist&invert=auto")["prepared"]
        self.assertEqual((light["invert"], light["polarity"]), (False, "border"))
        # invert=true is obeyed even when wrong, and said so
        asked = self.encode(self.dark, "normalize=none&invert=true")
        self.assertNotIn("prepared", asked)
        auto_none = self.encode(self.dark, "invert=auto")["prepared"]
        self.assertEqual(auto_none, {"normalize": "none", "invert": True, "polarity": "border"})
        self.assertLess(max_abs_diff(self.encode(self.dark, "invert=auto")["mu"], asked["mu"]), 1e-4)

    def test_auto_is_the_models_record(self):
        self.assertEqual(self.encode(self.dark, "normalize=auto&invert=auto")["prepared"]["normalize"], "mnist")
        self.assertEqual(self.encode(self.dark, "normalize=auto&invert=auto")["mu"],
                         self.encode(self.dark, "normalize=mnist&invert=auto")["mu"])
        p = self.encode(self.dark, "normalize=auto&invert=auto", model=SECOND_MODEL)["prepared"]
        self.assertEqual(p["normalize"], "fill")

    def test_json_fields(self):
        resp = self.client.post("/encode?normalize=none", {"image": b64(self.dark), "normalize": "mnist",
                                                           "invert": "auto"})
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.json()["prepared"]["normalize"], "mnist", "the JSON field wins over the query")
        self.assertEqual(resp.json()["mu"], self.encode(self.dark, "normalize=mnist&invert=auto")["mu"])
        many = self.client.post("/encode", {"images": [b64(self.dark), b64(self.light)], "normalize": "auto",
                                            "invert": "auto"}).json()
        self.assertEqual([p["invert"] for p in many["prepared"]], [True, False], "polarity per image")
        self.assertEqual(len(many["mu"]), 2)

    def test_pixels_of_any_size(self):
        grey = [v / 255.0 for v in self.dark_grey]
        body = {"pixels": grey, "width": scenes.CANVAS, "height": scenes.CANVAS, "normalize": "mnist",
                "invert": "auto"}
        resp = self.client.post("/encode", body)
        self.assertEqual(resp.status, 200, resp)
        from_png = self.encode(self.dark, "normalize=mnist&invert=auto")
        self.assertLess(max_abs_diff(resp.json()["mu"], from_png["mu"]), 1e-4, "pixels and the PNG they came from")
        self.assertEqual(resp.json()["prepared"]["box"], from_png["prepared"]["box"])
        # without normalisation, pixels of any size are area-averaged like a PNG
        plain = self.client.post("/encode", {"pixels": [grey, grey], "width": 112, "height": 112, "invert": True})
        self.assertLess(max_abs_diff(plain.json()["mu"][1], self.encode(self.dark, "invert=1")["mu"]), 1e-4)
        # 28x28 pixels as before: exactly the values given
        d = [v / 255.0 for v in digits().digit(7)]
        self.assertEqual(self.client.post("/encode", {"pixels": d}).json()["mu"],
                         self.client.post("/encode", {"pixels": d, "width": 28, "height": 28}).json()["mu"])

    def test_no_ink(self):
        blank = png_of(bytes([250] * 784))
        resp = self.client.post_png("/encode?normalize=mnist&invert=auto", blank)
        self.assert_error(resp, 422, "no_ink", "the body", "no ink")
        noise = pngutil.grey8(bytes(random.Random(3).randint(200, 255) for _ in range(112 * 112)), 112, 112)
        self.assert_error(self.client.post("/encode", {"images": [b64(self.dark), b64(noise)], "normalize": "fill",
                                                       "invert": "auto"}),
                          422, "no_ink", "images[1]")
        self.assert_error(self.client.post_png("/encode?normalize=mnist", self.dark), 422, "no_ink",
                          "light background", "invert=auto")
        self.assertEqual(self.client.post_png("/encode?invert=auto", blank).status, 200,
                         "normalize=none takes a blank image as it is")

    # --- what the model saw ---

    def test_reconstruct_with_input(self):
        q = "/reconstruct?normalize=auto&invert=auto&with_input=1"
        resp = self.client.post_png(q, self.dark)
        grey = self.assert_png(resp, 56, 28)
        self.assertEqual(resp.header("X-Prepared"), "normalize=mnist; invert=yes; polarity=border")
        body = self.client.post_png(q + "&format=json", self.dark).json()
        self.assertEqual(sorted(body), ["input", "pixels", "prepared"])
        left = [grey[y * 56 + x] for y in range(28) for x in range(28)]
        right = [grey[y * 56 + 28 + x] for y in range(28) for x in range(28)]
        self.assertLessEqual(max_abs_diff(left, [round(v * 255) for v in body["input"][0]]), 1)
        self.assertLessEqual(max_abs_diff(right, [round(v * 255) for v in body["pixels"][0]]), 1)
        self.assert_ink(left, "the prepared input")
        # several: pairs in a grid of ceil(sqrt(n)) pairs a row
        three = self.client.post("/reconstruct?with_input=1", {"images": [b64(self.dark)] * 3, "normalize": "mnist",
                                                               "invert": "auto"})
        self.assert_png(three, 112, 56)
        self.assertEqual(three.header("X-Prepared"), "normalize=mnist; invert=yes,yes,yes")
        json_flag = self.client.post("/reconstruct?format=json", {"image": b64(self.dark), "with_input": True})
        self.assertEqual(sorted(json_flag.json()), ["input", "pixels"], "plain: no prepared member")
        self.assertIsNone(self.client.post_png("/reconstruct", self.dark).header("X-Prepared"))

    def test_interpolate_ends(self):
        body = {"from": b64(self.dark), "to": 8, "steps": 3, "normalize": "auto", "invert": "auto"}
        resp = self.client.post("/interpolate?format=json", body)
        self.assertEqual(resp.status, 200, resp)
        out = resp.json()
        self.assertEqual(sorted(out["prepared"]), ["from"])
        self.assertEqual(out["prepared"]["from"]["normalize"], "mnist")
        self.assertLess(max_abs_diff(out["z"][0], self.encode(self.dark, "normalize=mnist&invert=auto")["mu"]), 1e-5)
        png = self.client.post("/interpolate?normalize=mnist&invert=auto", {"from": b64(self.dark),
                                                                            "to": b64(self.light), "steps": 3})
        self.assert_png(png, 84, 28)
        self.assertEqual(png.header("X-Prepared"), "normalize=mnist; invert=yes,no")
        self.assert_error(self.client.post("/interpolate", {"from": b64(png_of(bytes(784))), "to": 3,
                                                            "normalize": "mnist"}), 422, "no_ink", "from")

    # --- the measured bound ---

    def accuracy(self, model, cents, pngs, labels, query):
        """(accuracy, images refused): the PNGs sent 50 to a request (a refusal refuses its batch)."""
        right = refused = 0
        for start in range(0, len(pngs), 50):
            batch = [b64(p) for p in pngs[start:start + 50]]
            resp = self.client.post("/encode?model=%s&%s" % (model, query), {"images": batch})
            if resp.status == 422 and resp.json()["error"]["type"] == "no_ink":
                refused += len(batch)
                continue
            self.assertEqual(resp.status, 200, resp)
            for mu, label in zip(resp.json()["mu"], labels[start:start + 50]):
                right += min(range(10), key=lambda k: sum((a - b) ** 2 for a, b in zip(mu, cents[k]))) == label
        return right / len(pngs), refused

    def check_dataset(self, model, data, margin, floor, count):
        idx = scenes.pick(data.labels, count, SEED)
        images, labels = [data.images[i] for i in idx], [data.labels[i] for i in idx]
        cents = self.centroids(model)
        base, _ = self.accuracy(model, cents, [png_of(img) for img in images], labels, "normalize=none")
        half = len(images) // 2
        base_half, _ = self.accuracy(model, cents, [png_of(img) for img in images[:half]], labels[:half], "normalize=none")
        lines = ["  %s: %d test images as the dataset has them: %.1f%% (the first %d: %.1f%%)"
                 % (model, count, 100 * base, half, 100 * base_half)]
        for v, (name, variant) in ((0, scenes.VARIANTS[0]), (5, scenes.VARIANTS[5])):
            rng = random.Random(SEED * 100 + v + 1)
            n = len(images) if v == 0 else half  # noise costs time in Python: half the sample
            pngs = [scenes.scene_png(img, rng, **variant)[0] for img in images[:n]]
            ref = base if v == 0 else base_half
            for query in ("normalize=none&invert=auto", "normalize=auto&invert=auto"):
                acc, refused = self.accuracy(model, cents, pngs, labels[:n], query)
                lines.append("    %s, %s: %.1f%%%s" % (name, query, 100 * acc, " (%d refused)" % refused if refused else ""))
                if query.startswith("normalize=auto"):
                    with self.subTest(model=model, variant=name):
                        self.assertEqual(refused, 0, "%s: %d drawn images refused as having no ink" % (name, refused))
                        self.assertGreaterEqual(acc, ref - margin, "%s: %.3f, the test images %.3f" % (name, acc, ref))
                        self.assertGreaterEqual(acc, floor, name)
        print("\n" + "\n".join(lines), file=sys.stderr)

    def test_drawn_digits_are_recognised(self):
        self.check_dataset("mnist", digits(), MNIST_MARGIN, MNIST_FLOOR, COUNT)

    def test_drawn_garments_are_recognised(self):
        import mnist
        import os
        fashion = os.environ.get("VAE_TEST_FASHION", "/usr/share/datasets/fashion-mnist")
        if not os.path.exists(os.path.join(fashion, "t10k-images-idx3-ubyte.gz")):
            self.fail("Fashion-MNIST is not at %s (Debian package dataset-fashion-mnist; make test installs it)" % fashion)
        data = mnist.Digits(os.path.join(fashion, "t10k-images-idx3-ubyte.gz"),
                            os.path.join(fashion, "t10k-labels-idx1-ubyte.gz"), fashion)
        self.check_dataset(SECOND_MODEL, data, FASHION_MARGIN, FASHION_FLOOR, COUNT)


if __name__ == "__main__":
    unittest.main()
