"""Every error the contract names: status, the {"error":{code,type,message}} shape, code == status,
the type, and a message that says what to fix; after each, the server still answers a valid
request (assert_error checks), and at the end it is alive and exits 0 on SIGTERM."""
import struct
import unittest
import zlib

import pngutil
from common import ServerTestCase, b64, digits, png_of, raw_exchange


class Errors(ServerTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.png = png_of(digits().digit(5))

    def post_json_bytes(self, path, data):
        return self.client.post(path, data, content_type="application/json")

    # --- bytes that do not parse (400) ---

    def test_malformed_json(self):
        self.assert_error(self.post_json_bytes("/decode", b'{"z": [1, 2'), 400, "invalid_json", "not valid JSON", "byte")
        self.assert_error(self.post_json_bytes("/decode", b'{"z": [0]} xyz'), 400, "invalid_json", "after the JSON")
        self.assert_error(self.post_json_bytes("/decode", b"{z: [0]}"), 400, "invalid_json", "not valid JSON")

    def test_empty_body(self):
        self.assert_error(self.post_json_bytes("/decode", b""), 400, "invalid_json", "empty")
        self.assert_error(self.post_json_bytes("/encode", b""), 400, "invalid_json", "empty")
        self.assert_error(self.client.post_png("/encode", b""), 400, "invalid_png", "empty")

    def test_invalid_utf8(self):
        for data in (b'{"z": "\xff"}', b'{"z": "\xc0\xaf"}', b'{"z": "\xed\xa0\x80"}', b'{"z": "\xe2\x82'):
            with self.subTest(data=data):
                self.assert_error(self.post_json_bytes("/decode", data), 400, "invalid_json", "UTF-8")

    def test_nan_and_infinity_literals(self):
        for lit in ("NaN", "Infinity", "-Infinity", "nan", "inf"):
            with self.subTest(lit=lit):
                body = ('{"z": [%s%s]}' % (lit, ", 0" * (self.d - 1))).encode()
                self.assert_error(self.post_json_bytes("/decode", body), 400, "invalid_json", "NaN and Infinity")

    def test_deep_nesting(self):
        self.assert_error(self.post_json_bytes("/decode", b"[" * 10000), 400, "invalid_json", "nesting")
        self.assert_error(self.post_json_bytes("/decode", b'{"z":' + b"[" * 10000 + b"]" * 10000 + b"}"),
                          400, "invalid_json", "nesting")

    def test_invalid_base64(self):
        good = b64(self.png)
        for text, fragment in ((good[:10] + "*" + good[11:], "invalid base64 character '*'"),
                               (good[:-2] + "!!", "invalid base64 character"),
                               ("AAAAA", "truncated base64"),
                               ("AAA=A", "after padding"),
                               ("AA==A=", "after padding"),
                               ("A===", "padding"),
                               ("data:image/png," + good, "base64"),
                               ("data:image/png;base64" + good, "','")):
            with self.subTest(text=text[:30]):
                self.assert_error(self.client.post("/encode", {"image": text}), 400, "invalid_base64",
                                  "image is not valid base64", fragment)
        self.assert_error(self.client.post("/encode", {"images": [good, "@@@@"]}), 400, "invalid_base64", "images[1]")
        self.assert_error(self.client.post("/interpolate", {"from": "#", "to": 8}), 400, "invalid_base64", "from")

    def test_truncated_png(self):
        for cut in (4, 20, len(self.png) // 2, len(self.png) - 20):
            with self.subTest(cut=cut):
                self.assert_error(self.client.post_png("/encode", self.png[:cut]), 400, "invalid_png", "truncated")
        self.assert_error(self.client.post("/encode", {"image": b64(self.png[:60])}), 400, "invalid_png", "image")

    def test_png_bad_crc(self):
        bad_header = bytearray(self.png)
        bad_header[29] ^= 0xFF  # the IHDR CRC
        self.assert_error(self.client.post_png("/encode", bytes(bad_header)), 400, "invalid_png", "CRC")
        chunks = pngutil.read_chunks(self.png)
        idat_at = self.png.index(b"IDAT")
        length = struct.unpack(">I", self.png[idat_at - 4:idat_at])[0]
        bad_data = bytearray(self.png)
        bad_data[idat_at + 4 + length] ^= 0x55  # the first IDAT CRC
        self.assertTrue(any(k == b"IDAT" for k, _ in chunks))
        self.assert_error(self.client.post_png("/encode", bytes(bad_data)), 400, "invalid_png", "CRC")

    def test_png_corrupt_data(self):
        raw = zlib.compress(b"\x07" * 29 * 28)  # filter type 7 does not exist
        png = pngutil.SIGNATURE + pngutil.ihdr(28, 28, 8, 0) + pngutil.chunk(b"IDAT", raw) + pngutil.chunk(b"IEND", b"")
        self.assert_error(self.client.post_png("/encode", png), 400, "invalid_png", "filter")
        garbage = pngutil.SIGNATURE + pngutil.ihdr(28, 28, 8, 0) + pngutil.chunk(b"IDAT", b"not zlib") + pngutil.chunk(b"IEND", b"")
        self.assert_error(self.client.post_png("/encode", garbage), 400, "invalid_png")
        no_ihdr = pngutil.SIGNATURE + pngutil.chunk(b"tEXt", b"Comment\x00no header here") + pngutil.chunk(b"IEND", b"")
        self.assert_error(self.client.post_png("/encode", no_ihdr), 400, "invalid_png", "IHDR")

    def test_huge_png_header(self):
        png = pngutil.SIGNATURE + pngutil.ihdr(100000, 100000, 8, 0) + pngutil.chunk(b"IDAT", zlib.compress(b"\x00" * 100))
        self.assert_error(self.client.post_png("/encode", png), 422, "image_too_large", "100000x100000", "limit")
        self.assert_error(self.client.post("/encode", {"image": b64(png)}), 422, "image_too_large", "image")
        just_over = pngutil.SIGNATURE + pngutil.ihdr(4097, 4096, 8, 0) + pngutil.chunk(b"IDAT", b"")
        self.assert_error(self.client.post_png("/encode", just_over), 422, "image_too_large", "4097x4096")

    def test_zero_sized_png_is_a_png_error(self):
        """A zero width is forbidden by the PNG format: bytes that do not parse (400 invalid_png),
        not an image that is too large."""
        png = pngutil.SIGNATURE + pngutil.ihdr(0, 28, 8, 0) + pngutil.chunk(b"IDAT", zlib.compress(b"\x00" * 28))
        self.assert_error(self.client.post_png("/encode", png), 400, "invalid_png", "zero")

    # --- well-formed but wrong (422) ---

    def test_huge_number(self):
        body = ('{"z": [1e400%s]}' % (", 0" * (self.d - 1))).encode()
        self.assert_error(self.post_json_bytes("/decode", body), 422, "invalid_value", "z[0]", "finite")
        self.assert_error(self.post_json_bytes("/encode", ('{"pixels": [1e400%s]}' % (", 0" * 783)).encode()),
                          422, "invalid_value", "pixels[0]", "finite")
        self.assert_error(self.post_json_bytes("/decode", ('{"z": [4e38%s]}' % (", 0" * (self.d - 1))).encode()),
                          422, "invalid_value", "float32")
        self.assert_error(self.post_json_bytes("/interpolate", b'{"from": 3, "to": 8, "steps": 1e400}'),
                          422, "invalid_value", "steps")
        self.assert_error(self.post_json_bytes("/interpolate", b'{"from": 1e400, "to": 8}'),
                          422, "invalid_value", "class label")

    def test_not_an_object(self):
        for data in (b"[1, 2]", b'"z"', b"3", b"null"):
            with self.subTest(data=data):
                self.assert_error(self.post_json_bytes("/decode", data), 422, "invalid_request", "JSON object")

    def test_wrong_types(self):
        zeros = [0.0] * self.d
        png = b64(self.png)
        req, val = "invalid_request", "invalid_value"
        cases = (
            ("/decode", {"z": "abc"}, req, "z must be an array of %d numbers" % self.d),
            ("/decode", {"z": 5}, req, "z must be an array"),
            ("/decode", {"z": []}, req, "z must be an array"),
            ("/decode", {"z": [1, "a"] + zeros[2:]}, req, "z[1] is not a number"),
            ("/decode", {"z": [zeros, "x"]}, req, "z[1] must be an array"),
            ("/decode", {"z": [None] + zeros[1:]}, req, "z[0] is not a number"),
            ("/encode", {"image": 5}, req, "image must be a base64"),
            ("/encode", {"images": "abc"}, req, "images must be a non-empty list"),
            ("/encode", {"images": []}, req, "images must be a non-empty list"),
            ("/encode", {"images": [5]}, req, "images[0] must be a base64"),
            ("/encode", {"pixels": "abc"}, req, "pixels must be an array of 784"),
            ("/encode", {"pixels": [0.5] * 783 + [True]}, req, "pixels[783] is not a number"),
            ("/encode", {"image": png, "invert": "yes"}, req, "invert must be true or false"),
            ("/encode", {"image": png, "invert": 1}, req, "invert must be true or false"),
            ("/encode", {"image": png, "sample": "true"}, req, "sample must be true or false"),
            ("/encode", {"image": png, "seed": -1}, req, "seed must be an integer"),
            ("/encode", {"image": png, "seed": 1.5}, req, "seed must be an integer"),
            ("/encode", {"image": png, "seed": "7"}, req, "seed must be an integer"),
            ("/encode", {"image": png, "seed": 2 ** 53}, req, "seed must be an integer"),
            ("/interpolate", {"from": 3, "to": 8, "steps": "10"}, val, "steps must be an integer"),
            ("/interpolate", {"from": 3, "to": 8, "method": 1}, val, "method must be"),
            ("/interpolate", {"from": 3, "to": 8, "method": "cubic"}, val, 'method must be "linear" or "slerp"'),
            ("/interpolate", {"from": True, "to": 8}, req, "from must be a class label"),
            ("/interpolate", {"from": {"x": 1}, "to": 8}, req, "from must be a class label"),
            ("/interpolate", {"from": 3, "to": [zeros]}, req, "to must be one latent vector"),
            ("/interpolate", {"from": 3, "to": 8, "invert": "no"}, req, "invert must be true or false"),
        )
        for path, body, etype, fragment in cases:
            with self.subTest(path=path, body=str(body)[:60]):
                self.assert_error(self.client.post(path, body), 422, etype, fragment)

    def test_two_latent_vectors_as_an_endpoint(self):
        """An interpolation end given as a list of two vectors is a wrong shape: the message must say
        to give one vector, not blame --max-batch (too_many_items)."""
        zeros = [0.0] * self.d
        self.assert_error(self.client.post("/interpolate", {"from": 3, "to": [zeros, zeros]}), 422,
                          "invalid_request", "to must be one latent vector")

    def test_unknown_field(self):
        self.assert_error(self.client.post("/decode", {"z": [0.0] * self.d, "foo": 1}), 422, "invalid_request",
                          "unknown field 'foo'", "accepted fields: z")
        self.assert_error(self.client.post("/encode", {"image": b64(self.png), "Image": 1}), 422, "invalid_request",
                          "unknown field 'Image'", "image, images, pixels")
        self.assert_error(self.client.post("/interpolate", {"from": 3, "to": 8, "step": 4}), 422, "invalid_request",
                          "unknown field 'step'", "steps")

    def test_duplicate_field(self):
        z = ", ".join(["0"] * self.d)
        body = ('{"z": [%s], "z": [%s]}' % (z, z)).encode()
        self.assert_error(self.post_json_bytes("/decode", body), 422, "invalid_request", "'z' appears more than once")
        self.assert_error(self.post_json_bytes("/interpolate", b'{"from": 3, "to": 8, "from": 2}'), 422,
                          "invalid_request", "'from' appears more than once")

    def test_missing_field(self):
        self.assert_error(self.client.post("/decode", {}), 422, "invalid_request", 'missing "z"', str(self.d))
        self.assert_error(self.client.post("/interpolate", {"to": 8}), 422, "invalid_request", 'missing "from"')
        self.assert_error(self.client.post("/interpolate", {"from": 3}), 422, "invalid_request", 'missing "to"')
        for body in ({}, {"invert": True}, {"image": b64(self.png), "pixels": [0.0] * 784}):
            with self.subTest(body=str(body)[:40]):
                self.assert_error(self.client.post("/encode", body), 422, "invalid_request", "exactly one of")

    def test_wrong_lengths(self):
        d = self.d
        self.assert_error(self.client.post("/decode", {"z": [0.0] * (d - 1)}), 422, "invalid_value",
                          "z has %d numbers; it needs %d" % (d - 1, d))
        self.assert_error(self.client.post("/decode", {"z": [0.0] * (d + 1)}), 422, "invalid_value",
                          "z has %d numbers; it needs %d" % (d + 1, d))
        self.assert_error(self.client.post("/decode", {"z": [[0.0] * d, [0.0] * 3]}), 422, "invalid_value",
                          "z[1] has 3 numbers; it needs %d" % d)
        self.assert_error(self.client.post("/encode", {"pixels": [0.0] * 783}), 422, "invalid_value",
                          "pixels has 783 numbers; it needs 784")
        self.assert_error(self.client.post("/encode", {"pixels": [[0.0] * 784, []]}), 422, "invalid_value",
                          "pixels[1] has 0 numbers")
        self.assert_error(self.client.post("/interpolate", {"from": [0.0] * 3, "to": 8}), 422, "invalid_value",
                          "from has 3 numbers; it needs %d" % d)

    def test_pixels_out_of_range(self):
        for bad, shown in ((1.5, "1.5"), (-0.25, "-0.25"), (255, "255")):
            with self.subTest(bad=bad):
                px = [0.0] * 784
                px[100] = bad
                self.assert_error(self.client.post("/encode", {"pixels": px}), 422, "invalid_value",
                                  "pixels[100] is %s" % shown, "0..1")
        px = [[0.0] * 784, [0.0] * 784]
        px[1][5] = 2
        self.assert_error(self.client.post("/reconstruct", {"pixels": px}), 422, "invalid_value", "pixels[1][5]")

    def test_too_many_items(self):
        self.assert_error(self.client.post("/encode", {"images": ["x"] * 257}), 422, "too_many_items", "257", "256")
        self.assert_error(self.client.post("/decode", {"z": [[0.0] * self.d] * 257}), 422, "too_many_items", "257")
        self.assert_error(self.client.post("/encode", {"pixels": [[0.0] * 784] * 257}), 422, "too_many_items", "257")

    def test_labels(self):
        for label, fragment in ((10, "10 is not a class label (0 to 9)"), (-1, "-1 is not a class label"),
                                (2.5, "2.5 is not a class label")):
            with self.subTest(label=label):
                self.assert_error(self.client.post("/interpolate", {"from": label, "to": 8}), 422, "invalid_value",
                                  "from", fragment)
        self.assert_error(self.client.post("/interpolate", {"from": "3", "to": 8}), 422, "invalid_value",
                          'class labels are numbers: write 3, not "3"')
        self.assert_error(self.client.post("/interpolate", {"from": 3, "to": "8"}), 422, "invalid_value",
                          'write 8, not "8"')

    def test_steps(self):
        for steps in (1, 65, 2.5, 0, -3):
            with self.subTest(steps=steps):
                self.assert_error(self.client.post("/interpolate", {"from": 3, "to": 8, "steps": steps}), 422,
                                  "invalid_value", "steps must be an integer from 2 to 64")

    def test_sample_n(self):
        for n in ("-1", "0", "257", "1000000000", "1e9", "abc", "", "1.5", "99999999999999999999999"):
            with self.subTest(n=n):
                self.assert_error(self.client.get("/sample?n=" + n), 422, "invalid_parameter", "n must be", "1", "256")

    def test_other_query_values(self):
        cases = (
            ("GET", "/sample?temperature=-1", "temperature must be a number from 0 to 100"),
            ("GET", "/sample?temperature=abc", "temperature"),
            ("GET", "/sample?temperature=nan", "temperature"),
            ("GET", "/sample?temperature=inf", "temperature"),
            ("GET", "/sample?temperature=101", "temperature"),
            ("GET", "/sample?seed=-5", "seed must be"),
            ("GET", "/sample?seed=x", "seed must be"),
            ("GET", "/sample?seed=9007199254740992", "seed must be"),
            ("GET", "/sample?format=xml", "format must be png or json, not 'xml'"),
            ("POST", "/decode?format=jpeg", "format must be png or json"),
            ("POST", "/encode?invert=maybe", "invert must be 1 or 0"),
            ("POST", "/encode?sample=2", "sample must be 1 or 0"),
        )
        for method, path, fragment in cases:
            with self.subTest(path=path):
                body = {"z": [0.0] * self.d} if path.startswith("/decode") else (
                    {"image": b64(self.png)} if method == "POST" else None)
                self.assert_error(self.client.request(method, path, body=body), 422, "invalid_parameter", fragment)

    def test_encode_rejects_format(self):
        """/encode has no format parameter (openapi.yaml) and always answers JSON: a format value,
        let alone an invalid one, must not be accepted silently."""
        resp = self.client.post_png("/encode?format=xml", self.png)
        self.assert_error(resp, 422, "invalid_parameter", "format")

    def test_repeated_query_parameter(self):
        self.assert_error(self.client.get("/sample?n=2&n=3"), 422, "invalid_parameter", "'n' is given more than once")
        self.assert_error(self.client.get("/sample?n=2&n=2"), 422, "invalid_parameter", "more than once")
        self.assert_error(self.client.post("/decode?model=mnist&model=mnist", {"z": [0.0] * self.d}), 422,
                          "invalid_parameter", "'model'")

    def test_unknown_query_parameter(self):
        self.assert_error(self.client.get("/sample?count=3"), 422, "invalid_parameter",
                          "unknown query parameter 'count'", "n", "seed", "temperature")
        self.assert_error(self.client.post("/decode?steps=3", {"z": [0.0] * self.d}), 422, "invalid_parameter",
                          "unknown query parameter 'steps'")
        self.assert_error(self.client.get("/v1/models?model=mnist"), 422, "invalid_parameter", "takes none")

    # --- routing, methods, media types ---

    def test_bad_method(self):
        for method, path, allow in (("GET", "/encode", "POST, OPTIONS"), ("DELETE", "/encode", "POST, OPTIONS"),
                                    ("PUT", "/decode", "POST, OPTIONS"), ("POST", "/health", "GET, HEAD, OPTIONS"),
                                    ("POST", "/sample", "GET, HEAD, OPTIONS"), ("PATCH", "/", "GET, HEAD, OPTIONS"),
                                    ("HEAD", "/interpolate", "POST, OPTIONS"), ("BREW", "/metrics", "GET, HEAD, OPTIONS")):
            with self.subTest(method=method, path=path):
                resp = self.client.request(method, path)
                self.assertEqual(resp.header("Allow"), allow)
                if method == "HEAD":
                    self.assertEqual(resp.status, 405)
                    continue
                self.assert_error(resp, 405, "method_not_allowed", method, "use " + allow)

    def test_unknown_route(self):
        for path in ("/nope", "/encode/", "/v1/model", "/ENCODE", "/health/x", "//health", "/v2x"):
            with self.subTest(path=path):
                self.assert_error(self.client.get(path), 404, "not_found", "no such endpoint", "/openapi.yaml")
        self.assert_error(self.client.post("/nope", {"z": 1}), 404, "not_found", "/nope")
        # under /v2 the Open Inference Protocol's error shape applies, routed or not
        for path in ("/v2/models", "/v2/models/mnist-encoder/versions/2/x"):
            with self.subTest(path=path):
                resp = self.client.get(path)
                self.assertEqual(resp.status, 404)
                self.assertEqual(sorted(resp.json()), ["error"])
                self.assertIn("no such endpoint", resp.json()["error"])

    def test_nul_in_path_is_not_another_route(self):
        """%00 must not cut the path short: /health%00x is not /health, /%00 is not /."""
        for path in ("/health%00x", "/%00", "/sample%00.png"):
            with self.subTest(path=path):
                self.assert_error(self.client.get(path), 404, "not_found")

    def test_wrong_content_type(self):
        z = {"z": [0.0] * self.d}
        self.assert_error(self.client.post("/encode", b"hello", content_type="text/plain"), 415,
                          "unsupported_media_type", "text/plain", "application/json or image/png")
        self.assert_error(self.client.post("/decode", self.png, content_type="image/png"), 415,
                          "unsupported_media_type", "application/json")
        self.assert_error(self.client.post("/interpolate", b"from=3&to=8", content_type="application/x-www-form-urlencoded"),
                          415, "unsupported_media_type", "curl -d", "-H 'Content-Type: application/json'")
        self.assert_error(self.client.post("/decode", z, content_type="multipart/form-data; boundary=x"), 415,
                          "unsupported_media_type", "multipart/form-data")

    def test_json_body_with_png_content_type_and_vice_versa(self):
        self.assert_error(self.client.post("/encode", b'{"image": "x"}', content_type="image/png"), 400,
                          "invalid_png", "JSON")
        self.assert_error(self.client.post("/encode", self.png, content_type="application/json"), 400,
                          "invalid_json", "UTF-8")


class BodyLimits(ServerTestCase):
    server_args = ["--max-body", "4096"]

    def test_content_length_over_the_limit_is_refused_before_the_body(self):
        """Only the headers are sent: the 413 must come without the server waiting for the body."""
        for path in ("/encode", "/decode", "/interpolate", "/reconstruct"):
            with self.subTest(path=path):
                resp = raw_exchange(self.server.port,
                                    b"POST %s HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                                    b"Content-Length: 1000000000000\r\n\r\n" % path.encode())
                self.assertEqual(resp.status, 413)
                err = resp.json()["error"]
                self.assertEqual((err["code"], err["type"]), (413, "payload_too_large"))
                self.assertIn("1000000000000", err["message"])
                self.assertIn("4096", err["message"])
                self.assertIn("--max-body", err["message"])
        self.assert_alive()

    def test_small_body_over_the_limit(self):
        resp = self.client.post("/decode", {"z": [0.0] * 1000})  # about 5 KB
        self.assert_error(resp, 413, "payload_too_large", "4096")

    def test_chunked_body_over_the_limit(self):
        chunk = b"x" * 3000
        body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(3)) + b"0\r\n\r\n"
        resp = raw_exchange(self.server.port,
                            b"POST /encode HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                            b"Transfer-Encoding: chunked\r\n\r\n" + body)
        self.assertEqual(resp.status, 413)
        err = resp.json()["error"]
        self.assertEqual((err["code"], err["type"]), (413, "payload_too_large"))
        self.assertIn("4096", err["message"])
        self.assert_alive()

    def test_chunked_body_under_the_limit_works(self):
        z = ("[" + ",".join(["0"] * self.d) + "]").encode()
        data = b'{"z": ' + z + b"}"
        body = b"%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n" % (10, data[:10], len(data) - 10, data[10:])
        resp = raw_exchange(self.server.port,
                            b"POST /decode?format=json HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                            b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + body)
        self.assertEqual(resp.status, 200, resp.raw[:300])
        self.assertEqual(len(resp.json()["pixels"][0]), 784)

    def test_body_at_the_limit_is_accepted(self):
        text = b'{"z": [' + b",".join([b"0"] * self.d) + b"]}"
        padded = text + b" " * (4096 - len(text))
        self.assertEqual(len(padded), 4096)
        resp = self.client.post("/decode?format=json", padded, content_type="application/json")
        self.assertEqual(resp.status, 200, resp)


if __name__ == "__main__":
    unittest.main()
