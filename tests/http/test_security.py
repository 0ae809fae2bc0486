"""--api-key (Bearer authentication on model endpoints only) and --cors-origin."""
import unittest

from common import Client, ServerTestCase, b64, digits, png_of

KEY = "secret"


def model_requests(d, png):
    """(method, path, body) for every model endpoint."""
    return (("GET", "/v1/models", None), ("POST", "/encode", {"image": b64(png)}),
            ("POST", "/reconstruct", {"image": b64(png)}), ("POST", "/decode", {"z": [0.0] * d}),
            ("GET", "/sample?n=1", None), ("POST", "/interpolate", {"from": 3, "to": 8, "steps": 2}))


SERVICE_PATHS = ("/", "/health", "/ready", "/metrics", "/openapi.yaml")


class ApiKey(ServerTestCase):
    server_args = ["--api-key", KEY]
    auth = {"Authorization": "Bearer " + KEY}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.anonymous = Client(cls.server.port)
        cls.png = png_of(digits().digit(1))

    def test_model_endpoints_need_the_key(self):
        for method, path, body in model_requests(self.d, self.png):
            with self.subTest(path=path):
                resp = self.anonymous.request(method, path, body=body)
                self.assert_error(resp, 401, "unauthorized", "Authorization: Bearer")
                self.assertEqual(resp.header("WWW-Authenticate"), "Bearer")
                ok = self.client.request(method, path, body=body)
                self.assertEqual(ok.status, 200, ok)

    def test_wrong_key(self):
        for value in ("Bearer wrong", "Bearer secretsecret", "Bearer secre", "Bearer ", "Basic c2VjcmV0",
                      "secret", "Bearer SECRET"):
            with self.subTest(value=value):
                resp = self.anonymous.request("POST", "/decode", body={"z": [0.0] * self.d},
                                              headers={"Authorization": value})
                self.assert_error(resp, 401, "unauthorized", "wrong")
                self.assertEqual(resp.header("WWW-Authenticate"), "Bearer")

    def test_scheme_is_case_insensitive(self):
        resp = self.anonymous.request("GET", "/v1/models", headers={"Authorization": "bearer " + KEY})
        self.assertEqual(resp.status, 200, resp)

    def test_service_endpoints_stay_open(self):
        for path in SERVICE_PATHS:
            with self.subTest(path=path):
                self.assertEqual(self.anonymous.get(path).status, 200)

    def test_preflight_needs_no_key(self):
        for path in ("/encode", "/sample", "/v1/models"):
            with self.subTest(path=path):
                resp = self.anonymous.request("OPTIONS", path, headers={
                    "Origin": "https://app.example", "Access-Control-Request-Method": "POST",
                    "Access-Control-Request-Headers": "authorization, content-type"})
                self.assertEqual(resp.status, 204, resp)

    def test_unknown_route_is_404_not_401(self):
        self.assert_error(self.anonymous.get("/nope"), 404, "not_found")


ORIGIN = "https://app.example"


class Cors(ServerTestCase):
    server_args = ["--cors-origin", ORIGIN]

    def test_success_replies(self):
        for method, path, body in model_requests(self.d, png_of(digits().digit(2))) + tuple(
                ("GET", p, None) for p in SERVICE_PATHS):
            with self.subTest(path=path):
                resp = self.client.request(method, path, body=body, headers={"Origin": ORIGIN})
                self.assertEqual(resp.status, 200, resp)
                self.assertEqual(resp.header("Access-Control-Allow-Origin"), ORIGIN)
                self.assertIn("Origin", resp.header("Vary") or "")

    def test_error_replies(self):
        for resp in (self.client.get("/nope"), self.client.get("/sample?n=0"),
                     self.client.post("/decode", b"{", content_type="application/json"),
                     self.client.request("DELETE", "/encode"),
                     self.client.post("/decode", b"x", content_type="text/plain")):
            with self.subTest(status=resp.status):
                self.assertGreaterEqual(resp.status, 400)
                self.assertEqual(resp.header("Access-Control-Allow-Origin"), ORIGIN, resp)

    def test_preflight(self):
        resp = self.client.request("OPTIONS", "/encode", headers={
            "Origin": ORIGIN, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, authorization"})
        self.assertEqual(resp.status, 204)
        self.assertEqual(resp.body, b"")
        self.assertEqual(resp.header("Access-Control-Allow-Origin"), ORIGIN)
        methods = [m.strip() for m in (resp.header("Access-Control-Allow-Methods") or "").split(",")]
        self.assertIn("POST", methods)
        headers = [h.strip().lower() for h in (resp.header("Access-Control-Allow-Headers") or "").split(",")]
        for h in ("content-type", "authorization", "accept"):
            self.assertIn(h, headers)
        get = self.client.request("OPTIONS", "/sample", headers={"Origin": ORIGIN, "Access-Control-Request-Method": "GET"})
        self.assertEqual(get.status, 204)
        self.assertIn("GET", get.header("Access-Control-Allow-Methods"))

    def test_seed_header_is_exposed(self):
        resp = self.client.get("/sample?n=1&seed=4", headers={"Origin": ORIGIN})
        self.assertEqual(resp.header("X-Seed"), "4")
        exposed = [h.strip().lower() for h in (resp.header("Access-Control-Expose-Headers") or "").split(",")]
        self.assertIn("x-seed", exposed)


class CorsAnyOrigin(ServerTestCase):
    server_args = ["--cors-origin", "*", "--api-key", KEY]
    auth = {"Authorization": "Bearer " + KEY}

    def test_wildcard_on_success_and_401(self):
        self.assertEqual(self.client.get("/v1/models").header("Access-Control-Allow-Origin"), "*")
        resp = Client(self.server.port).get("/v1/models")
        self.assertEqual(resp.status, 401)
        self.assertEqual(resp.header("Access-Control-Allow-Origin"), "*")


if __name__ == "__main__":
    unittest.main()
