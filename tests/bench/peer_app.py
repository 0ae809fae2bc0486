"""The side-by-side peer of `make bench`: the same model served the way a Python shop would, FastAPI +
PyTorch under uvicorn, reading the same safetensors file itself (format: model/weights.c). It answers
the endpoints the bench compares, with the same request and reply shapes as vae-server:

  GET  /health                      {"status": "ok"}
  POST /decode  {"z": [..] or [[..], ..]}   one 28x28 PNG, or a grid of ceil(sqrt(n)) columns;
                ?format=json        {"images": [[784 floats], ..]}
  GET  /sample?n=N[&format=json]    N images decoded from z ~ N(0, I), as /decode replies

Run: VAE_PEER_WEIGHTS=model.safetensors python3 -m uvicorn peer_app:app --workers 2 (one torch thread
per worker, so that the workers together use the cores as vae-server's threads do).
"""
import json
import math
import os
import struct
import zlib

import torch
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, Response

torch.set_num_threads(1)


def load_safetensors(path):
    """Tensors by name and the metadata of a safetensors file: 8-byte little-endian header length,
    the JSON header, then the raw little-endian data."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    meta = header.pop("__metadata__", {})
    base = 8 + n
    tensors = {}
    for name, t in header.items():
        kinds = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}
        if t["dtype"] not in kinds:
            raise ValueError("%s: dtype %s, expected F32, F16 or BF16" % (name, t["dtype"]))
        begin, end = t["data_offsets"]
        data = bytearray(blob[base + begin:base + end])
        tensors[name] = torch.frombuffer(data, dtype=kinds[t["dtype"]]).reshape(t["shape"]).float()
    return tensors, meta


class Decoder(torch.nn.Module):
    """dec.0 .. dec.{L-1} with the model's activation, then dec.out and a sigmoid."""

    def __init__(self, tensors, activation):
        super().__init__()
        names = sorted({k.rsplit(".", 1)[0] for k in tensors if k.startswith("dec.") and k != "dec.out.weight"
                        and not k.startswith("dec.out")}, key=lambda s: int(s.split(".")[1]))
        self.hidden = torch.nn.ModuleList()
        for name in names + ["dec.out"]:
            w = tensors[name + ".weight"]
            layer = torch.nn.Linear(w.shape[1], w.shape[0])
            with torch.no_grad():
                layer.weight.copy_(w)
                layer.bias.copy_(tensors[name + ".bias"])
            self.hidden.append(layer)
        self.act = {"relu": torch.relu, "leaky_relu": lambda x: torch.nn.functional.leaky_relu(x, 0.2),
                    "tanh": torch.tanh}[activation]
        self.latent_dim = self.hidden[0].in_features

    def forward(self, z):
        h = z
        for layer in self.hidden[:-1]:
            h = self.act(layer(h))
        return torch.sigmoid(self.hidden[-1](h))


def png_gray(pixels, width, height):
    """An 8-bit grayscale PNG of bytes `pixels` (height rows of width), filter 0 on every row."""
    raw = b"".join(b"\x00" + pixels[y * width:(y + 1) * width] for y in range(height))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(raw, 1)) + chunk(b"IEND", b""))


def images_png(x):
    """(n, 784) in [0, 1] as one PNG: a 28x28 image, or a grid of ceil(sqrt(n)) columns."""
    n = x.shape[0]
    cols = max(1, math.ceil(math.sqrt(n)))
    rows = (n + cols - 1) // cols
    u8 = (x.clamp(0, 1) * 255.0 + 0.5).to(torch.uint8).reshape(n, 28, 28)
    grid = torch.zeros(rows * 28, cols * 28, dtype=torch.uint8)
    for i in range(n):
        r, c = divmod(i, cols)
        grid[r * 28:(r + 1) * 28, c * 28:(c + 1) * 28] = u8[i]
    return png_gray(grid.numpy().tobytes(), cols * 28, rows * 28)


tensors, meta = load_safetensors(os.environ["VAE_PEER_WEIGHTS"])
decoder = Decoder(tensors, meta.get("activation", "relu")).eval()
app = FastAPI()


def reply(x, fmt):
    if fmt == "json":
        return JSONResponse({"images": x.tolist()})
    return Response(images_png(x), media_type="image/png")


@app.get("/health")
def health():
    return {"status": "ok"}


@app.post("/decode")
async def decode(request: Request, format: str = "png"):
    body = await request.json()
    z = torch.tensor(body["z"], dtype=torch.float32)
    if z.dim() == 1:
        z = z.unsqueeze(0)
    if z.dim() != 2 or z.shape[1] != decoder.latent_dim:
        raise HTTPException(422, "z must be %d numbers per row" % decoder.latent_dim)
    with torch.inference_mode():
        x = decoder(z)
    return reply(x, format)


@app.get("/sample")
def sample(n: int = 1, format: str = "png"):
    if not 1 <= n <= 256:
        raise HTTPException(422, "n must be 1..256")
    with torch.inference_mode():
        x = decoder(torch.randn(n, decoder.latent_dim))
    return reply(x, format)
