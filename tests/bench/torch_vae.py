#!/usr/bin/env python3
"""The canonical PyTorch VAE example (784-400-20, Adam 1e-3, batch 128), trained on the same idx
files as vae-train, to measure seconds per epoch and test loss side by side with it.

usage: torch_vae.py DATA_DIR [--epochs 10] [--threads 2]
"""
import argparse
import gzip
import struct
import time

import torch
from torch import nn
from torch.nn import functional as F


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    magic, n = struct.unpack(">II", data[:8])
    if magic == 0x803:
        rows, cols = struct.unpack(">II", data[8:16])
        return torch.frombuffer(bytearray(data[16:]), dtype=torch.uint8).reshape(n, rows * cols)
    return torch.frombuffer(bytearray(data[8:]), dtype=torch.uint8)


class VAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 400)
        self.fc21 = nn.Linear(400, 20)
        self.fc22 = nn.Linear(400, 20)
        self.fc3 = nn.Linear(20, 400)
        self.fc4 = nn.Linear(400, 784)

    def forward(self, x):
        h = F.relu(self.fc1(x))
        mu, logvar = self.fc21(h), self.fc22(h)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return self.fc4(F.relu(self.fc3(z))), mu, logvar


def loss_fn(logits, x, mu, logvar):
    bce = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
    return bce - 0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    train = read_idx(f"{args.data}/train-images-idx3-ubyte.gz").float() / 255.0
    test = read_idx(f"{args.data}/t10k-images-idx3-ubyte.gz").float() / 255.0
    model = VAE()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for epoch in range(1, args.epochs + 1):
        t0 = time.perf_counter()
        perm = torch.randperm(len(train))
        total = 0.0
        for i in range(0, len(train), 128):
            x = train[perm[i:i + 128]]
            opt.zero_grad()
            logits, mu, logvar = model(x)
            loss = loss_fn(logits, x, mu, logvar)
            loss.backward()
            opt.step()
            total += loss.item()
        seconds = time.perf_counter() - t0
        test_total = 0.0
        with torch.no_grad():
            for i in range(0, len(test), 1000):
                x = test[i:i + 1000]
                logits, mu, logvar = model(x)
                test_total += loss_fn(logits, x, mu, logvar).item()
        print(f"epoch {epoch:3d}/{args.epochs}  train {total / len(train):8.3f}  "
              f"test {test_total / len(test):8.3f}  {seconds:6.2f} s", flush=True)


if __name__ == "__main__":
    main()
