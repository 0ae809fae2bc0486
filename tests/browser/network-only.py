#!/usr/bin/env python3
"""Writes a copy of a safetensors weights file with only its network tensors (enc.*, dec.*) and its
metadata: a model without the statistics vae-train stores (no diagnostics, score tables, class
statistics or principal plane), as an older trainer or a PyTorch export writes it. The browser test
serves one, to see the page handle each statistic's absence. Usage: network-only.py IN OUT"""
import json
import struct
import sys


def main(src, dst):
    with open(src, "rb") as f:
        blob = f.read()
    (size,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + size])
    data = blob[8 + size:]
    kept, chunks, offset = {}, [], 0
    if "__metadata__" in header:
        kept["__metadata__"] = header["__metadata__"]
    for name, info in header.items():
        if name == "__metadata__" or not name.startswith(("enc.", "dec.")):
            continue
        begin, end = info["data_offsets"]
        chunks.append(data[begin:end])
        kept[name] = dict(info, data_offsets=[offset, offset + end - begin])
        offset += end - begin
    text = json.dumps(kept).encode()
    text += b" " * (-len(text) % 8)
    with open(dst, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(chunks))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
