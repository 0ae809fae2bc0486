"""The latent space as a map: GET /manifold (cells at the inverse normal CDF of the unit square's
centres, or an affine grid on the principal plane), GET|POST /traverse (one coordinate per row, the
most active ones by default), GET /sample?label= (class-conditional samples a model-free classifier
recognises), and POST /complete (known pixels kept exactly, the hidden half filled better than the
mean image does); each reply's pixels are the decoder's at its z."""
import math
import statistics
from statistics import NormalDist

from common import ServerTestCase, b64, bare_weights, digits, max_abs_diff, png_of

PHI_INV = NormalDist().inv_cdf


def dot(a, b):
    return sum(x * y for x, y in zip(a, b))


def sub(a, b):
    return [x - y for x, y in zip(a, b)]


class NearestMean:
    """A classifier that knows nothing of the model: the nearest class mean, in pixels, of the
    even-indexed MNIST test images (the tests judge odd-indexed ones or generated images)."""

    def __init__(self):
        d = digits()
        sums = [[0.0] * 784 for _ in range(10)]
        counts = [0] * 10
        for i in range(0, len(d.images), 2):
            lab = d.labels[i]
            counts[lab] += 1
            row = sums[lab]
            for p, v in enumerate(d.images[i]):
                row[p] += v
        self.means = [[v / (255.0 * counts[c]) for v in sums[c]] for c in range(10)]

    def __call__(self, pixels):
        return min(range(10), key=lambda c: sum((a - b) ** 2 for a, b in zip(pixels, self.means[c])))


class Latent(ServerTestCase):
    server_args = ["--model", "bare=" + bare_weights()]

    def get_json(self, path):
        resp = self.client.get(path + ("&" if "?" in path else "?") + "format=json")
        self.assertEqual(resp.status, 200, resp)
        return resp.json()

    def post_json(self, path, body):
        resp = self.client.post(path + "?format=json", body)
        self.assertEqual(resp.status, 200, resp)
        return resp.json()

    def assert_decoded(self, out):
        """The reply's pixels are what /decode answers for its z."""
        pixels = self.decode_json(out["z"])
        for got, want in zip(out["pixels"], pixels):
            self.assertLess(max_abs_diff(got, want), 1e-5)

    # --- /manifold ---

    def test_manifold_of_two_coordinates(self):
        """dims=a,b: cell (r, c) has z[a] = Phi^-1((c + 0.5)/n), z[b] = Phi^-1((n - 1 - r + 0.5)/n)
        (up is +b, as in Kingma and Welling's figure) and every other coordinate 0."""
        n = 5
        out = self.get_json("/manifold?dims=2,21&n=%d" % n)
        self.assertEqual((out["n"], out["dims"]), (n, [2, 21]))
        self.assertEqual(len(out["z"]), n * n)
        for r in range(n):
            for c in range(n):
                z = out["z"][r * n + c]
                self.assertAlmostEqual(z[2], PHI_INV((c + 0.5) / n), delta=1e-5)
                self.assertAlmostEqual(z[21], PHI_INV((n - 1 - r + 0.5) / n), delta=1e-5)
                self.assertEqual([v for j, v in enumerate(z) if j not in (2, 21)], [0.0] * (self.d - 2))
        self.assert_decoded(out)
        # the PNG is the same grid of images
        grey = self.assert_png(self.client.get("/manifold?dims=2,21&n=%d" % n), 28 * n, 28 * n)
        for r in range(n):
            for c in range(n):
                cell = [grey[(r * 28 + y) * 28 * n + c * 28 + x] for y in range(28) for x in range(28)]
                want = [round(v * 255) for v in out["pixels"][r * n + c]]
                self.assertLessEqual(max_abs_diff(cell, want), 1)

    def test_manifold_on_the_principal_plane(self):
        """Without dims (d > 2): an affine grid (each row a translate of the first, each column of the
        first column) whose two directions are orthogonal, as principal directions are, and whose
        cells are digits of more than one class."""
        n = 6
        out = self.get_json("/manifold?n=%d" % n)
        self.assertEqual(out["plane"], "principal")
        z = out["z"]
        step_a = sub(z[1], z[0])
        step_b = sub(z[0], z[n])  # up is +b
        for r in range(n):
            for c in range(n):
                # z[r][c] = z[0][0] + (q[c] - q[0]) a + (q[n-1-r] - q[n-1]) b, exactly affine in the quantiles
                qa = (PHI_INV((c + 0.5) / n) - PHI_INV(0.5 / n)) / (PHI_INV(1.5 / n) - PHI_INV(0.5 / n))
                qb = (PHI_INV((n - r - 0.5) / n) - PHI_INV((n - 0.5) / n)) / (PHI_INV((n - 0.5) / n) - PHI_INV((n - 1.5) / n))
                want = [z0 + qa * a + qb * b for z0, a, b in zip(z[0], step_a, step_b)]
                self.assertLess(max_abs_diff(z[r * n + c], want), 1e-4, (r, c))
        cos = dot(step_a, step_b) / math.sqrt(dot(step_a, step_a) * dot(step_b, step_b))
        self.assertLess(abs(cos), 1e-4)
        classify = NearestMean()
        self.assertGreaterEqual(len({classify(p) for p in out["pixels"]}), 4)
        self.assert_decoded(out)

    def test_manifold_base(self):
        """base=3 centres the plane on the class-3 centroid (the base /traverse?label=3 reports): the
        middle of an odd grid is it, and the corners are offset along the two coordinates only."""
        out = self.get_json("/manifold?dims=0,1&n=3&base=3")
        base = self.get_json("/traverse?label=3&dims=5&steps=2")["base"]
        self.assertLess(max_abs_diff(out["z"][4], base), 1e-6)
        q = PHI_INV(0.5 / 3)
        corner = list(base)
        corner[0] += q
        corner[1] -= q  # the top left: the smallest a, the largest b
        self.assertLess(max_abs_diff(out["z"][0], corner), 1e-5)

    # --- /traverse ---

    def test_traversal_rows_vary_one_coordinate(self):
        out = self.post_json("/traverse", {"label": 3, "dims": [2, 5, 11], "steps": 5, "range": 2})
        self.assertEqual((out["dims"], out["steps"], out["range"]), ([2, 5, 11], 5, 2))
        base = out["base"]
        for i, dim in enumerate(out["dims"]):
            for j in range(5):
                z = out["z"][i * 5 + j]
                self.assertAlmostEqual(z[dim], -2 + j, delta=1e-6)
                self.assertEqual([v for k, v in enumerate(z) if k != dim], [v for k, v in enumerate(base) if k != dim])
        self.assert_decoded(out)
        # the base of a label is that class: its decoded image is a 3 to a model-free classifier
        self.assertEqual(NearestMean()(self.decode_json([base])[0]), 3)

    def test_default_dimensions_are_the_most_active(self):
        """Without dims: the 8 coordinates of largest mu variance (the model's diagnostics), most
        active first, swept over +-3 in 11 steps from the origin."""
        mu_var = self.models["mnist"]["diagnostics"]["mu_var"]
        want = sorted(range(self.d), key=lambda j: (-mu_var[j], j))[:8]
        out = self.get_json("/traverse")
        self.assertEqual(out["dims"], want)
        self.assertEqual((out["steps"], out["range"]), (11, 3))
        self.assertEqual(out["base"], [0.0] * self.d)
        # sweeping an inactive coordinate changes the image far less than an active one
        idle = min(range(self.d), key=lambda j: mu_var[j])
        def change(dim):
            px = self.get_json("/traverse?dims=%d&steps=2" % dim)["pixels"]
            return sum(abs(a - b) for a, b in zip(px[0], px[1]))
        self.assertLess(change(idle) * 5, change(want[0]), "an inactive coordinate moves the image as much")

    def test_traversal_from_an_image(self):
        """The base of an image is its mu, as /encode answers."""
        png = png_of(digits().digit(4))
        mu = self.encode_png(png)
        out = self.post_json("/traverse", {"image": b64(png), "dims": [0], "steps": 3})
        self.assertLess(max_abs_diff(out["base"], mu), 1e-6)

    # --- /sample?label= ---

    def test_class_conditional_samples(self):
        """20 samples of each label from the class Gaussians: a classifier that never saw the model
        (nearest class mean in pixels, 80% right on real test digits) recognises most of them;
        chance is 10%."""
        classify = NearestMean()
        right = 0
        for label in range(10):
            px = self.get_json("/sample?label=%d&n=20&seed=%d" % (label, 40 + label))["pixels"]
            self.assertEqual(len(px), 20)
            right += sum(classify(p) == label for p in px)
        self.assertGreater(right / 200, 0.5)
        # and by the nearest class centroid of their encodings, the centroids being the mean mu of 50
        # even-indexed test images of each class (the check the issue names; 79% measured with these
        # seeds, chance 10%)
        d = digits()
        centroids = []
        for label in range(10):
            imgs = [d.images[i] for i in range(0, len(d.images), 2) if d.labels[i] == label][:50]
            mus = self.encode_json({"images": [b64(png_of(im)) for im in imgs]})["mu"]
            centroids.append([statistics.mean(col) for col in zip(*mus)])
        right = 0
        for label in range(10):
            px = self.get_json("/sample?label=%d&n=20&seed=%d" % (label, 60 + label))["pixels"]
            for mu in self.encode_json({"pixels": px})["mu"]:
                right += min(range(10), key=lambda c: sum((a - b) ** 2 for a, b in zip(mu, centroids[c]))) == label
        self.assertGreater(right / 200, 0.6)
        # seeded: the same seed, the same samples; another label, other samples
        a = self.get_json("/sample?label=3&n=4&seed=5")
        self.assertEqual(a, self.get_json("/sample?label=3&n=4&seed=5"))
        self.assertNotEqual(a["pixels"], self.get_json("/sample?label=4&n=4&seed=5")["pixels"])

    # --- /complete ---

    def held_out(self, n):
        d = digits()
        return [(d.images[i], d.labels[i]) for i in range(1, len(d.images), 2)][:n]

    def test_known_pixels_are_kept_exactly(self):
        img = digits().digit(6)
        for keep, known in (("top", lambda p: p < 392), ("left", lambda p: p % 28 < 14)):
            for method in ("mwg", "pseudo_gibbs"):
                with self.subTest(keep=keep, method=method):
                    out = self.post_json("/complete", {"image": b64(png_of(img)), "keep": keep, "method": method,
                                                       "steps": 20, "seed": 1, "chain": True})
                    self.assertEqual((out["method"], out["steps"], out["seed"]), (method, 20, 1))
                    self.assertTrue(0 <= out["accepted"] <= 20)
                    if method == "pseudo_gibbs":
                        self.assertEqual(out["accepted"], 20)
                    for frame in [out["pixels"]] + out["chain"]:
                        for p in range(784):
                            if known(p):
                                self.assertAlmostEqual(frame[p], img[p] / 255.0, delta=1e-6)
        # a mask PNG: known where it is white (here the left half), whatever the image's size
        from pngutil import grey8
        mask_png = grey8([255 if x < 28 else 0 for y in range(56) for x in range(56)], 56, 56)
        out = self.post_json("/complete", {"image": b64(png_of(img)), "mask": b64(mask_png), "seed": 2})
        for p in range(784):
            if p % 28 < 14:
                self.assertAlmostEqual(out["pixels"][p], img[p] / 255.0, delta=1e-6)
        self.assertNotEqual([out["pixels"][p] for p in range(784) if p % 28 >= 14],
                            [img[p] / 255.0 for p in range(784) if p % 28 >= 14], "the hidden half was not filled")
        # an explicit mask: only the marked pixels are kept
        mask = [1 if (p // 28) % 2 == 0 else 0 for p in range(784)]
        out = self.post_json("/complete", {"image": b64(png_of(img)), "mask": mask, "seed": 2})
        for p in range(784):
            if mask[p]:
                self.assertAlmostEqual(out["pixels"][p], img[p] / 255.0, delta=1e-6)

    def test_completion_beats_the_mean_image(self):
        """The bottom half of 60 held-out test digits hidden: both chains fill it closer to the truth
        (mean absolute error) than the mean test image does."""
        d = digits()
        mean = [sum(d.images[i][p] for i in range(0, len(d.images), 2)) / (255.0 * len(range(0, len(d.images), 2)))
                for p in range(784)]
        errors = {"mwg": [], "pseudo_gibbs": [], "mean": []}
        for img, _ in self.held_out(60):
            truth = [v / 255.0 for v in img[392:]]
            errors["mean"].append(statistics.mean(abs(a - b) for a, b in zip(mean[392:], truth)))
            for method in ("mwg", "pseudo_gibbs"):
                out = self.post_json("/complete", {"image": b64(png_of(img)), "keep": "top", "method": method,
                                                   "seed": 3})
                errors[method].append(statistics.mean(abs(a - b) for a, b in zip(out["pixels"][392:], truth)))
        m = {k: statistics.mean(v) for k, v in errors.items()}
        self.assertLess(m["mwg"], 0.85 * m["mean"], m)
        self.assertLess(m["pseudo_gibbs"], 0.85 * m["mean"], m)

    def test_statistics_are_required(self):
        """A model without statistics answers the methods that need them with what to run."""
        for path in ("/manifold?model=bare", "/traverse?model=bare", "/sample?label=1&model=bare"):
            with self.subTest(path=path):
                resp = self.client.get(path)
                self.assert_error(resp, 422, "invalid_value", "vae-train --annotate")
        # and everything that does not need them still works on it
        self.assertEqual(self.client.get("/manifold?model=bare&dims=0,1&n=2").status, 200)
        self.assertEqual(self.client.get("/traverse?model=bare&dims=0,1").status, 200)
