#!/usr/bin/env python3
"""Writes a copy of a safetensors weights file with only its network tensors (enc.*, dec.*) and its
metadata: a model without the statistics vae-train stores (no diagnostics, score tables, class
statistics or principal plane), as an older trainer or a PyTorch export writes it. The browser test
serves one, to see the page handle each statistic's absence. Usage: network-only.py IN OUT"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "http"))
from common import network_only  # noqa: E402

if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    network_only(sys.argv[1], sys.argv[2])
