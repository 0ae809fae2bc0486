"""POST /score: the density figures of an image against what they must be (the KL from /encode's own
mu and logvar, bits per dimension from the NLL, the importance-weighted bound below the ELBO and
falling with k), the calibrated percentiles of held-out test images (the odd-indexed ones; the shipped
tables are of the even-indexed ones) close to uniform, Fashion-MNIST told from MNIST, the PNG heat
map, seeds, and a model without score tables."""
import math
import statistics

from common import ServerTestCase, b64, bare_weights, digits, fashion, png_of

KEYS = ["loss", "bce", "kl", "nll", "bits_per_dim", "complexity", "percentile", "ood_score", "ood_percentile"]


def auroc(positives, negatives):
    """P(a positive scores above a negative), ties counted half."""
    wins = sum((p > n) + 0.5 * (p == n) for p in positives for n in negatives)
    return wins / (len(positives) * len(negatives))


def ks_uniform(percentiles):
    """Kolmogorov-Smirnov distance between percentiles (0..100) and the uniform distribution."""
    p = sorted(v / 100.0 for v in percentiles)
    n = len(p)
    return max(max((i + 1) / n - v, v - i / n) for i, v in enumerate(p))


class Score(ServerTestCase):
    server_args = ["--model", "bare=" + bare_weights()]

    def score(self, images, query="", seed=1, status=200):
        body = {"images": [b64(png_of(im)) for im in images], "seed": seed}
        resp = self.client.post("/score" + query, body)
        self.assertEqual(resp.status, status, resp)
        return resp.json()

    def held_out(self, n, start=0):
        """n MNIST test images the score tables were not computed on (odd indices of the full test
        set; with only the committed slice, its images: none of them is in the tables either way)."""
        imgs = digits().images
        return [imgs[i] for i in range(2 * start + 1, len(imgs), 2)][:n]

    def test_reply_of_one_image(self):
        png = png_of(digits().digit(5))
        resp = self.client.post_png("/score?seed=9", png)
        self.assertEqual(resp.status, 200, resp)
        out = resp.json()
        self.assertEqual(list(out), KEYS + ["k", "seed", "calibrated"])
        self.assertEqual((out["k"], out["seed"], out["calibrated"]), (64, 9, True))
        for key in KEYS:
            self.assertTrue(math.isfinite(out[key]), key)
        self.assertAlmostEqual(out["loss"], out["bce"] + out["kl"], delta=1e-3 * out["loss"])
        self.assertAlmostEqual(out["bits_per_dim"], out["nll"] / (784 * math.log(2)), delta=1e-5)
        self.assertTrue(0 <= out["percentile"] <= 100 and 0 <= out["ood_percentile"] <= 100)
        # the same figures through the JSON body, the seed as a query parameter or a field
        again = self.client.post("/score", {"image": b64(png), "seed": 9}).json()
        self.assertEqual(again, out)

    def test_kl_is_the_encoders(self):
        """kl is the closed-form KL(q(z|x) || N(0, I)) of the mu and logvar /encode answers."""
        for label in (0, 3, 8):
            with self.subTest(label=label):
                png = png_of(digits().digit(label))
                enc = self.client.post_png("/encode", png).json()
                kl = -0.5 * sum(1 + lv - m * m - math.exp(lv) for m, lv in zip(enc["mu"], enc["logvar"]))
                got = self.client.post_png("/score", png).json()["kl"]
                self.assertAlmostEqual(got, kl, delta=1e-3 * kl + 1e-3)

    def test_seeds(self):
        imgs = self.held_out(4)
        a, b = self.score(imgs, seed=5), self.score(imgs, seed=5)
        self.assertEqual(a, b, "the same seed gave another reply")
        c = self.score(imgs, seed=6)
        self.assertNotEqual([s["nll"] for s in a["scores"]], [s["nll"] for s in c["scores"]])
        # without a seed the reply names the one it drew, and that seed reproduces it
        resp = self.client.post("/score?k=8", {"images": [b64(png_of(im)) for im in imgs]})
        drawn = resp.json()
        self.assertEqual(self.score(imgs, "?k=8", seed=drawn["seed"]), drawn)
        # every image of a batch gets its own samples: two copies of one image score differently
        twice = self.score([imgs[0], imgs[0]], "?k=4")["scores"]
        self.assertNotEqual(twice[0]["nll"], twice[1]["nll"])
        self.assertEqual(twice[0]["kl"], twice[1]["kl"])

    def test_importance_weighted_bound(self):
        """Over 100 held-out images: the k-sample NLL estimate is below the negative ELBO and falls
        with k (Burda et al.: the bound tightens monotonically in expectation)."""
        imgs = self.held_out(100)
        nll, loss = {}, {}
        for k in (1, 8, 64):
            scores = self.score(imgs, "?k=%d" % k, seed=3)["scores"]
            nll[k] = statistics.mean(s["nll"] for s in scores)
            loss[k] = statistics.mean(s["loss"] for s in scores)
        self.assertGreater(nll[1], nll[8] + 0.5, nll)
        self.assertGreater(nll[8], nll[64] + 0.3, nll)
        self.assertLess(nll[64], loss[64] - 1.0, (nll, loss))
        # the ELBO itself does not move with k beyond its sampling noise
        self.assertLess(abs(loss[1] - loss[64]), 2.0, loss)
        # and it is what vae-train measured on the test set, to a few nats (these are 100 of its images)
        test_loss = self.models["mnist"]["diagnostics"]["test_loss"]
        self.assertLess(abs(loss[64] - test_loss), 10.0, (loss, test_loss))

    def test_percentiles_of_held_out_images_are_uniform(self):
        """256 held-out test images at the tables' k: their percentiles (of nll and of ood_score)
        against the tables' 5000 are close to uniform (KS distance below the 1% critical value for
        n = 256, 1.63 / 16)."""
        scores = []
        for part in range(2):
            scores += self.score(self.held_out(128, start=128 * part), seed=11 + part)["scores"]
        for key in ("percentile", "ood_percentile"):
            with self.subTest(key=key):
                values = [s[key] for s in scores]
                self.assertLess(ks_uniform(values), 0.102, "%s: mean %.1f" % (key, statistics.mean(values)))

    def test_fashion_is_out_of_distribution(self):
        """Fashion-MNIST test images against MNIST test images on the MNIST model: ood_score tells them
        apart (AUROC) and their ood_percentile is high."""
        mnist_scores = self.score(self.held_out(128), "?k=16", seed=2)["scores"]
        clothes = fashion().images[:128]
        fashion_scores = self.score(clothes, "?k=16", seed=2)["scores"]
        a = auroc([s["ood_score"] for s in fashion_scores], [s["ood_score"] for s in mnist_scores])
        self.assertGreater(a, 0.97)
        self.assertGreater(statistics.median(s["ood_percentile"] for s in fashion_scores), 95)
        self.assertLess(statistics.median(s["ood_percentile"] for s in mnist_scores), 80)
        # the same clothes are in distribution for the Fashion model
        own = self.score(clothes[:64], "?k=16&model=fashion", seed=2)["scores"]
        self.assertLess(statistics.median(s["percentile"] for s in own), 80)

    def test_uncalibrated_model(self):
        """A model without score tables still scores; the percentiles are null and say so."""
        out = self.score(self.held_out(2), "?model=bare&k=8")
        self.assertFalse(out["calibrated"])
        for s in out["scores"]:
            self.assertIsNone(s["percentile"])
            self.assertIsNone(s["ood_score"])
            self.assertIsNone(s["ood_percentile"])
            self.assertTrue(math.isfinite(s["nll"]))
        cal = self.score(self.held_out(2), "?k=8")
        self.assertEqual([s["nll"] for s in out["scores"]], [s["nll"] for s in cal["scores"]],
                         "the same network and seed must give the same NLL with or without tables")

    def test_heat_map(self):
        """format=png: one RGB row per image, the input, its reconstruction (what /reconstruct
        answers) and the per-pixel BCE as heat (black where the model predicts the pixel, bright
        where it predicts the opposite)."""
        imgs = [digits().digit(2), digits().digit(7)]
        resp = self.client.post("/score?format=png", {"images": [b64(png_of(im)) for im in imgs]})
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.content_type, "image/png")
        self.assertIsNotNone(resp.header("X-Seed"))
        pic = resp.png()
        self.assertEqual((pic.width, pic.height, pic.color_type, pic.depth), (84, 56, 2, 8))
        px = pic.rgba8()
        recon = self.client.post("/reconstruct?format=json", {"images": [b64(png_of(im)) for im in imgs]}).json()
        recon = recon["pixels"]
        bright = dark = 0
        for i, img in enumerate(imgs):
            for p in range(784):
                row = i * 28 + p // 28
                x = img[p] / 255.0
                inp, rec, heat = (px[row * 84 + col * 28 + p % 28] for col in range(3))
                self.assertEqual(inp[:3], (img[p],) * 3)
                self.assertLessEqual(abs(rec[0] - round(recon[i][p] * 255)), 1)
                self.assertEqual(rec[0], rec[1])
                xh = min(max(recon[i][p], 1e-7), 1 - 1e-7)
                bce = -(x * math.log(xh) + (1 - x) * math.log(1 - xh))
                if bce > 4.0:
                    self.assertGreater(sum(heat[:3]), 600, (i, p, bce, heat))
                    bright += 1
                if bce < 0.02:
                    self.assertLess(sum(heat[:3]), 10, (i, p, bce, heat))
                    dark += 1
        self.assertGreater(dark, 500)

    def test_pictures_are_prepared(self):
        """/score takes normalize and invert as /encode does: a digit drawn small and dark on a light
        page (docs/api/picture.png), prepared the way MNIST's were, scores exactly as its prepared
        28x28 input (what /reconstruct?with_input=1 shows) sent as pixels, and the reply says what
        was done; the plain reply carries no "prepared"."""
        import os
        from server import REPO
        with open(os.path.join(REPO, "docs", "api", "picture.png"), "rb") as f:
            picture = f.read()
        plain = self.client.post_png("/score?invert=1&seed=1", picture).json()
        prepared = self.client.post_png("/score?normalize=auto&invert=auto&seed=1", picture).json()
        self.assertNotIn("prepared", plain)
        self.assertEqual((prepared["prepared"]["normalize"], prepared["prepared"]["invert"]), ("mnist", True))
        seen = self.client.post_png("/reconstruct?normalize=auto&invert=auto&with_input=1&format=json", picture)
        self.assertEqual(seen.status, 200, seen)
        seen_input = seen.json()["input"]
        self.assertEqual((len(seen_input), len(seen_input[0])), (1, 784))
        again = self.client.post("/score", {"pixels": seen_input[0], "seed": 1}).json()
        for key in ("loss", "nll", "kl", "percentile"):
            self.assertAlmostEqual(again[key], prepared[key], delta=1e-4 * abs(prepared[key]) + 1e-4, msg=key)
        self.assertNotAlmostEqual(plain["nll"], prepared["nll"], delta=1.0)
        # the heat map of a prepared picture says so in its header
        resp = self.client.post_png("/score?normalize=auto&invert=auto&format=png", picture)
        self.assertIn("normalize=mnist", resp.header("X-Prepared") or "")
