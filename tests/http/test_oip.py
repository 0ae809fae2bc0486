"""The Open Inference Protocol (KServe V2 / Triton HTTP) endpoints under /v2: server metadata,
health, model metadata and readiness, inference (flat and nested data, batches, output selection,
parameters, the versioned paths), every error case in the protocol's {"error": "..."} shape, and
the API key. Inference must give exactly the numbers of /encode and /decode."""
import json
import unittest

from common import Client, ServerTestCase, digits
from server import ServerProcess

KEY = "oip-secret"


def pixels(label, k=0):
    return [v / 255.0 for v in digits().digit(label, k)]


def flat(rows):
    return [v for row in rows for v in row]


def infer_body(name, rows, nested=False, **extra):
    body = {"inputs": [{"name": name, "shape": [len(rows), len(rows[0])], "datatype": "FP32",
                        "data": [list(r) for r in rows] if nested else flat(rows)}]}
    body.update(extra)
    return body


class OipTestCase(ServerTestCase):

    def infer(self, model, body, path=None):
        resp = self.client.post(path or "/v2/models/%s/infer" % model, body)
        self.assertEqual(resp.status, 200, resp)
        self.assertTrue(resp.content_type.startswith("application/json"), resp.content_type)
        return resp.json()

    def outputs(self, reply):
        """{name: (shape, data)} of an inference response."""
        return {o["name"]: (o["shape"], o["data"]) for o in reply["outputs"]}

    def assert_oip_error(self, resp, status, *fragments):
        """The protocol's error shape: exactly {"error": message}, JSON; then the server still
        answers a valid request."""
        self.assertEqual(resp.status, status, resp)
        self.assertTrue((resp.header("Content-Type") or "").startswith("application/json"), resp)
        body = resp.json()
        self.assertEqual(list(body), ["error"], body)
        self.assertIsInstance(body["error"], str, body)
        for fragment in fragments:
            self.assertIn(fragment.lower(), body["error"].lower(),
                          "message %r lacks %r" % (body["error"], fragment))
        self.assert_alive()
        return body["error"]


class Metadata(OipTestCase):

    def test_server_metadata(self):
        resp = self.client.get("/v2")
        self.assertEqual(resp.status, 200, resp)
        self.assertTrue(resp.content_type.startswith("application/json"))
        version = self.client.get("/").json()["version"]
        self.assertEqual(resp.json(), {"name": "vae-server", "version": version,
                                       "extensions": ["binary_tensor_data", "statistics", "model_repository"]})

    def test_live(self):
        resp = self.client.get("/v2/health/live")
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.json(), {"live": True})

    def test_ready(self):
        resp = self.client.get("/v2/health/ready")
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.json(), {"ready": True})

    def test_model_metadata(self):
        for name, model in self.models.items():
            d = model["latent_dim"]
            expected = {
                name + "-encoder": {
                    "name": name + "-encoder", "versions": ["1"], "platform": "vae-server",
                    "inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 784]}],
                    "outputs": [{"name": "mu", "datatype": "FP32", "shape": [-1, d]},
                                {"name": "logvar", "datatype": "FP32", "shape": [-1, d]}]},
                name + "-decoder": {
                    "name": name + "-decoder", "versions": ["1"], "platform": "vae-server",
                    "inputs": [{"name": "z", "datatype": "FP32", "shape": [-1, d]}],
                    "outputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 784]}]},
            }
            for oip_name, want in expected.items():
                for path in ("/v2/models/" + oip_name, "/v2/models/%s/versions/1" % oip_name):
                    with self.subTest(path=path):
                        resp = self.client.get(path)
                        self.assertEqual(resp.status, 200, resp)
                        self.assertTrue(resp.content_type.startswith("application/json"))
                        self.assertEqual(resp.json(), want)

    def test_model_ready(self):
        for name in self.models:
            for face in ("-encoder", "-decoder"):
                for path in ("/v2/models/%s%s/ready", "/v2/models/%s%s/versions/1/ready"):
                    with self.subTest(path=path % (name, face)):
                        resp = self.client.get(path % (name, face))
                        self.assertEqual(resp.status, 200, resp)
                        self.assertEqual(resp.json(), {"name": name + face, "ready": True})

    def test_head(self):
        for path in ("/v2", "/v2/health/live", "/v2/health/ready", "/v2/models/mnist-encoder"):
            with self.subTest(path=path):
                resp = self.client.request("HEAD", path)
                self.assertEqual(resp.status, 200)
                self.assertEqual(resp.body, b"")

    def test_unknown_model(self):
        for name in ("nosuch-encoder", "nosuch-decoder", "mnist", "mnist-encoderx", "-encoder", "mnist-",
                     "MNIST-encoder", "mnist-Decoder", "mnist%20-encoder"):
            for method, path, body in (("GET", "/v2/models/%s", None), ("GET", "/v2/models/%s/ready", None),
                                       ("GET", "/v2/models/%s/versions/1", None),
                                       ("POST", "/v2/models/%s/infer", infer_body("z", [[0.0] * self.d])),
                                       ("POST", "/v2/models/%s/versions/1/infer", infer_body("z", [[0.0] * self.d]))):
                with self.subTest(model=name, path=path):
                    resp = self.client.request(method, path % name, body=body)
                    msg = self.assert_oip_error(resp, 404, "no model")
                    for known in self.models:
                        self.assertIn(known + "-encoder", msg)
                        self.assertIn(known + "-decoder", msg)

    def test_unknown_version_is_not_found(self):
        # a model's version is its file's load count (1 until a changed file is reloaded); any other
        # version is a 404 that names the one serving, and an empty segment matches no route
        for method, path in (("GET", "/v2/models/mnist-encoder/versions/2"),
                             ("POST", "/v2/models/mnist-encoder/versions/2/infer"),
                             ("GET", "/v2/models/mnist-encoder/versions/2/ready"),
                             ("GET", "/v2/models/mnist-encoder/versions/2/stats")):
            with self.subTest(path=path):
                body = infer_body("z", [[0.0] * self.d]) if method == "POST" else None
                self.assert_oip_error(self.client.request(method, path, body=body), 404, "has version 1, not '2'")
        self.assertEqual(self.client.get("/v2/models/mnist-encoder/versions//ready").status, 404)

    def test_query_parameters_are_ignored(self):
        # the protocol's clients add their own parameters; the protocol's servers ignore them (the
        # native routes refuse unknown ones)
        for path in ("/v2?x=1", "/v2/models/mnist-encoder?model=mnist", "/v2/models/mnist-encoder/ready?a"):
            with self.subTest(path=path):
                plain = self.client.get(path.split("?")[0])
                resp = self.client.get(path)
                self.assertEqual((resp.status, resp.json()), (200, plain.json()))
        body = infer_body("z", [[0.25] * self.d])
        plain = self.client.post("/v2/models/mnist-decoder/infer", body).json()
        resp = self.client.post("/v2/models/mnist-decoder/infer?model=fashion&timeout=5", body)
        self.assertEqual(resp.status, 200, resp.body)
        got = resp.json()
        self.assertEqual((got.pop("id") != "", plain.pop("id") != ""), (True, True))
        self.assertEqual(got, plain, "?model= must not switch the model on /v2")

    def test_wrong_method(self):
        # 405 comes from the HTTP layer, before the handler (the project's error shape)
        resp = self.client.get("/v2/models/mnist-encoder/infer")
        self.assertEqual(resp.status, 405)
        self.assertEqual(resp.header("Allow"), "POST, OPTIONS")
        self.assertEqual(self.client.post("/v2/health/ready", {}).status, 405)


class Inference(OipTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.images = [pixels(label, k) for label, k in ((0, 0), (3, 1), (8, 2))]

    def test_encode_equals_slash_encode(self):
        want = self.encode_json({"pixels": self.images})
        for nested in (False, True):
            with self.subTest(nested=nested):
                reply = self.infer("mnist-encoder", infer_body("x", self.images, nested=nested))
                self.assertEqual(reply["model_name"], "mnist-encoder")
                self.assertEqual(reply["model_version"], "1")
                # no id in the request: the request's X-Request-Id (generated here) answers for it
                self.assertRegex(reply["id"], r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
                self.assertEqual([o["name"] for o in reply["outputs"]], ["mu", "logvar"])
                out = self.outputs(reply)
                for name in ("mu", "logvar"):
                    shape, data = out[name]
                    self.assertEqual(shape, [3, self.d])
                    self.assertEqual(data, flat(want[name]), "%s differs from /encode" % name)
                for o in reply["outputs"]:
                    self.assertEqual(o["datatype"], "FP32")

    def test_single_image(self):
        want = self.encode_json({"pixels": self.images[1]})
        out = self.outputs(self.infer("mnist-encoder", infer_body("x", self.images[1:2])))
        self.assertEqual(out["mu"], ([1, self.d], want["mu"]))
        self.assertEqual(out["logvar"], ([1, self.d], want["logvar"]))

    def test_decode_equals_slash_decode(self):
        zs = [[0.0] * self.d, [0.5 - 0.03 * i for i in range(self.d)], [-1.25] * self.d]
        want = self.decode_json(zs)
        for nested in (False, True):
            with self.subTest(nested=nested):
                reply = self.infer("mnist-decoder", infer_body("z", zs, nested=nested))
                self.assertEqual(reply["model_name"], "mnist-decoder")
                self.assertEqual([o["name"] for o in reply["outputs"]], ["x"])
                shape, data = self.outputs(reply)["x"]
                self.assertEqual(shape, [3, 784])
                self.assertEqual(data, flat(want))

    def test_round_trip_through_both_faces(self):
        mu = self.outputs(self.infer("mnist-encoder", infer_body("x", self.images)))["mu"][1]
        rows = [mu[i * self.d:(i + 1) * self.d] for i in range(3)]
        shape, data = self.outputs(self.infer("mnist-decoder", infer_body("z", rows)))["x"]
        resp = self.client.post("/reconstruct?format=json", {"pixels": self.images})
        self.assertEqual(data, flat(resp.json()["pixels"]))

    def test_second_model(self):
        want = self.client.post("/encode?model=fashion", {"pixels": self.images[:2]}).json()
        out = self.outputs(self.infer("fashion-encoder", infer_body("x", self.images[:2])))
        self.assertEqual(out["mu"][1], flat(want["mu"]))

    def test_versioned_paths(self):
        body = infer_body("x", self.images)
        a = self.infer("mnist-encoder", body)
        b = self.infer(None, body, path="/v2/models/mnist-encoder/versions/1/infer")
        a.pop("id")
        b.pop("id")
        self.assertEqual(a, b)

    def test_id_is_echoed(self):
        for rid in ("42", "", "request \u00e9\u00e8 \"quoted\" \\ \n"):
            with self.subTest(id=rid):
                reply = self.infer("mnist-decoder", infer_body("z", [[0.0] * self.d], id=rid))
                self.assertEqual(reply["id"], rid)
                self.assertEqual(list(reply), ["model_name", "model_version", "id", "outputs"])

    def test_output_selection(self):
        body = infer_body("x", self.images[:1])
        everything = self.outputs(self.infer("mnist-encoder", body))
        for asked, names in (([{"name": "logvar"}], ["logvar"]), ([{"name": "mu"}], ["mu"]),
                             ([{"name": "logvar"}, {"name": "mu"}], ["logvar", "mu"]),
                             ([], ["mu", "logvar"]),
                             ([{"name": "mu", "parameters": {"binary_data": False}}], ["mu"])):
            with self.subTest(outputs=asked):
                reply = self.infer("mnist-encoder", dict(body, outputs=asked))
                self.assertEqual([o["name"] for o in reply["outputs"]], names)
                for o in reply["outputs"]:
                    self.assertEqual((o["shape"], o["data"]), everything[o["name"]])
        reply = self.infer("mnist-decoder", infer_body("z", [[0.0] * self.d], outputs=[{"name": "x"}]))
        self.assertEqual([o["name"] for o in reply["outputs"]], ["x"])

    def test_parameters_are_accepted(self):
        body = infer_body("x", self.images[:1], parameters={"binary_data_output": False, "priority": 3,
                                                            "note": "ignored"})
        body["inputs"][0]["parameters"] = {"content_type": "np"}
        out = self.outputs(self.infer("mnist-encoder", body))
        self.assertEqual(out["mu"][1], self.encode_json({"pixels": self.images[0]})["mu"])

    def test_integers_are_numbers(self):
        # JSON integers are valid FP32 data: 0 and 1 are pixel values
        rows = [[i % 2 for i in range(784)]]
        want = self.encode_json({"pixels": rows[0]})
        self.assertEqual(self.outputs(self.infer("mnist-encoder", infer_body("x", rows)))["mu"][1], want["mu"])

    def test_max_batch(self):
        zs = [[0.01 * i] * self.d for i in range(256)]
        shape, data = self.outputs(self.infer("mnist-decoder", infer_body("z", zs)))["x"]
        self.assertEqual(shape, [256, 784])
        self.assertEqual(len(data), 256 * 784)
        resp = self.client.post("/v2/models/mnist-decoder/infer", infer_body("z", zs + [zs[0]]))
        self.assert_oip_error(resp, 400, "257 rows", "1 to 256", "--max-batch")

    def test_content_type_may_be_absent(self):
        body = json.dumps(infer_body("z", [[0.0] * self.d])).encode()
        resp = self.client.request("POST", "/v2/models/mnist-decoder/infer", body=body)
        self.assertEqual(resp.status, 200, resp)
        resp = self.client.post("/v2/models/mnist-decoder/infer", body, content_type="application/json; charset=utf-8")
        self.assertEqual(resp.status, 200, resp)


class Errors(OipTestCase):
    """Every request the protocol or the model cannot use: 400 with {"error": message}."""

    def bad(self, model, body, *fragments, status=400, raw=False, headers=None):
        path = "/v2/models/%s/infer" % model
        if raw:
            resp = self.client.request("POST", path, body=body, headers=headers,
                                       content_type="application/json")
        else:
            resp = self.client.post(path, body, headers=headers)
        return self.assert_oip_error(resp, status, *fragments)

    def x(self, n=1, **fields):
        entry = {"name": "x", "shape": [n, 784], "datatype": "FP32", "data": [0.0] * (784 * n)}
        entry.update(fields)
        return {"inputs": [entry]}

    def z(self, n=1, **fields):
        entry = {"name": "z", "shape": [n, self.d], "datatype": "FP32", "data": [0.0] * (self.d * n)}
        entry.update(fields)
        return {"inputs": [entry]}

    def without(self, body, key):
        del body["inputs"][0][key]
        return body

    def test_datatype(self):
        for dt in ("FP64", "FP16", "INT32", "UINT8", "BYTES", "BOOL", "fp32", "FP32 "):
            with self.subTest(datatype=dt):
                self.bad("mnist-encoder", self.x(datatype=dt),
                         "input 'x': datatype %s is not supported; use FP32" % dt)
        self.bad("mnist-decoder", self.z(datatype=32), "datatype must be a string")
        self.bad("mnist-decoder", self.without(self.z(), "datatype"), "datatype must be a string")

    def test_input_name(self):
        self.bad("mnist-encoder", self.x(name="input0"), "unknown input 'input0'", "'x'", "[-1, 784]")
        self.bad("mnist-encoder", self.x(name="z"), "unknown input 'z'", "'x'")
        self.bad("mnist-decoder", self.z(name="x"), "unknown input 'x'", "'z'", "[-1, %d]" % self.d)
        self.bad("mnist-decoder", self.z(name=None), "name must be a string")
        self.bad("mnist-decoder", self.without(self.z(), "name"), "name must be a string")

    def test_inputs_list(self):
        two = self.z()
        two["inputs"].append(dict(two["inputs"][0]))
        self.bad("mnist-decoder", two, "inputs has 2 entries", "one input, 'z'")
        for inputs in ([], None, {}, "z", 3):
            with self.subTest(inputs=inputs):
                self.bad("mnist-decoder", {"inputs": inputs}, "inputs must be a list", "'z'")
        self.bad("mnist-decoder", {}, "inputs must be a list")
        self.bad("mnist-decoder", {"inputs": ["z"]}, "inputs[0] must be an object")
        self.bad("mnist-decoder", self.z(extra=1), "inputs[0]: unknown field 'extra'")

    def test_shape(self):
        d = self.d
        for shape, fragment in (([2, 784], "data has 784 values but the shape [2, 784] needs 1568"),
                                ([1, 783], "shape [1, 783] does not fit the model: it takes [N, 784]"),
                                ([784], "shape [784] does not fit"), ([1, 28, 28], "shape [1, 28, 28] does not fit"),
                                ([], "shape [] does not fit"), ([0, 784], "has 0 rows; give 1 to 256"),
                                ([-1, 784], ("non-negative integers", "-1 marks a variable size")),
                                ([1.5, 784], "non-negative integers"), (["1", 784], "non-negative integers"),
                                ("1x784", "non-negative integers"), (None, "non-negative integers")):
            with self.subTest(shape=shape):
                self.bad("mnist-encoder", self.x(shape=shape), *(fragment if isinstance(fragment, tuple) else (fragment,)))
        self.bad("mnist-encoder", self.without(self.x(), "shape"), "shape must be a list")
        self.bad("mnist-decoder", self.z(shape=[1, d + 1]), "shape [1, %d] does not fit" % (d + 1), "[N, %d]" % d)
        self.bad("mnist-decoder", self.z(shape=[1, 784]), "does not fit")
        self.bad("mnist-decoder", self.z(shape=[3, d]), "data has %d values but the shape [3, %d] needs %d" % (d, d, 3 * d))

    def test_data(self):
        d = self.d
        self.bad("mnist-decoder", self.without(self.z(), "data"), "input 'z' has no data")
        for data in (None, 0, "0", {"a": 1}):
            with self.subTest(data=data):
                self.bad("mnist-decoder", self.z(data=data), "data must be an array of numbers")
        self.bad("mnist-decoder", self.z(data=[]), "data has 0 values but the shape [1, %d] needs %d" % (d, d))
        self.bad("mnist-decoder", self.z(n=2, data=[[0.0] * d]), "data has 1 rows but the shape [2, %d] says 2" % d)
        self.bad("mnist-decoder", self.z(n=2, data=[[0.0] * d, [0.0] * (d - 1)]), "data[1] must be an array of %d" % d)
        self.bad("mnist-decoder", self.z(n=2, data=[[0.0] * d, 0.0]), "data[1] must be an array")
        self.bad("mnist-decoder", self.z(data=[[[0.0]] * d]), "data[0] must be an array of %d numbers" % d)
        self.bad("mnist-decoder", self.z(data=[0.0] * (d - 1) + [[0.0]]), "value %d (row 0, column %d) is not a number" % (d - 1, d - 1))

    def test_values(self):
        d = self.d
        for v in ("0.5", True, None, [0.5]):
            with self.subTest(value=v):
                data = [0.0] * 784
                data[30] = v
                self.bad("mnist-encoder", self.x(data=data), "value 30 (row 0, column 30) is not a number")
        for v, fragment in ((1.5, "is 1.5; pixel values must be in 0..1"), (-0.01, "is -0.01; pixel values"),
                            (1e39, "not a finite FP32 number")):
            with self.subTest(value=v):
                data = [0.0] * (2 * 784)
                data[784 + 5] = v
                self.bad("mnist-encoder", self.x(n=2, data=data), "value 789 (row 1, column 5)", fragment)
        data = [0.0] * d
        data[1] = 3.5e38
        self.bad("mnist-decoder", self.z(data=data), "value 1 (row 0, column 1) is not a finite FP32 number")
        self.bad("mnist-decoder", b'{"inputs":[{"name":"z","shape":[1,%d],"datatype":"FP32","data":[1e999%s]}]}'
                 % (d, b",0" * (d - 1)), "not a finite FP32 number", raw=True)

    def test_outputs(self):
        d = self.d
        self.bad("mnist-encoder", dict(self.x(), outputs=[{"name": "z"}]), "unknown output 'z'",
                 "outputs 'mu' and 'logvar'")
        self.bad("mnist-decoder", dict(self.z(), outputs=[{"name": "mu"}]), "unknown output 'mu'", "one output, 'x'")
        self.bad("mnist-encoder", dict(self.x(), outputs=[{"name": "mu"}, {"name": "mu"}]),
                 "output 'mu' is requested twice")
        for outputs, fragment in (([{}], "outputs[0] must be an object with a string name"),
                                  (["mu"], "outputs[0] must be an object"),
                                  ([{"name": 1}], "outputs[0] must be an object with a string name"),
                                  ({"name": "mu"}, "outputs must be a list"), ("mu", "outputs must be a list"),
                                  ([{"name": "mu", "shape": [1, d]}], "outputs[0]: unknown field 'shape'"),
                                  ([{"name": "mu"}, {"name": "logvar", "parameters": []}],
                                   "outputs[1]: parameters must be an object")):
            with self.subTest(outputs=outputs):
                self.bad("mnist-encoder", dict(self.x(), outputs=outputs), fragment)

    def test_request_fields(self):
        self.bad("mnist-decoder", dict(self.z(), model_name="x"), "unknown field 'model_name'",
                 "id, parameters, inputs, outputs")
        self.bad("mnist-decoder", dict(self.z(), id=42), "id must be a string")
        self.bad("mnist-decoder", dict(self.z(), id=None), "id must be a string")
        d = self.d
        dup = b'{"id":"a","id":"b","inputs":[{"name":"z","shape":[1,%d],"datatype":"FP32","data":[%s]}]}' % (
            d, b",".join([b"0"] * d))
        self.bad("mnist-decoder", dup, "'id' appears more than once", raw=True)
        dup_in = b'{"inputs":[{"name":"z","name":"z","shape":[1,%d],"datatype":"FP32","data":[%s]}]}' % (
            d, b",".join([b"0"] * d))
        self.bad("mnist-decoder", dup_in, "inputs[0]: field 'name' appears more than once", raw=True)

    def test_parameters(self):
        for params, fragment in (([], "request: parameters must be an object"),
                                 ("x", "request: parameters must be an object"),
                                 ({"a": {"b": 1}}, "parameter 'a' must be a string, a number or a boolean"),
                                 ({"a": None}, "parameter 'a' must be"), ({"a": [1]}, "parameter 'a' must be")):
            with self.subTest(parameters=params):
                self.bad("mnist-decoder", dict(self.z(), parameters=params), fragment)
        for key in ("shared_memory_region", "shared_memory_byte_size"):
            with self.subTest(parameter=key):
                self.bad("mnist-decoder", self.z(parameters={key: 128}), "inputs[0]: parameter '%s'" % key,
                         "extension", "\"data\"")
        # the binary extension's parameters, with JSON data too or in the wrong place
        self.bad("mnist-decoder", self.z(parameters={"binary_data_size": 128}), "both binary_data_size and data")
        self.bad("mnist-decoder", self.z(parameters={"binary_data_output": True}), "belongs in the request's")
        self.bad("mnist-decoder", dict(self.z(), parameters={"binary_data": True}), "belongs in an output's")
        self.bad("mnist-decoder", self.z(parameters=[]), "inputs[0]: parameters must be an object")

    def test_binary_header_length_past_the_body(self):
        self.bad("mnist-decoder", self.z(), "Inference-Header-Content-Length is 100000 but the body has only",
                 headers={"Inference-Header-Content-Length": "100000"})

    def test_body(self):
        self.bad("mnist-decoder", b"", "the body is empty", raw=True)
        self.bad("mnist-decoder", b"{", "not valid JSON", raw=True)
        self.bad("mnist-decoder", b'{"inputs": []} x', "unexpected bytes", raw=True)
        self.bad("mnist-decoder", b"\xff\xfe", "not valid UTF-8", raw=True)
        self.bad("mnist-decoder", b"[1, 2]", "must be a JSON object", raw=True)
        resp = self.client.post("/v2/models/mnist-decoder/infer", "x", content_type="text/plain")
        self.assertEqual(resp.status, 415)  # the HTTP layer, before the handler


class ApiKey(OipTestCase):
    server_args = ["--api-key", KEY]
    auth = {"Authorization": "Bearer " + KEY}

    def test_model_routes_need_the_key(self):
        anonymous = Client(self.server.port)
        body = infer_body("z", [[0.0] * self.d])
        for method, path, b in (("GET", "/v2/models/mnist-encoder", None),
                                ("GET", "/v2/models/mnist-encoder/versions/1", None),
                                ("GET", "/v2/models/mnist-encoder/ready", None),
                                ("GET", "/v2/models/mnist-encoder/versions/1/ready", None),
                                ("POST", "/v2/models/mnist-decoder/infer", body),
                                ("POST", "/v2/models/mnist-decoder/versions/1/infer", body)):
            with self.subTest(path=path):
                self.assertEqual(anonymous.request(method, path, body=b).status, 401)
                self.assertEqual(self.client.request(method, path, body=b).status, 200)

    def test_server_routes_stay_open(self):
        anonymous = Client(self.server.port)
        for path in ("/v2", "/v2/health/live", "/v2/health/ready"):
            with self.subTest(path=path):
                self.assertEqual(anonymous.get(path).status, 200)


class BatchLimit(unittest.TestCase):

    def test_max_batch_flag(self):
        with ServerProcess(["--model", "mnist=model/weights/mnist.safetensors", "--max-batch", "4"]) as srv:
            client = Client(srv.port)
            d = client.get("/v1/models").json()["models"][0]["latent_dim"]
            resp = client.post("/v2/models/mnist-decoder/infer", infer_body("z", [[0.0] * d] * 4))
            self.assertEqual(resp.status, 200, resp)
            resp = client.post("/v2/models/mnist-decoder/infer", infer_body("z", [[0.0] * d] * 5))
            self.assertEqual(resp.status, 400, resp)
            self.assertIn("give 1 to 4 (--max-batch)", resp.json()["error"])


if __name__ == "__main__":
    unittest.main()
