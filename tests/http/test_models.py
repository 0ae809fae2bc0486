"""?model=: the second model (fashion) on every model endpoint, and unknown models."""
import unittest

from common import SECOND_MODEL, ServerTestCase, b64, digits, png_of

M = SECOND_MODEL


class SecondModel(ServerTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.d2 = cls.models[M]["latent_dim"]
        cls.png = png_of(digits().digit(4))

    def test_listed(self):
        self.assertIn(M, self.models)
        self.assertFalse(self.models[M]["default"])
        self.assertIn("fashion", self.models[M]["metadata"]["dataset"])

    def test_encode(self):
        resp = self.client.post_png("/encode?model=" + M, self.png)
        self.assertEqual(resp.status, 200, resp)
        self.assert_vector(resp.json()["mu"], self.d2)
        self.assert_vector(resp.json()["logvar"], self.d2)
        mnist_mu = self.encode_png(self.png)
        self.assertNotEqual(resp.json()["mu"], mnist_mu, "?model=fashion gave mnist's mu")
        # an explicit ?model=mnist is the default
        self.assertEqual(self.client.post_png("/encode?model=mnist", self.png).json()["mu"], mnist_mu)

    def test_reconstruct(self):
        self.assert_png(self.client.post_png("/reconstruct?model=" + M, self.png), 28, 28)
        resp = self.client.post("/reconstruct?format=json&model=" + M, {"image": b64(self.png)})
        self.assertEqual(len(resp.json()["pixels"][0]), 784)

    def test_decode(self):
        z = [0.1] * self.d2
        grey = self.assert_png(self.client.post("/decode?model=" + M, {"z": z}), 28, 28)
        self.assertGreater(max(grey), 64)
        self.assertEqual(len(self.decode_json([z, z], model=M)), 2)
        if self.d2 != self.d:
            resp = self.client.post("/decode?model=mnist", {"z": z})
            self.assert_error(resp, 422, "invalid_value", "needs %d" % self.d)

    def test_sample(self):
        a = self.client.get("/sample?n=4&seed=8&model=" + M)
        self.assert_png(a, 56, 56)
        body = self.client.get("/sample?n=2&seed=8&format=json&model=" + M).json()
        self.assertEqual([len(z) for z in body["z"]], [self.d2] * 2)
        mnist = self.client.get("/sample?n=4&seed=8")
        self.assertNotEqual(a.body, mnist.body, "?model=fashion sampled mnist")

    def test_interpolate(self):
        body = {"from": b64(self.png), "to": [0.0] * self.d2, "steps": 4}
        self.assert_png(self.client.post("/interpolate?model=" + M, body), 112, 28)
        out = self.client.post("/interpolate?format=json&model=" + M, body).json()
        self.assertEqual([len(z) for z in out["z"]], [self.d2] * 4)
        if self.models[M].get("has_centroids", True):
            self.assert_png(self.client.post("/interpolate?model=" + M, {"from": 0, "to": 9, "steps": 3}), 84, 28)

    def test_unknown_model(self):
        for method, path, body in (("GET", "/sample", None), ("POST", "/encode", {"image": b64(self.png)}),
                                   ("POST", "/reconstruct", {"image": b64(self.png)}),
                                   ("POST", "/decode", {"z": [0.0] * self.d}),
                                   ("POST", "/interpolate", {"from": 3, "to": 8})):
            with self.subTest(path=path):
                resp = self.client.request(method, path + "?model=nosuch", body=body)
                msg = self.assert_error(resp, 404, "model_not_found", "nosuch")
                for name in self.models:
                    self.assertIn(name, msg, "the message should list the loaded models")


if __name__ == "__main__":
    unittest.main()
