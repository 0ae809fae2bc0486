"""The project's VAE in PyTorch, and its weights file format (safetensors, F32) without the
safetensors package.

    import vae_torch
    model = vae_torch.load("model/weights/mnist.safetensors")   # an nn.Module, eval mode
    mu, logvar = model.encode(x)        # x: (N, 784) float32 pixels in 0..1
    pixels = model.decode(z)            # sigmoid outputs, (N, 784)

The module computes exactly what the server computes: for hidden widths h0..hL-1 and latent size d,
    encoder  x -> act(enc.0) -> ... -> act(enc.{L-1}) -> enc.mu, enc.logvar
    decoder  z -> act(dec.0) -> ... -> act(dec.{L-1}) -> sigmoid(dec.out)
with the decoder's widths mirroring the encoder's, act one of relu, leaky_relu (slope 0.2) or tanh.
Its state_dict uses the file's tensor names (enc.0.weight, enc.mu.bias, dec.out.weight, and the
`centroids` buffer [10, d] when the file has them), so load_state_dict takes a file's tensors as
they are.
"""
import json
import os
import struct

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

IMAGE_PIXELS = 784
NUM_CLASSES = 10
LEAKY_SLOPE = 0.2  # the server's leaky_relu (VAE_LEAKY_SLOPE)
ACTIVATIONS = ("relu", "leaky_relu", "tanh")
MAX_HIDDEN = 4
MAX_WIDTH = 4096
MAX_LATENT = 256


def activate(h, activation):
    if activation == "relu":
        return F.relu(h)
    if activation == "leaky_relu":
        return F.leaky_relu(h, LEAKY_SLOPE)
    if activation == "tanh":
        return torch.tanh(h)
    raise ValueError("unknown activation %r (relu, leaky_relu or tanh)" % (activation,))


class VAE(nn.Module):
    """The server's architecture: 784 -> hidden... -> (mu, logvar) of size latent_dim, mirrored
    decoder with a sigmoid output."""

    def __init__(self, hidden, latent_dim, activation="relu", centroids=False):
        super().__init__()
        hidden = [int(h) for h in hidden]
        if not 1 <= len(hidden) <= MAX_HIDDEN or not all(1 <= h <= MAX_WIDTH for h in hidden):
            raise ValueError("hidden must be 1 to %d widths of 1 to %d, not %r" % (MAX_HIDDEN, MAX_WIDTH, hidden))
        if not 1 <= latent_dim <= MAX_LATENT:
            raise ValueError("latent_dim must be from 1 to %d, not %r" % (MAX_LATENT, latent_dim))
        if activation not in ACTIVATIONS:
            raise ValueError("activation must be one of %s, not %r" % (", ".join(ACTIVATIONS), activation))
        self.hidden, self.latent_dim, self.activation = hidden, int(latent_dim), activation
        widths = [IMAGE_PIXELS] + hidden
        self.enc = nn.ModuleDict()
        for i in range(len(hidden)):
            self.enc[str(i)] = nn.Linear(widths[i], widths[i + 1])
        self.enc["mu"] = nn.Linear(hidden[-1], latent_dim)
        self.enc["logvar"] = nn.Linear(hidden[-1], latent_dim)
        back = [latent_dim] + hidden[::-1]
        self.dec = nn.ModuleDict()
        for i in range(len(hidden)):
            self.dec[str(i)] = nn.Linear(back[i], back[i + 1])
        self.dec["out"] = nn.Linear(hidden[0], IMAGE_PIXELS)
        self.metadata = {}
        if centroids:
            self.register_buffer("centroids", torch.zeros(NUM_CLASSES, latent_dim))
        else:
            self.centroids = None

    def encode(self, x):
        """x (N, 784) in 0..1 -> (mu, logvar), each (N, d)."""
        h = x.reshape(-1, IMAGE_PIXELS)
        for i in range(len(self.hidden)):
            h = activate(self.enc[str(i)](h), self.activation)
        return self.enc["mu"](h), self.enc["logvar"](h)

    def decode_logits(self, z):
        h = z
        for i in range(len(self.hidden)):
            h = activate(self.dec[str(i)](h), self.activation)
        return self.dec["out"](h)

    def decode(self, z):
        """z (N, d) -> pixels (N, 784) in 0..1."""
        return torch.sigmoid(self.decode_logits(z))

    def forward(self, x):
        """(logits of the reconstruction, mu, logvar), z drawn with the reparameterisation."""
        mu, logvar = self.encode(x)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return self.decode_logits(z), mu, logvar


# --- the weights file ---

def read_safetensors(path):
    """(tensors, metadata) of a safetensors file: {name: float32 tensor} and {key: str}. F32, F16
    and BF16 tensors are accepted, as by the server, and widened exactly to float32."""
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        raise ValueError("%s: too short for a safetensors file" % path)
    (n,) = struct.unpack("<Q", blob[:8])
    if n > len(blob) - 8:
        raise ValueError("%s: header length %d runs past the end of the file" % (path, n))
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    data = memoryview(blob)[8 + n:]
    metadata = header.pop("__metadata__", {}) or {}
    tensors = {}
    for name, info in header.items():
        dtype = info.get("dtype")
        if dtype not in ("F32", "F16", "BF16"):
            raise ValueError("%s: tensor %r is %s; F32, F16 and BF16 are supported" % (path, name, dtype))
        begin, end = info["data_offsets"]
        shape = [int(s) for s in info["shape"]]
        count = int(np.prod(shape)) if shape else 1
        size = 4 if dtype == "F32" else 2
        if not 0 <= begin <= end <= len(data) or end - begin != size * count:
            raise ValueError("%s: tensor %r has bad data_offsets %r for shape %r" % (path, name, [begin, end], shape))
        raw = data[begin:end]
        if dtype == "F32":
            array = np.frombuffer(raw, dtype="<f4").astype(np.float32)  # a copy, native order
        elif dtype == "F16":
            array = np.frombuffer(raw, dtype="<f2").astype(np.float32)  # exact
        else:  # bfloat16: the top half of a float32
            array = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        tensors[name] = torch.from_numpy(array.reshape(shape))
    return tensors, metadata


def write_safetensors(path, tensors, metadata):
    """Writes F32 tensors and string metadata the way safetensors.torch.save_file lays them out:
    an 8-byte little-endian header length, a compact JSON header with __metadata__ first and the
    tensors sorted by name, padded with spaces to a multiple of 8 bytes, then each tensor's
    little-endian bytes in that order."""
    names = sorted(tensors)
    header = {"__metadata__": {str(k): str(v) for k, v in metadata.items()}}
    chunks, offset = [], 0
    for name in names:
        t = tensors[name]
        array = np.ascontiguousarray(t.detach().to("cpu", torch.float32).numpy(), dtype="<f4")
        raw = array.tobytes()
        header[name] = {"dtype": "F32", "shape": list(array.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % 8)
    tmp = path + ".tmp.%d" % id(tensors)
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for raw in chunks:
            f.write(raw)
    os.replace(tmp, path)


def config_of(tensors, metadata):
    """(hidden, latent_dim, activation) of a project weights file's tensors and metadata."""
    hidden = []
    while "enc.%d.weight" % len(hidden) in tensors:
        hidden.append(int(tensors["enc.%d.weight" % len(hidden)].shape[0]))
    if not hidden or "enc.mu.weight" not in tensors:
        raise ValueError("not a project VAE weights file: no enc.0.weight / enc.mu.weight")
    activation = metadata.get("activation")
    if activation not in ACTIVATIONS:
        raise ValueError("__metadata__ activation is %r; expected one of %s" % (activation, ", ".join(ACTIVATIONS)))
    return hidden, int(tensors["enc.mu.weight"].shape[0]), activation


def is_network_tensor(name):
    """Whether a file's tensor is part of the network (or its centroids) rather than the statistics
    `vae-train --annotate` computes from data (class_std, plane.*, diag.*, score.*)."""
    return name.startswith(("enc.", "dec.")) or name == "centroids"


def load(path):
    """The VAE in a project weights file, in eval mode, with .metadata (the file's __metadata__),
    .centroids ([10, d], or None when the file has none) and .statistics ({name: tensor}: the rest,
    the class spreads, principal plane, diagnostics and score tables the server's /score, /manifold,
    /traverse and /sample?label use). The statistics describe these exact weights: they are not part
    of the module's state_dict and export_vae does not write them back (after any change to the
    weights, `vae-train --annotate FILE --data DIR` computes them afresh)."""
    tensors, metadata = read_safetensors(path)
    hidden, latent, activation = config_of(tensors, metadata)
    model = VAE(hidden, latent, activation, centroids="centroids" in tensors)
    model.load_state_dict({k: v for k, v in tensors.items() if is_network_tensor(k)}, strict=True)
    model.metadata = dict(metadata)
    model.statistics = {k: v for k, v in tensors.items() if not is_network_tensor(k)}
    return model.eval()
