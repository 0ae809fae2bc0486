"""The Open Inference Protocol's binary tensor data extension, from both sides, with a client written
from the extension's text (Triton's and KServe's "Binary Tensor Data Extension"): a request is a JSON
header of Inference-Header-Content-Length bytes whose binary inputs carry
"parameters": {"binary_data_size": S} and no "data", followed by each input's raw little-endian
row-major bytes in order; a reply whose outputs were asked for as binary ("binary_data": true, or
"binary_data_output": true for every output) has the same framing. Mixed JSON and binary both
ways; every malformed framing is a 400 that says what is wrong; results are exactly /encode's and
/decode's."""
import gzip
import json
import struct
import unittest

from common import ServerTestCase, digits


def pixels(label, k=0):
    return [v / 255.0 for v in digits().digit(label, k)]


def f32(values):
    return struct.pack("<%df" % len(values), *values)


def unf32(data):
    return list(struct.unpack("<%df" % (len(data) // 4), data))


def exact(values):
    """The float32 values of a list, as Python floats (what the server computes with)."""
    return unf32(f32(values))


def binary_request(name, rows, outputs=None, parameters=None, json_data=False):
    """(header JSON bytes, binary part) of an inference request with one FP32 input."""
    flat = [v for r in rows for v in r]
    entry = {"name": name, "shape": [len(rows), len(rows[0])], "datatype": "FP32"}
    if json_data:
        entry["data"] = flat
        tail = b""
    else:
        tail = f32(flat)
        entry["parameters"] = {"binary_data_size": len(tail)}
    body = {"inputs": [entry]}
    if outputs is not None:
        body["outputs"] = outputs
    if parameters is not None:
        body["parameters"] = parameters
    return json.dumps(body).encode(), tail


def parse_reply(resp):
    """{name: (shape, values, was_binary)} of an inference reply, binary or JSON; values as the
    float32 numbers they stand for (a JSON number is the shortest decimal of its float32)."""
    length = resp.header("Inference-Header-Content-Length")
    if length is None:
        header, rest = resp.body, b""
    else:
        header, rest = resp.body[:int(length)], resp.body[int(length):]
    reply = json.loads(header)
    out, at = {}, 0
    for o in reply["outputs"]:
        size = (o.get("parameters") or {}).get("binary_data_size")
        if size is None:
            out[o["name"]] = (o["shape"], exact(o["data"]), False)
        else:
            assert "data" not in o, o
            out[o["name"]] = (o["shape"], unf32(rest[at:at + size]), True)
            at += size
    assert at == len(rest), "the reply has %d bytes after its outputs" % (len(rest) - at)
    return reply, out


class BinaryTensors(ServerTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.images = [pixels(label) for label in (3, 8, 1)]

    def send(self, model, header, tail, content_type=None, headers=None, length=None):
        h = {"Inference-Header-Content-Length": str(len(header) if length is None else length)}
        h.update(headers or {})
        return self.client.request("POST", "/v2/models/%s/infer" % model, body=header + tail, headers=h,
                                   content_type=content_type)

    def ok(self, resp):
        self.assertEqual(resp.status, 200, resp)
        return parse_reply(resp)

    def bad(self, resp, *fragments):
        self.assertEqual(resp.status, 400, resp)
        self.assertTrue(resp.content_type.startswith("application/json"), resp)
        message = resp.json()["error"]
        for f in fragments:
            self.assertIn(f.lower(), message.lower(), message)
        self.assertEqual(self.client.get("/health").status, 200)

    def test_encoder_binary_both_ways_equals_encode(self):
        want = self.client.post("/encode", {"pixels": self.images}).json()
        header, tail = binary_request("x", self.images, parameters={"binary_data_output": True})
        for ctype in (None, "application/octet-stream", "application/json"):
            with self.subTest(content_type=ctype):
                resp = self.send("mnist-encoder", header, tail, content_type=ctype)
                self.assertEqual(resp.content_type, "application/octet-stream")
                reply, out = self.ok(resp)
                self.assertEqual(reply["model_name"], "mnist-encoder")
                self.assertEqual(out["mu"], ([3, self.d], exact([v for r in want["mu"] for v in r]), True))
                self.assertEqual(out["logvar"], ([3, self.d], exact([v for r in want["logvar"] for v in r]), True))

    def test_decoder_binary_both_ways_equals_decode(self):
        zs = [[0.1 * (i - 16)] * self.d for i in range(4)]
        want = self.client.post("/decode?format=json", {"z": zs}).json()["pixels"]
        header, tail = binary_request("z", zs, outputs=[{"name": "x", "parameters": {"binary_data": True}}])
        reply, out = self.ok(self.send("mnist-decoder", header, tail))
        self.assertEqual(out["x"], ([4, 784], exact([v for r in want for v in r]), True))

    def test_mixed_json_and_binary(self):
        want = self.client.post("/encode", {"pixels": self.images[:2]}).json()
        mu = exact([v for r in want["mu"] for v in r])
        logvar = exact([v for r in want["logvar"] for v in r])
        cases = [
            # binary input, JSON outputs
            (dict(), False, {"mu": False, "logvar": False}),
            # JSON input, binary outputs
            (dict(parameters={"binary_data_output": True}), True, {"mu": True, "logvar": True}),
            # one binary output, one JSON
            (dict(outputs=[{"name": "logvar", "parameters": {"binary_data": True}}, {"name": "mu"}]), False,
             {"logvar": True, "mu": False}),
            # binary_data_output for all, one output overriding it
            (dict(parameters={"binary_data_output": True},
                  outputs=[{"name": "mu", "parameters": {"binary_data": False}}, {"name": "logvar"}]), False,
             {"mu": False, "logvar": True}),
        ]
        for extra, json_data, binary in cases:
            with self.subTest(extra=extra, json_input=json_data):
                header, tail = binary_request("x", self.images[:2], json_data=json_data, **extra)
                if json_data:
                    resp = self.client.post("/v2/models/mnist-encoder/infer", json.loads(header))
                else:
                    resp = self.send("mnist-encoder", header, tail)
                reply, out = self.ok(resp)
                self.assertEqual([o["name"] for o in reply["outputs"]], list(binary))
                for name, is_binary in binary.items():
                    self.assertEqual(out[name][2], is_binary, name)
                    self.assertEqual(out[name][1], mu if name == "mu" else logvar, name)
                if not any(binary.values()):
                    self.assertIsNone(resp.header("Inference-Header-Content-Length"))
                    self.assertTrue(resp.content_type.startswith("application/json"))

    def test_sagemaker_media_type(self):
        header, tail = binary_request("x", self.images[:1], parameters={"binary_data_output": True})
        ctype = "application/vnd.sagemaker-triton.binary+json;json-header-size=%d" % len(header)
        resp = self.client.request("POST", "/v2/models/mnist-encoder/infer", body=header + tail,
                                   content_type=ctype)
        _, out = self.ok(resp)
        want = self.client.post("/encode", {"pixels": self.images[0]}).json()
        self.assertEqual(out["mu"][1], exact(want["mu"]))

    def test_gzip_binary_body(self):
        header, tail = binary_request("x", self.images, parameters={"binary_data_output": True})
        plain = self.ok(self.send("mnist-encoder", header, tail))[1]
        body = gzip.compress(header + tail)
        resp = self.client.request("POST", "/v2/models/mnist-encoder/infer", body=body,
                                   headers={"Inference-Header-Content-Length": str(len(header)),
                                            "Content-Encoding": "gzip"})
        self.assertEqual(self.ok(resp)[1], plain)

    def test_bad_framing(self):
        x = self.images[:1]
        header, tail = binary_request("x", x)
        size = len(tail)
        with_data = json.dumps({"inputs": [{"name": "x", "shape": [1, 784], "datatype": "FP32", "data": x[0],
                                            "parameters": {"binary_data_size": size}}]}).encode()
        wrong_size = json.dumps({"inputs": [{"name": "x", "shape": [1, 784], "datatype": "FP32",
                                             "parameters": {"binary_data_size": size - 4}}]}).encode()
        cases = [
            ("header length past the body", self.send("mnist-encoder", header, tail, length=len(header) + size + 1),
             ["Inference-Header-Content-Length is", "only"]),
            ("header length not a number", self.send("mnist-encoder", header, tail, length="12a"), ["not '12a'"]),
            ("header length zero", self.send("mnist-encoder", header, tail, length=0), ["length in bytes"]),
            ("header length negative", self.send("mnist-encoder", header, tail, length="-5"), ["not '-5'"]),
            ("header length cuts the JSON", self.send("mnist-encoder", header, tail, length=len(header) - 3),
             ["not valid JSON"]),
            ("bytes left over", self.send("mnist-encoder", header, tail + b"\0\0\0\0"), ["add up to"]),
            ("bytes missing", self.send("mnist-encoder", header, tail[:-4]), ["only", "follow the JSON header"]),
            ("size disagrees with the shape", self.send("mnist-encoder", wrong_size, tail[:-4]),
             ["binary_data_size is", "shape [1, 784]"]),
            ("binary input with data", self.send("mnist-encoder", with_data, tail), ["both binary_data_size and data"]),
            ("binary input without a binary part",
             self.client.post("/v2/models/mnist-encoder/infer", json.loads(header)), ["no binary part"]),
            ("octet-stream without the header",
             self.client.request("POST", "/v2/models/mnist-encoder/infer", body=header + tail,
                                 content_type="application/octet-stream"), ["needs Inference-Header-Content-Length"]),
            ("json-header-size disagrees",
             self.send("mnist-encoder", header, tail,
                       content_type="application/vnd.sagemaker-triton.binary+json;json-header-size=%d"
                       % (len(header) + 1)), ["disagree"]),
            ("NaN in the binary data", self.send("mnist-encoder", header, f32([float("nan")]) + tail[4:]),
             ["value 0", "finite"]),
            ("pixel above 1", self.send("mnist-encoder", header, tail[:8] + f32([2.0]) + tail[12:]),
             ["value 2", "0..1"]),
            ("negative binary_data_size",
             self.send("mnist-encoder", header.replace(b'"binary_data_size": %d' % size, b'"binary_data_size": -1'),
                       tail), ["non-negative integer"]),
        ]
        for name, resp, fragments in cases:
            with self.subTest(case=name):
                self.bad(resp, *fragments)

    def test_duplicate_header_length(self):
        header, tail = binary_request("x", self.images[:1])
        raw = (b"POST /v2/models/mnist-encoder/infer HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
               b"Inference-Header-Content-Length: %d\r\nInference-Header-Content-Length: %d\r\n"
               b"Content-Length: %d\r\n\r\n" % (len(header), len(header), len(header) + len(tail))) + header + tail
        from common import raw_exchange
        resp = raw_exchange(self.server.port, raw)
        self.assertEqual(resp.status, 400)
        self.assertIn("more than one Inference-Header-Content-Length", resp.json()["error"])

    def test_bytes_on_the_wire(self):
        """The extension's point: fewer bytes than JSON both ways (make bench has the figures)."""
        rows = [pixels(i % 10, i // 10) for i in range(64)]
        header, tail = binary_request("x", rows, parameters={"binary_data_output": True})
        as_json = binary_request("x", rows, json_data=True)[0]
        self.assertLess(len(header) + len(tail), len(as_json))
        binary = self.send("mnist-encoder", header, tail)
        text = self.client.post("/v2/models/mnist-encoder/infer", json.loads(as_json))
        self.assertEqual(parse_reply(binary)[1]["mu"][1], parse_reply(text)[1]["mu"][1])
        self.assertLess(len(binary.body), len(text.body) / 2)


if __name__ == "__main__":
    unittest.main()
