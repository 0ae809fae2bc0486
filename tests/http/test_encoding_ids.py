"""Content codings and request IDs. Request bodies sent with Content-Encoding gzip or deflate (the zlib
format) are inflated, with --max-body applied to the inflated size too (a decompression bomb is a 413
and nothing past the cap is inflated), and damaged or truncated streams are 400 invalid_encoding;
JSON replies are gzip-compressed above a size for clients that send Accept-Encoding: gzip.
X-Request-Id is kept when it is a sane token, else generated; it is on every reply (errors and
early refusals too), in every access-log line (text and JSON), and the Open Inference Protocol's
response id when the request has none."""
import gzip
import json
import re
import unittest
import zlib

from common import Client, ServerTestCase, digits, model_args, raw_exchange
from server import ServerProcess

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
MAX_BODY = 200000


class CompressedBodies(ServerTestCase):
    server_args = ["--max-body", str(MAX_BODY)]

    def decode(self, body, coding, **headers):
        h = {"Content-Encoding": coding}
        h.update(headers)
        return self.client.request("POST", "/decode?format=json", body=body, headers=h,
                                   content_type="application/json")

    def assert_error(self, resp, status, etype, fragment):
        self.assertEqual(resp.status, status, resp)
        err = resp.json()["error"]
        self.assertEqual((err["code"], err["type"]), (status, etype), err)
        self.assertIn(fragment.lower(), err["message"].lower(), err)

    def test_gzip_and_deflate_bodies_equal_plain(self):
        body = json.dumps({"z": [[0.1 * i] * self.d for i in range(3)]}).encode()
        plain = self.client.post("/decode?format=json", json.loads(body)).json()
        for coding, data in (("gzip", gzip.compress(body)), ("deflate", zlib.compress(body)),
                             ("GZIP", gzip.compress(body, 1)), ("x-gzip", gzip.compress(body)),
                             ("identity", body)):
            with self.subTest(coding=coding):
                resp = self.decode(data, coding)
                self.assertEqual(resp.status, 200, resp)
                self.assertEqual(resp.json(), plain)

    def test_png_body_gzipped(self):
        from common import png_of
        png = png_of(digits().digit(7))
        plain = self.client.post_png("/encode", png).json()
        resp = self.client.request("POST", "/encode", body=gzip.compress(png),
                                   headers={"Content-Encoding": "gzip"}, content_type="image/png")
        self.assertEqual((resp.status, resp.json()), (200, plain))

    def test_decompression_bomb_is_413(self):
        # 64 MB of zeros in about 64 kB: refused at the 200 kB cap, the server stays healthy
        bomb = gzip.compress(b"{\"z\": [" + b" " * (64 << 20) + b"0]}", 9)
        self.assertLess(len(bomb), MAX_BODY)
        resp = self.decode(bomb, "gzip")
        self.assert_error(resp, 413, "payload_too_large", "inflates past the %d-byte limit" % MAX_BODY)
        # exactly at the cap is accepted; one byte more is not
        z = json.dumps({"z": [0.0] * self.d})
        at_cap = (z[:-1] + " " * (MAX_BODY - len(z)) + "}").encode()
        self.assertEqual(len(at_cap), MAX_BODY)
        self.assertEqual(self.decode(gzip.compress(at_cap), "gzip").status, 200)
        over = (z[:-1] + " " * (MAX_BODY - len(z) + 1) + "}").encode()
        self.assert_error(self.decode(gzip.compress(over), "gzip"), 413, "payload_too_large", "inflates past")

    def test_damaged_streams_are_400(self):
        body = json.dumps({"z": [0.0] * self.d}).encode()
        good = gzip.compress(body)
        flipped = bytearray(good)
        flipped[len(flipped) // 2] ^= 0x40
        bad_crc = bytearray(good)
        bad_crc[-8] ^= 1  # the CRC-32 of the trailer
        cases = [
            ("truncated gzip", good[:-10], "gzip", "truncated"),
            ("gzip with a flipped byte", bytes(flipped), "gzip", "damaged"),
            ("gzip with a wrong CRC", bytes(bad_crc), "gzip", "damaged"),
            ("bytes after the gzip member", good + b"junk", "gzip", "after the end"),
            ("two gzip members", good + good, "gzip", "after the end"),
            ("not gzip at all", body, "gzip", "damaged"),
            ("raw deflate sent as deflate", zlib.compress(body)[2:-4], "deflate", "zlib format"),
            ("empty gzip body", b"", "gzip", "empty"),
        ]
        for name, data, coding, fragment in cases:
            with self.subTest(case=name):
                self.assert_error(self.decode(data, coding), 400, "invalid_encoding", fragment)

    def test_unsupported_codings_are_415(self):
        body = json.dumps({"z": [0.0] * self.d}).encode()
        for coding in ("br", "compress", "gzip, deflate", "zstd"):
            with self.subTest(coding=coding):
                self.assert_error(self.decode(body, coding), 415, "unsupported_media_type", "Content-Encoding")

    def test_gzip_replies(self):
        z = {"z": [[0.1] * self.d] * 4}
        plain = self.client.post("/decode?format=json", z)
        self.assertIsNone(plain.header("Content-Encoding"))
        self.assertEqual(plain.header("Vary"), "Accept-Encoding")
        for accept in ("gzip", "deflate, gzip;q=0.5", "*", "GZIP"):
            with self.subTest(accept=accept):
                resp = self.client.post("/decode?format=json", z, headers={"Accept-Encoding": accept})
                self.assertEqual(resp.header("Content-Encoding"), "gzip")
                self.assertEqual(json.loads(gzip.decompress(resp.body)), plain.json())
                self.assertLess(len(resp.body), len(plain.body) / 2)
        for accept in ("gzip;q=0", "identity", "deflate", "*;q=0", "gzip;q=0, *"):
            with self.subTest(accept=accept):
                resp = self.client.post("/decode?format=json", z, headers={"Accept-Encoding": accept})
                self.assertIsNone(resp.header("Content-Encoding"))
                self.assertEqual(resp.body, plain.body)
        # small replies and PNGs are sent as they are
        small = self.client.get("/health", headers={"Accept-Encoding": "gzip"})
        self.assertIsNone(small.header("Content-Encoding"))
        png = self.client.get("/sample?n=4&seed=1", headers={"Accept-Encoding": "gzip"})
        self.assertIsNone(png.header("Content-Encoding"))
        self.assertTrue(png.body.startswith(b"\x89PNG"))


class RequestIds(ServerTestCase):

    def test_sane_ids_are_kept(self):
        for rid in ("abc", "0123-4567_89.ab:cd/ef+gh=ij@kl", "x" * 128):
            with self.subTest(id=rid):
                resp = self.client.get("/health", headers={"X-Request-Id": rid})
                self.assertEqual(resp.header("X-Request-Id"), rid)

    def test_other_ids_are_replaced(self):
        seen = set()
        for rid in ("", "has space", "quote\"", "x" * 129, "semi;colon", "caf\u00e9".encode().decode("latin-1")):
            with self.subTest(id=rid):
                resp = self.client.get("/health", headers={"X-Request-Id": rid})
                got = resp.header("X-Request-Id")
                self.assertRegex(got, UUID)
                seen.add(got)
        resp = self.client.get("/health")
        self.assertRegex(resp.header("X-Request-Id"), UUID)
        seen.add(resp.header("X-Request-Id"))
        self.assertEqual(len(seen), 7, "generated IDs repeat")

    def test_on_every_reply(self):
        z = {"z": [0.0] * self.d}
        for method, path, body in (("GET", "/nope", None), ("POST", "/decode", {"z": [1]}),
                                   ("DELETE", "/decode", None), ("OPTIONS", "/decode", None),
                                   ("GET", "/v2/models/nope-encoder", None), ("POST", "/decode", z),
                                   ("GET", "/sample?n=2", None)):
            with self.subTest(method=method, path=path):
                resp = self.client.request(method, path, body=body, headers={"X-Request-Id": "trace-7"})
                self.assertEqual(resp.header("X-Request-Id"), "trace-7", resp)
        # refused at the headers, before any body is read
        raw = raw_exchange(self.server.port, b"POST /decode HTTP/1.1\r\nHost: t\r\nX-Request-Id: early-1\r\n"
                                             b"Content-Length: 999999999999\r\nConnection: close\r\n\r\n")
        self.assertEqual(raw.status, 413)
        self.assertEqual(raw.header("X-Request-Id"), "early-1")

    def test_oip_response_id(self):
        body = {"inputs": [{"name": "z", "shape": [1, self.d], "datatype": "FP32", "data": [0.0] * self.d}]}
        resp = self.client.post("/v2/models/mnist-decoder/infer", body, headers={"X-Request-Id": "corr-42"})
        self.assertEqual(resp.json()["id"], "corr-42")
        resp = self.client.post("/v2/models/mnist-decoder/infer", dict(body, id="mine"),
                                headers={"X-Request-Id": "corr-43"})
        self.assertEqual((resp.json()["id"], resp.header("X-Request-Id")), ("mine", "corr-43"))

    def test_in_the_access_log(self):
        for fmt in ("text", "json"):
            with self.subTest(format=fmt):
                srv = ServerProcess(model_args() + ["--log-format", fmt])
                srv.start()
                try:
                    c = Client(srv.port)
                    c.get("/health", headers={"X-Request-Id": "log-me-1"})
                    generated = c.get("/nope").header("X-Request-Id")
                finally:
                    srv.stop()
                lines = srv.stdout.splitlines()
                if fmt == "text":
                    self.assertTrue(any(l.endswith(" id=log-me-1") and " /health 200 " in l for l in lines), lines)
                    self.assertTrue(any(l.endswith(" id=" + generated) for l in lines), lines)
                else:
                    entries = [json.loads(l) for l in lines]
                    ids = {e["path"]: e["request_id"] for e in entries if e["path"] != "/ready"}
                    self.assertEqual(ids["/health"], "log-me-1")
                    self.assertEqual(ids["/nope"], generated)


if __name__ == "__main__":
    unittest.main()
