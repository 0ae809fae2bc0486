"""PyTorch round trip, both ways, against a real vae-server:

  - a VAE written like the PyTorch example (fc1, fc21, fc22, fc3, fc4; 784-64-8) is trained for one
    epoch on a slice of MNIST, exported with model/pytorch/export_vae.py (the CLI, with --data for
    the class centroids), served, and /encode, /decode and the Open Inference Protocol's infer must
    give PyTorch's numbers on the same inputs (max absolute difference below 1e-4);
  - the same for a second layout (nn.Sequential encoder and decoder, fc_mu/fc_var heads, leaky_relu,
    two hidden layers), exported through the Python function;
  - the shipped model/weights/mnist.safetensors, loaded into PyTorch with model/pytorch/vae_torch.py,
    gives the server's numbers;
  - the exporter's file layout, its mapping options and its refusals.

    test_roundtrip.py [--build DIR] [--mnist DIR] [-v]

PyTorch is required: without it every test fails (CI installs python3-torch). Exits non-zero on any
failure."""
import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "http"))
sys.path.insert(0, os.path.join(REPO, "model", "pytorch"))

try:
    import torch
    from torch import nn
    from torch.nn import functional as F

    import export_vae
    import vae_torch
    TORCH_ERROR = None
except ImportError as e:  # the suite must fail, not skip, without PyTorch
    torch = None
    TORCH_ERROR = e

from common import Client  # noqa: E402
from server import ServerProcess, build_dir  # noqa: E402

TOLERANCE = 1e-4
TRAIN_IMAGES = 2000
TEST_IMAGES = 64
SHIPPED = os.path.join(REPO, "model", "weights", "mnist.safetensors")
EXPORTER = os.path.join(REPO, "model", "pytorch", "export_vae.py")
MINI = os.path.join(REPO, "tests", "data", "mnist-mini")
DIFFS = {}  # comparison -> max abs difference, printed at the end


def mnist_dir():
    full = os.environ.get("VAE_TEST_MNIST", os.path.join(REPO, "..", "shared", "data", "mnist"))
    if os.path.exists(os.path.join(full, "train-images-idx3-ubyte.gz")):
        return full
    return MINI


if torch is not None:

    class ExampleVAE(nn.Module):
        """The PyTorch example's VAE, smaller: 784-64-8."""

        def __init__(self, hidden=64, latent=8):
            super().__init__()
            self.fc1 = nn.Linear(784, hidden)
            self.fc21 = nn.Linear(hidden, latent)
            self.fc22 = nn.Linear(hidden, latent)
            self.fc3 = nn.Linear(latent, hidden)
            self.fc4 = nn.Linear(hidden, 784)

        def encode(self, x):
            h1 = F.relu(self.fc1(x))
            return self.fc21(h1), self.fc22(h1)

        def reparameterize(self, mu, logvar):
            std = torch.exp(0.5 * logvar)
            return mu + torch.randn_like(std) * std

        def decode(self, z):
            h3 = F.relu(self.fc3(z))
            return torch.sigmoid(self.fc4(h3))

        def forward(self, x):
            mu, logvar = self.encode(x.view(-1, 784))
            z = self.reparameterize(mu, logvar)
            return self.decode(z), mu, logvar

    class SequentialVAE(nn.Module):
        """Another common layout: Sequential blocks, fc_mu/fc_var heads, a decoder_input layer."""

        def __init__(self):
            super().__init__()
            self.encoder = nn.Sequential(nn.Linear(784, 96), nn.LeakyReLU(0.2), nn.Linear(96, 48), nn.LeakyReLU(0.2))
            self.fc_mu = nn.Linear(48, 6)
            self.fc_var = nn.Linear(48, 6)
            self.decoder_input = nn.Linear(6, 48)
            self.decoder = nn.Sequential(nn.LeakyReLU(0.2), nn.Linear(48, 96), nn.LeakyReLU(0.2))
            self.final_layer = nn.Linear(96, 784)

        def encode(self, x):
            h = self.encoder(x)
            return self.fc_mu(h), self.fc_var(h)

        def decode(self, z):
            return torch.sigmoid(self.final_layer(self.decoder(self.decoder_input(z))))


def loss_function(recon, x, mu, logvar):
    bce = F.binary_cross_entropy(recon, x, reduction="sum")
    return bce - 0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())


def train_one_epoch(model, images, batch=100, lr=1e-3):
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    total = 0.0
    for i in range(0, images.shape[0], batch):
        x = images[i:i + batch]
        opt.zero_grad()
        recon, mu, logvar = model(x)
        loss = loss_function(recon, x, mu, logvar)
        loss.backward()
        opt.step()
        total += loss.item()
    return total / images.shape[0]


def max_diff(a, b):
    a = torch.as_tensor(a, dtype=torch.float64)
    b = torch.as_tensor(b, dtype=torch.float64)
    assert a.shape == b.shape, (tuple(a.shape), tuple(b.shape))
    return float((a - b).abs().max())


class Fixture:
    """Everything the tests share, made once: data, trained and exported models, one server."""
    ready = False

    @classmethod
    def make(cls):
        if cls.ready:
            return
        if torch is None:
            raise AssertionError("PyTorch is required: `import torch` failed (%s). Install the Debian package "
                                 "python3-torch and run with /usr/bin/python3" % TORCH_ERROR)
        started = time.monotonic()
        torch.manual_seed(1)
        cls.tmp = tempfile.mkdtemp(prefix="vae-pytorch-")
        cls.data = mnist_dir()
        images, labels = export_vae.training_set(cls.data)
        cls.train_x, cls.train_y = images[:TRAIN_IMAGES], labels[:TRAIN_IMAGES]
        test = export_vae.read_idx(export_vae.find_idx(cls.data, "t10k-images-idx3-ubyte"))
        cls.test_x = test[:TEST_IMAGES].float() / 255.0

        # the PyTorch example, trained for one epoch, saved as a state_dict and exported by the CLI
        cls.example = ExampleVAE()
        cls.train_loss = train_one_epoch(cls.example, cls.train_x)
        cls.example.eval()
        checkpoint = os.path.join(cls.tmp, "example.pt")
        torch.save(cls.example.state_dict(), checkpoint)
        cls.example_path = os.path.join(cls.tmp, "example.safetensors")
        proc = subprocess.run([sys.executable, EXPORTER, checkpoint, cls.example_path, "--data", cls.data,
                               "--epochs", "1", "--train-loss", "%.3f" % cls.train_loss],
                              capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            raise AssertionError("export_vae.py failed (%d):\n%s%s" % (proc.returncode, proc.stdout, proc.stderr))
        cls.export_log = proc.stdout

        # the Sequential layout (a few training steps), exported by the Python function
        cls.sequential = SequentialVAE()
        opt = torch.optim.Adam(cls.sequential.parameters(), lr=1e-3)
        for i in range(0, 500, 100):
            x = cls.train_x[i:i + 100]
            mu, logvar = cls.sequential.encode(x)
            recon = cls.sequential.decode(mu + torch.randn_like(mu) * torch.exp(0.5 * logvar))
            opt.zero_grad()
            loss_function(recon, x, mu, logvar).backward()
            opt.step()
        cls.sequential.eval()
        cls.sequential_path = os.path.join(cls.tmp, "sequential.safetensors")
        export_vae.export(cls.sequential, cls.sequential_path, dataset="mnist-slice")

        cls.shipped = vae_torch.load(SHIPPED)
        cls.server = ServerProcess(["--model", "example=" + cls.example_path, "--model", "sequential=" +
                                    cls.sequential_path, "--model", "shipped=" + SHIPPED], name="vae-server(pytorch)")
        cls.server.start()
        cls.client = Client(cls.server.port)
        cls.setup_seconds = time.monotonic() - started
        cls.ready = True

    @classmethod
    def close(cls):
        if cls.ready:
            cls.server.stop()
            for name in os.listdir(cls.tmp):
                os.unlink(os.path.join(cls.tmp, name))
            os.rmdir(cls.tmp)
            cls.ready = False


def setUpModule():
    Fixture.make()


def tearDownModule():
    Fixture.close()


class ServedModel:
    """Mixin: compares one served model with its PyTorch module (self.module, self.name)."""

    def post(self, path, body):
        resp = Fixture.client.post(path, body)
        self.assertEqual(resp.status, 200, resp)
        return resp.json()

    def torch_encode(self, x):
        with torch.no_grad():
            return [t.float() for t in self.module.encode(x)]

    def torch_decode(self, z):
        with torch.no_grad():
            return self.module.decode(z).float()

    def latents(self):
        d = self.torch_encode(Fixture.test_x[:1])[0].shape[1]
        g = torch.Generator().manual_seed(7)
        return torch.cat([torch.randn(24, d, generator=g), 3 * torch.randn(8, d, generator=g),
                          self.torch_encode(Fixture.test_x[:8])[0]])

    def check(self, what, got, want):
        diff = max_diff(got, want)
        DIFFS["%s %s" % (self.name, what)] = diff
        self.assertLess(diff, TOLERANCE, "%s %s: max abs difference %g" % (self.name, what, diff))

    def test_encode(self):
        x = Fixture.test_x
        body = self.post("/encode?model=" + self.name, {"pixels": x.tolist()})
        mu, logvar = self.torch_encode(x)
        self.check("/encode mu", body["mu"], mu)
        self.check("/encode logvar", body["logvar"], logvar)

    def test_decode(self):
        z = self.latents()
        body = self.post("/decode?format=json&model=" + self.name, {"z": z.tolist()})
        self.check("/decode pixels", body["pixels"], self.torch_decode(z))

    def test_reconstruct(self):
        x = Fixture.test_x[:16]
        body = self.post("/reconstruct?format=json&model=" + self.name, {"pixels": x.tolist()})
        self.check("/reconstruct pixels", body["pixels"], self.torch_decode(self.torch_encode(x)[0]))

    def test_oip_infer(self):
        x = Fixture.test_x
        n = x.shape[0]
        body = self.post("/v2/models/%s-encoder/infer" % self.name, {"inputs": [
            {"name": "x", "shape": [n, 784], "datatype": "FP32", "data": x.flatten().tolist()}]})
        out = {o["name"]: torch.tensor(o["data"]).reshape(o["shape"]) for o in body["outputs"]}
        mu, logvar = self.torch_encode(x)
        self.check("OIP encoder mu", out["mu"], mu)
        self.check("OIP encoder logvar", out["logvar"], logvar)
        z = self.latents()
        body = self.post("/v2/models/%s-decoder/infer" % self.name, {"inputs": [
            {"name": "z", "shape": list(z.shape), "datatype": "FP32", "data": z.tolist()}]})
        [o] = body["outputs"]
        self.check("OIP decoder x", torch.tensor(o["data"]).reshape(o["shape"]), self.torch_decode(z))


class ExampleVAEServed(ServedModel, unittest.TestCase):
    """The PyTorch example, trained one epoch, exported by the CLI."""
    name = "example"

    @property
    def module(self):
        return Fixture.example

    def test_export_log_names_the_mapping(self):
        for line in ("fc1", "-> enc.0", "fc21", "-> enc.mu", "fc22", "-> enc.logvar", "fc3", "-> dec.0", "fc4",
                     "-> dec.out", "centroids"):
            self.assertIn(line, Fixture.export_log)

    def test_metadata(self):
        models = {m["name"]: m for m in Fixture.client.get("/v1/models").json()["models"]}
        m = models["example"]
        self.assertEqual((m["hidden"], m["latent_dim"], m["activation"], m["architecture"]),
                         ([64], 8, "relu", "784-64-8"))
        self.assertTrue(m["has_centroids"])
        meta = m["metadata"]
        for key, value in (("activation", "relu"), ("latent_dim", "8"), ("hidden", "64"), ("input_shape", "28x28"),
                           ("dataset", "mnist"), ("epochs", "1"), ("train_loss", "%.3f" % Fixture.train_loss)):
            self.assertEqual(meta.get(key), value, key)
        self.assertTrue(meta["command"].startswith("export_vae.py "), meta["command"])
        self.assertTrue(meta["source"].startswith("pytorch "), meta["source"])

    def test_centroids(self):
        """Mean mu of each class over the whole training set of --data, as PyTorch computes it; and
        /interpolate starts from them."""
        images, labels = export_vae.training_set(Fixture.data)
        with torch.no_grad():
            mu = Fixture.example.encode(images)[0].double()
        want = torch.stack([mu[labels == c].mean(0) for c in range(10)])
        stored, _ = vae_torch.read_safetensors(Fixture.example_path)
        self.check("centroids", stored["centroids"], want)
        body = self.post("/interpolate?format=json&model=example", {"from": 3, "to": 8, "steps": 2})
        # the start is the stored centroid bit for bit (JSON numbers read back as float32); the end
        # is from + 1 * (to - from) in float32, within rounding of it
        self.assertTrue(torch.equal(torch.tensor(body["z"][0], dtype=torch.float32), stored["centroids"][3]))
        self.assertLess(max_diff(body["z"][1], stored["centroids"][8]), 1e-6)

    def test_reload_is_bit_exact(self):
        model = vae_torch.load(Fixture.example_path)
        pairs = {"enc.0": "fc1", "enc.mu": "fc21", "enc.logvar": "fc22", "dec.0": "fc3", "dec.out": "fc4"}
        state = model.state_dict()
        for dst, src in pairs.items():
            for part in ("weight", "bias"):
                self.assertTrue(torch.equal(state["%s.%s" % (dst, part)], getattr(getattr(Fixture.example, src), part)),
                                "%s.%s" % (dst, part))

    def test_file_layout(self):
        """What safetensors.torch.save_file writes: header length, compact JSON with __metadata__
        first and tensors sorted by name, space padding to 8 bytes, data in header order."""
        with open(Fixture.example_path, "rb") as f:
            blob = f.read()
        (n,) = struct.unpack("<Q", blob[:8])
        self.assertEqual(n % 8, 0)
        text = blob[8:8 + n].decode("utf-8")
        self.assertTrue(text.startswith('{"__metadata__":{'), text[:40])
        header = json.loads(text)
        json_text = text.rstrip(" ")
        self.assertLess(len(text) - len(json_text), 8, "padding beyond the next multiple of 8")
        self.assertEqual(json.dumps(header, separators=(",", ":"), ensure_ascii=False), json_text)
        names = [k for k in header if k != "__metadata__"]
        self.assertEqual(names, sorted(names))
        self.assertEqual(names, ["centroids", "dec.0.bias", "dec.0.weight", "dec.out.bias", "dec.out.weight",
                                 "enc.0.bias", "enc.0.weight", "enc.logvar.bias", "enc.logvar.weight",
                                 "enc.mu.bias", "enc.mu.weight"])
        offset = 0
        for name in names:
            info = header[name]
            self.assertEqual(info["dtype"], "F32")
            size = 4
            for s in info["shape"]:
                size *= s
            self.assertEqual(info["data_offsets"], [offset, offset + size], name)
            offset += size
        self.assertEqual(len(blob), 8 + n + offset)


class SequentialVAEServed(ServedModel, unittest.TestCase):
    """nn.Sequential blocks, fc_mu/fc_var, leaky_relu (0.2) detected from the modules, two hidden
    layers; exported by the Python function."""
    name = "sequential"

    @property
    def module(self):
        return Fixture.sequential

    def test_architecture(self):
        models = {m["name"]: m for m in Fixture.client.get("/v1/models").json()["models"]}
        m = models["sequential"]
        self.assertEqual((m["architecture"], m["activation"], m["has_centroids"]), ("784-96-48-6", "leaky_relu", False))
        self.assertEqual(m["metadata"]["dataset"], "mnist-slice")


class ShippedModelInPyTorch(ServedModel, unittest.TestCase):
    """The reverse direction: model/weights/mnist.safetensors loaded into PyTorch (vae_torch)."""
    name = "shipped"

    @property
    def module(self):
        return Fixture.shipped

    def test_loaded_as_described(self):
        model = Fixture.shipped
        models = {m["name"]: m for m in Fixture.client.get("/v1/models").json()["models"]}
        m = models["shipped"]
        self.assertEqual((model.hidden, model.latent_dim, model.activation), (m["hidden"], m["latent_dim"], m["activation"]))
        self.assertEqual(model.metadata, m["metadata"])
        self.assertEqual(model.centroids is not None, m["has_centroids"])

    def test_reexport_is_identical(self):
        """Exporting the loaded module again writes the same network and centroids (its names are the
        project's); the statistics are kept aside on load (.statistics) and not written back."""
        path = os.path.join(Fixture.tmp, "again.safetensors")
        export_vae.export(Fixture.shipped, path, activation=Fixture.shipped.activation)
        a, _ = vae_torch.read_safetensors(SHIPPED)
        b, meta = vae_torch.read_safetensors(path)
        network = sorted(k for k in a if vae_torch.is_network_tensor(k))
        self.assertEqual(network, sorted(b))
        for name in network:
            self.assertTrue(torch.equal(a[name], b[name]), name)
        self.assertEqual(sorted(Fixture.shipped.statistics), sorted(k for k in a if k not in network))
        self.assertIn("score.nll", Fixture.shipped.statistics)
        os.unlink(path)


class AnnotatedExport(unittest.TestCase):
    """A file exported from PyTorch gets the statistics without retraining: vae-train --annotate on
    the exported example adds them, and the server's statistics-based methods then work on it, while
    the file as exported answers them with what to run."""

    @classmethod
    def setUpClass(cls):
        cls.path = os.path.join(Fixture.tmp, "annotated.safetensors")
        train = os.path.join(build_dir(), "vae-train")
        proc = subprocess.run([train, "--annotate", Fixture.example_path, "--data", Fixture.data, "--out", cls.path,
                               "--score-k", "8", "--threads", "2", "--quiet"], capture_output=True, text=True,
                              timeout=600)
        if proc.returncode != 0:
            raise AssertionError("vae-train --annotate failed (%d):\n%s%s" % (proc.returncode, proc.stdout, proc.stderr))
        cls.server = ServerProcess(["--model", "annotated=" + cls.path, "--model", "example=" + Fixture.example_path],
                                   name="vae-server(annotated)")
        cls.server.start()
        cls.client = Client(cls.server.port)

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        os.unlink(cls.path)

    def test_statistics_added_and_served(self):
        models = {m["name"]: m for m in self.client.get("/v1/models").json()["models"]}
        a, e = models["annotated"], models["example"]
        self.assertEqual((a["class_stats"], a["principal_plane"], a["calibration"]["k"]), (True, True, 8))
        self.assertEqual((e["class_stats"], e["principal_plane"], e["calibration"], e["diagnostics"]),
                         (False, False, None, None))
        self.assertEqual(len(a["diagnostics"]["mu_var"]), a["latent_dim"])
        # the network is the exported one, byte for byte (the centroids are recomputed on --data)
        before, _ = vae_torch.read_safetensors(Fixture.example_path)
        after, _ = vae_torch.read_safetensors(self.path)
        for name in before:
            if name != "centroids":
                self.assertTrue(torch.equal(before[name], after[name]), name)
        self.assertLess(float((before["centroids"] - after["centroids"]).abs().max()), 0.5)
        z = {"z": [0.0] * a["latent_dim"]}
        self.assertEqual(self.client.post("/decode?format=json&model=annotated", z).json(),
                         self.client.post("/decode?format=json&model=example", z).json())
        pixels = {"pixels": [float(v) for v in Fixture.test_x[0]], "seed": 3}
        scored = self.client.post("/score?model=annotated", pixels).json()
        self.assertTrue(scored["calibrated"])
        self.assertTrue(0 <= scored["percentile"] <= 100)
        plain = self.client.post("/score?model=example", pixels).json()
        self.assertFalse(plain["calibrated"])
        self.assertEqual(plain["nll"], scored["nll"])
        self.assertEqual(self.client.get("/manifold?model=annotated&n=4").status, 200)
        refused = self.client.get("/manifold?model=example&n=4")
        self.assertEqual(refused.status, 422)
        self.assertIn("vae-train --annotate", refused.json()["error"]["message"])


class ExporterMapping(unittest.TestCase):
    """Layouts the exporter recognises, --map, and what it refuses (with a reason)."""

    def export(self, model, **kwargs):
        path = os.path.join(Fixture.tmp, "mapping.safetensors")
        try:
            return export_vae.export(model, path, **kwargs)
        finally:
            if os.path.exists(path):
                os.unlink(path)

    def refused(self, model, *fragments, **kwargs):
        with self.assertRaises(export_vae.ExportError) as cm:
            self.export(model, **kwargs)
        for fragment in fragments:
            self.assertIn(fragment, str(cm.exception))
        return str(cm.exception)

    def same_as(self, exported, module):
        x = Fixture.test_x[:8]
        with torch.no_grad():
            for a, b in zip(exported.encode(x), module.encode(x)):
                self.assertLess(max_diff(a, b), 1e-6)
            z = torch.randn(5, exported.latent_dim)
            self.assertLess(max_diff(exported.decode(z), module.decode(z)), 1e-6)

    def test_checkpoint_forms(self):
        sd = Fixture.example.state_dict()
        for form in (sd, {"epoch": 1, "model_state_dict": sd}, {"state_dict": sd},
                     {"module." + k: v for k, v in sd.items()}):
            self.same_as(self.export(form), Fixture.example)

    def test_two_hidden_layers_of_equal_width(self):
        class Deeper(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc1, self.fc2 = nn.Linear(784, 32), nn.Linear(32, 32)
                self.fc31, self.fc32 = nn.Linear(32, 4), nn.Linear(32, 4)
                self.fc4, self.fc5, self.fc6 = nn.Linear(4, 32), nn.Linear(32, 32), nn.Linear(32, 784)

            def encode(self, x):
                h = torch.tanh(self.fc2(torch.tanh(self.fc1(x))))
                return self.fc31(h), self.fc32(h)

            def decode(self, z):
                return torch.sigmoid(self.fc6(torch.tanh(self.fc5(torch.tanh(self.fc4(z))))))

        model = Deeper()
        exported = self.export(model, activation="tanh")
        self.assertEqual((exported.hidden, exported.latent_dim), ([32, 32], 4))
        self.same_as(exported, model)

    def test_map_names_the_heads(self):
        class Odd(nn.Module):  # heads neither named nor adjacent
            def __init__(self):
                super().__init__()
                self.inp, self.a, self.up, self.b, self.out = (nn.Linear(784, 16), nn.Linear(16, 3), nn.Linear(3, 16),
                                                               nn.Linear(16, 3), nn.Linear(16, 784))

            def encode(self, x):
                h = F.relu(self.inp(x))
                return self.a(h), self.b(h)

            def decode(self, z):
                return torch.sigmoid(self.out(F.relu(self.up(z))))

        model = Odd()
        self.refused(model, "cannot tell which layers are the mu and logvar heads", "--map")
        self.same_as(self.export(model, maps=["a=enc.mu", "b=enc.logvar"]), model)
        full = ["inp=enc.0", "a=enc.mu", "b.weight=enc.logvar", "up=dec.0", "out=dec.out"]
        self.same_as(self.export(model, maps=full), model)
        self.refused(model, "map every layer", maps=["inp=enc.0", "a=enc.mu", "b=enc.logvar"])
        self.refused(model, "expected SRC=DST", maps=["a=enc.sigma"])
        self.refused(model, "no layer or tensor nope", maps=["nope=enc.mu"])
        swapped = ["inp=enc.0", "a=enc.mu", "b=enc.logvar", "up=dec.out", "out=dec.0"]
        self.refused(model, "mirrors the encoder", maps=swapped)

    def test_unused_tensors_are_refused_unless_dropped(self):
        class WithExtras(ExampleVAE):
            def __init__(self):
                super().__init__()
                self.classifier = nn.Linear(8, 10)
                self.prior_scale = nn.Parameter(torch.ones(1))

        model = WithExtras()
        self.refused(model, "tensor prior_scale (shape [1])", "--map prior_scale=-")
        self.refused(model, "do not form the server's VAE", "classifier", maps=["prior_scale=-"])
        self.same_as(self.export(model, maps=["classifier=-", "prior_scale=-"]), model)

    def test_unsupported_models(self):
        class Conv(ExampleVAE):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(1, 4, 3)

        self.refused(Conv(), "conv.weight", "fully connected")

        class Leaky(SequentialVAE):
            def __init__(self):
                super().__init__()
                self.encoder[1] = nn.LeakyReLU(0.01)

        self.refused(Leaky(), "negative_slope 0.01", "0.2")
        self.refused(SequentialVAE(), "model's modules use leaky_relu", activation="relu")

        class Gelu(ExampleVAE):
            def __init__(self):
                super().__init__()
                self.act = nn.GELU()

        self.refused(Gelu(), "GELU")

        class Asymmetric(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc1, self.fc21, self.fc22 = nn.Linear(784, 32), nn.Linear(32, 4), nn.Linear(32, 4)
                self.fc3, self.fc4 = nn.Linear(4, 48), nn.Linear(48, 784)

        self.refused(Asymmetric(), "dec.0 (fc3) has weight shape [48, 4]", "784-32-4", "mirrors the encoder")
        self.refused(Asymmetric(), "mirrors the encoder",
                     maps=["fc1=enc.0", "fc21=enc.mu", "fc22=enc.logvar", "fc3=dec.0", "fc4=dec.out"])
        broken = ExampleVAE()
        with torch.no_grad():
            broken.fc3.bias[0] = float("nan")
        self.refused(broken, "dec.0.bias (from fc3) holds NaN")

    def test_cli_errors(self):
        bad = os.path.join(Fixture.tmp, "bad.pt")
        with open(bad, "wb") as f:
            f.write(b"not a checkpoint")
        out = os.path.join(Fixture.tmp, "never.safetensors")
        proc = subprocess.run([sys.executable, EXPORTER, bad, out], capture_output=True, text=True, timeout=60)
        self.assertEqual(proc.returncode, 1)
        self.assertIn("export_vae.py: error:", proc.stderr)
        self.assertIn("state_dict", proc.stderr)
        self.assertFalse(os.path.exists(out))
        os.unlink(bad)
        # a training checkpoint with Python objects beside the tensors: PyTorch 1.13's weights-only
        # unpickler refuses floats, so it may need --trusted, and the error says so
        checkpoint = os.path.join(Fixture.tmp, "checkpoint.pt")
        torch.save({"epoch": 1, "lr": 0.001, "model_state_dict": Fixture.example.state_dict()}, checkpoint)
        proc = subprocess.run([sys.executable, EXPORTER, checkpoint, out, "-q"], capture_output=True, text=True,
                              timeout=60)
        if proc.returncode != 0:
            self.assertIn("--trusted", proc.stderr)
            proc = subprocess.run([sys.executable, EXPORTER, checkpoint, out, "-q", "--trusted"],
                                  capture_output=True, text=True, timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(proc.stdout, "")
        self.same_as(vae_torch.load(out), Fixture.example)
        os.unlink(out)
        os.unlink(checkpoint)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(REPO, "build"), help="directory with vae-server")
    ap.add_argument("--mnist", default=os.path.join(REPO, "..", "shared", "data", "mnist"),
                    help="MNIST idx files (else tests/data/mnist-mini)")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    os.environ["VAE_TEST_BUILD"] = os.path.abspath(args.build)
    os.environ["VAE_TEST_MNIST"] = os.path.abspath(args.mnist)
    started = time.monotonic()
    suite = unittest.defaultTestLoader.loadTestsFromModule(sys.modules[__name__])
    result = unittest.TextTestRunner(verbosity=2 if args.verbose else 1, stream=sys.stdout).run(suite)
    if Fixture.__dict__.get("setup_seconds") is not None:
        print("data: %s (%d training images); setup (train, export, start the server): %.1f s"
              % (Fixture.data, Fixture.train_x.shape[0], Fixture.setup_seconds))
    if DIFFS:
        print("max abs difference, server vs PyTorch (tolerance %g):" % TOLERANCE)
        for name in sorted(DIFFS):
            print("  %-40s %.3g" % (name, DIFFS[name]))
    ok = result.wasSuccessful() and result.testsRun > 0
    print("PyTorch round trip: %d tests, %s in %.1f s" % (result.testsRun, "passed" if ok else "FAILED",
                                                          time.monotonic() - started))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
