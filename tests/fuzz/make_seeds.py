#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora into tests/fuzz/corpus/<target>/ (deterministic; the
output is committed, this script documents where each seed comes from and regenerates them).

    tests/fuzz/make_seeds.py [OUT_DIR]

Seeds are small valid inputs plus a few near-misses: PNGs of every colour type and depth, small
(2-8 pixel) or 28x28, some interlaced; real request bodies of each endpoint; a tiny valid
safetensors model (784-2-2, relu, with centroids: 16 KB rather than the 4 MB shipped file); small
idx files, plain and gzipped; base64 texts."""
import base64
import gzip
import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "http"))
import pngutil  # noqa: E402  (the HTTP suite's own PNG encoder)

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "corpus")


def write(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# --- PNGs ---

def digit_rows(side, maxval, channels=1):
    """A bright vertical bar on a dark background (a crude '1'), as rows of samples."""
    rows = []
    for y in range(side):
        row = []
        for x in range(side):
            v = maxval if side // 3 <= x < 2 * side // 3 and side // 6 <= y < side - side // 6 else 0
            row += [v] * channels
        rows.append(row)
    return rows


def dark_page(side):
    """A dark bar on a light page (a '1' written in ink), side x side grey."""
    rows = digit_rows(side, 255)
    return pngutil.encode(side, side, [[255 - v for v in r] for r in rows], pngutil.GREY, 8)


def pngs():
    G, RGB, P, GA, RGBA = pngutil.GREY, pngutil.RGB, pngutil.PALETTE, pngutil.GREY_ALPHA, pngutil.RGBA
    out = {}
    out["grey8_28.png"] = pngutil.encode(28, 28, digit_rows(28, 255), G, 8, filters=0)
    for depth in (1, 2, 4, 16):
        out["grey%d_6.png" % depth] = pngutil.encode(6, 6, digit_rows(6, (1 << depth) - 1), G, depth)
    out["grey8_trns_5.png"] = pngutil.encode(5, 5, digit_rows(5, 255), G, 8, trns=0)
    out["grey_alpha8_4.png"] = pngutil.encode(4, 4, [[255, 128] * 4] * 4, GA, 8)
    out["grey_alpha16_3.png"] = pngutil.encode(3, 3, [[65535, 30000] * 3] * 3, GA, 16)
    out["rgb8_4.png"] = pngutil.encode(4, 4, digit_rows(4, 255, 3), RGB, 8)
    out["rgb16_3.png"] = pngutil.encode(3, 3, digit_rows(3, 65535, 3), RGB, 16)
    out["rgb8_trns_3.png"] = pngutil.encode(3, 3, digit_rows(3, 255, 3), RGB, 8, trns=(0, 0, 0))
    out["rgba8_4.png"] = pngutil.encode(4, 4, [[255, 255, 255, 200] * 4] * 4, RGBA, 8)
    out["rgba16_2.png"] = pngutil.encode(2, 2, [[65535, 0, 0, 65535] * 2] * 2, RGBA, 16)
    pal = [(0, 0, 0), (255, 255, 255), (128, 0, 0), (0, 128, 0)]
    out["palette2_trns_8.png"] = pngutil.encode(8, 8, [[(x + y) % 4 for x in range(8)] for y in range(8)],
                                                P, 2, palette=pal, trns=[255, 0, 128])
    out["palette8_5.png"] = pngutil.encode(5, 5, [[x % 4 for x in range(5)] for _ in range(5)], P, 8, palette=pal)
    out["interlaced_grey8_9.png"] = pngutil.encode(9, 9, digit_rows(9, 255), G, 8, interlace=True)
    out["interlaced_rgba16_5.png"] = pngutil.encode(5, 5, [[1000 * x, 0, 65535, 65535] * 5 for x in range(5)],
                                                    RGBA, 16, interlace=True)
    out["interlaced_palette1_3.png"] = pngutil.encode(3, 3, [[1, 0, 1]] * 3, P, 1, palette=pal[:2],
                                                      interlace=True)
    out["wide_60x2.png"] = pngutil.encode(60, 2, [[x * 4 for x in range(60)]] * 2, G, 8)
    out["text_chunk_2.png"] = pngutil.encode(2, 2, [[0, 255]] * 2, G, 8, extra_chunks=[(b"tEXt", b"Comment\x00hi")])
    return out


# --- safetensors ---

def tiny_safetensors(hidden=2, latent=2, metadata=None, centroids=True, dtype="F32"):
    """A valid model 784-hidden-latent (relu) with deterministic small weights, its parameters stored
    as dtype (F32, F16 or BF16; the centroids stay F32)."""
    shapes = [("enc.0.weight", [hidden, 784]), ("enc.0.bias", [hidden]),
              ("enc.mu.weight", [latent, hidden]), ("enc.mu.bias", [latent]),
              ("enc.logvar.weight", [latent, hidden]), ("enc.logvar.bias", [latent]),
              ("dec.0.weight", [hidden, latent]), ("dec.0.bias", [hidden]),
              ("dec.out.weight", [784, hidden]), ("dec.out.bias", [784])]
    if centroids:
        shapes.append(("centroids", [10, latent]))
    header = {"__metadata__": metadata if metadata is not None else
              {"activation": "relu", "latent_dim": str(latent), "hidden": str(hidden), "input_shape": "28x28"}}
    data = bytearray()
    for name, shape in shapes:
        n = 1
        for s in shape:
            n *= s
        begin = len(data)
        values = [((i * 7919) % 101 - 50) / 500.0 for i in range(n)]
        kind = "F32" if name == "centroids" else dtype
        if kind == "F32":
            data += struct.pack("<%df" % n, *values)
        elif kind == "F16":
            data += struct.pack("<%de" % n, *values)
        else:  # BF16: the top half of each float32, truncated (any BF16 value is valid input)
            data += b"".join(struct.pack("<f", v)[2:] for v in values)
        header[name] = {"dtype": kind, "shape": shape, "data_offsets": [begin, len(data)]}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + bytes(data)


# --- idx ---

def idx_images(n, rows, cols):
    return struct.pack(">IIII", 0x803, n, rows, cols) + bytes((i * 37) % 256 for i in range(n * rows * cols))


def idx_labels(n):
    return struct.pack(">II", 0x801, n) + bytes(i % 10 for i in range(n))


def main():
    ps = pngs()
    # fuzz_png: option byte 0 (no invert, default limit) and a few other options
    for name, data in sorted(ps.items()):
        write("png", name, b"\x00" + data)
    write("png", "opt_invert_handler_grey8_28.png", b"\x31" + ps["grey8_28.png"])
    write("png", "opt_limit784_grey8_28.png", b"\x06" + ps["grey8_28.png"])
    write("png", "huge_header.png", b"\x00" + pngutil.SIGNATURE + pngutil.ihdr(100000, 100000, 8, 0)
          + pngutil.chunk(b"IDAT", b"x\x9c\x03\x00\x00\x00\x00\x01"))
    # the preparation: option bit 7, then normalize + 3 * invert (mnist/fill, auto), through the handler
    page = dark_page(40)
    write("png", "prep_mnist_auto_page40.png", b"\x90" + bytes([1 + 3 * 2]) + page)
    write("png", "prep_fill_auto_page40.png", b"\x80" + bytes([2 + 3 * 2]) + page)
    write("png", "prep_mnist_yes_page40.png", b"\x80" + bytes([1 + 3 * 1]) + page)
    write("png", "prep_none_auto_grey8_28.png", b"\x80" + bytes([0 + 3 * 2]) + ps["grey8_28.png"])
    write("png", "prep_mnist_auto_blank_6.png", b"\x90" + bytes([1 + 3 * 2]) + pngutil.encode(6, 6, [[255] * 6] * 6))
    write("png", "prep_fill_auto_rgba8_4.png", b"\x80" + bytes([2 + 3 * 2]) + ps["rgba8_4.png"])

    small = base64.b64encode(ps["grey8_28.png"]).decode()
    tiny = base64.b64encode(ps["grey1_6.png"]).decode()
    px = [round((i % 28) / 27, 3) for i in range(784)]

    # /encode and /reconstruct
    write("encode_json", "image.json", json.dumps({"image": small}))
    write("encode_json", "image_data_url.json", json.dumps({"image": "data:image/png;base64," + tiny, "invert": True}))
    write("encode_json", "images.json", json.dumps({"images": [tiny, tiny], "sample": True, "seed": 7}))
    write("encode_json", "pixels.json", json.dumps({"pixels": px}))
    write("encode_json", "pixels_batch.json", json.dumps({"pixels": [[0] * 784, [1] * 784]}))
    write("encode_json", "wrong.json", '{"pixels": [0.5, "x"], "seed": -1}')
    write("encode_json", "prep_image_auto.json", json.dumps({"image": small, "normalize": "auto", "invert": "auto"}))
    write("encode_json", "prep_images_fill.json", json.dumps({"images": [tiny, small], "normalize": "fill",
                                                              "invert": True, "with_input": True}))
    write("encode_json", "prep_pixels_sized.json", json.dumps({"pixels": [[0, 1, 0, 1, 1, 0], [1] * 6], "width": 3,
                                                               "height": 2, "normalize": "mnist", "invert": "auto"}))
    write("encode_json", "prep_wrong.json", '{"pixels": [0], "width": 1, "normalize": "sharpen", "invert": "maybe"}')

    # /decode
    write("decode_json", "one.json", '{"z": [0.5, -1.25]}')
    write("decode_json", "batch.json", '{"z": [[0, 0], [1e-3, -2.5e1], [3, 4]]}')
    write("decode_json", "three.json", '{"z": [0.1, 0.2, 0.3]}')
    write("decode_json", "big.json", '{"z": [3.4e38, -3.4e38]}')
    write("decode_json", "bad.json", '{"z": [1, 2], "z": [NaN]}')

    # /interpolate
    write("interpolate_json", "labels.json", '{"from": 3, "to": 8, "steps": 5}')
    write("interpolate_json", "vectors_slerp.json", '{"from": [1, 0], "to": [0, 1], "method": "slerp", "steps": 4}')
    write("interpolate_json", "vectors3.json", '{"from": [1, 0, 2], "to": [0, 1, -1], "method": "linear"}')
    write("interpolate_json", "png_ends.json", json.dumps({"from": tiny, "to": 2, "invert": True, "steps": 2}))
    write("interpolate_json", "opposite.json", '{"from": [1, 1], "to": [-1, -1], "method": "slerp"}')
    write("interpolate_json", "png_ends_prepared.json", json.dumps({"from": small, "to": tiny, "normalize": "auto",
                                                                    "invert": "auto", "steps": 3}))

    # OIP infer
    write("oip_json", "encoder.json", json.dumps({"id": "a", "inputs": [
        {"name": "x", "datatype": "FP32", "shape": [1, 784], "data": px}], "outputs": [{"name": "mu"}]}))
    write("oip_json", "decoder.json", json.dumps({"inputs": [
        {"name": "z", "datatype": "FP32", "shape": [2, 3], "data": [[0, 1, 2], [3, 4, 5]]}],
        "parameters": {"binary_data_output": False}}))
    write("oip_json", "decoder_flat.json", '{"inputs":[{"name":"z","datatype":"FP64","shape":[1,3],"data":[0,1,2]}]}')

    # OIP binary framing: header length (u16 le), option byte (media type | decoder << 2 | direct << 3 |
    # gzip << 4 | disagreeing json-header-size << 5), then the body
    def binary(name, rows, outputs=None, parameters=None):
        flat = [v for r in rows for v in r]
        tail = struct.pack("<%df" % len(flat), *flat)
        body = {"inputs": [{"name": name, "datatype": "FP32", "shape": [len(rows), len(rows[0])],
                            "parameters": {"binary_data_size": len(tail)}}]}
        if outputs is not None:
            body["outputs"] = outputs
        if parameters is not None:
            body["parameters"] = parameters
        head = json.dumps(body).encode()
        return head, tail

    head, tail = binary("x", [[p / 255.0 for p in rows] for rows in [digit_rows(28, 255)[0] * 28]],
                        parameters={"binary_data_output": True})
    write("oip_binary", "encoder_binary", struct.pack("<H", len(head)) + b"\x01" + head + tail)
    write("oip_binary", "encoder_sagemaker", struct.pack("<H", len(head)) + b"\x03" + head + tail)
    write("oip_binary", "encoder_gzip", struct.pack("<H", len(head)) + b"\x10" + head + tail)
    head, tail = binary("z", [[0.5, -1, 2], [0, 0, 0]], outputs=[{"name": "x", "parameters": {"binary_data": True}}])
    write("oip_binary", "decoder_binary", struct.pack("<H", len(head)) + b"\x04" + head + tail)
    write("oip_binary", "decoder_short", struct.pack("<H", len(head)) + b"\x0c" + head + tail[:-4])
    write("oip_binary", "json_only", b"\xff\xff\x06" + json.dumps({"inputs": [
        {"name": "z", "datatype": "FP32", "shape": [1, 3], "data": [1, 2, 3]}]}).encode())

    # compressed bodies: option byte (deflate | encode << 1 | direct << 2), then the stream
    import zlib
    write("content_encoding", "gzip_decode", b"\x00" + gzip.compress(b'{"z": [0.5, -1.25]}', mtime=0))
    write("content_encoding", "deflate_decode", b"\x01" + zlib.compress(b'{"z": [[0, 1], [2, 3]]}'))
    write("content_encoding", "gzip_png", b"\x02" + gzip.compress(ps["grey8_28.png"], mtime=0))
    write("content_encoding", "gzip_truncated", b"\x04" + gzip.compress(b'{"z": [0.5, -1.25]}', mtime=0)[:-6])
    write("content_encoding", "gzip_bomb", b"\x00" + gzip.compress(b"{\"z\": [" + b" " * 200000 + b"1, 2]}", 9, mtime=0))

    # latent-space and scoring bodies (the tiny "mnist" fuzz model has d = 2)
    write("latent_json", "score_image.json", json.dumps({"image": tiny, "k": 8, "seed": 3}))
    write("latent_json", "score_pixels_k_limit.json", json.dumps({"pixels": [[0] * 784, [1] * 784], "k": 33}))
    write("latent_json", "traverse_z.json", '{"z": [0.5, -1], "dims": [0, 1], "steps": 3, "range": 2}')
    write("latent_json", "traverse_label.json", '{"label": 3, "count": 1}')
    write("latent_json", "traverse_image.json", json.dumps({"image": tiny, "steps": 2}))
    write("latent_json", "complete_keep.json", json.dumps({"image": tiny, "keep": "top", "steps": 3, "seed": 1,
                                                           "chain": True}))
    write("latent_json", "complete_mask.json", json.dumps({"pixels": px, "mask": [1] * 392 + [0] * 392, "steps": 2,
                                                           "method": "pseudo_gibbs"}))
    write("latent_json", "complete_bad.json", '{"keep": "middle", "steps": 0}')
    # latent-space queries: selector byte (endpoint | second model << 2 | direct << 3), then the query
    for i, (sel, q) in enumerate(((0, "n=3"), (0, "n=2&dims=1,0&base=3"), (4, "n=4"), (1, "steps=3&count=2"),
                                  (1, "label=7&dims=1&range=0.5&steps=2&format=json"), (2, "label=3&n=2&seed=5"),
                                  (6, "label=3"), (0, "base=0.5,-0.25&n=2&format=json"), (1, "z=1,2,3"),
                                  (3, "n=33&dims=0,0"))):
        write("latent_query", "q%02d" % i, bytes([sel]) + q.encode())

    # query strings: selector byte (endpoint | accept << 3), then the query
    for i, (sel, q) in enumerate(((0, "n=4&seed=7&temperature=0.5&format=json"), (0, "n=1&model=fashion"),
                   (8, "n=257"), (16, "n=2&n=3"), (0, "n=1e9&seed=-1"), (0, "model=%6d%6e%69st&n=%31"),
                   (1, "format=json&model=fashion"), (2, "invert&sample=1&seed=3"),
                   (3, "format=png&invert=false"), (4, "model=mnist&format=json"),
                   (6, ""), (0, "temperature=nan&x=1&&="), (24, "n=+1&seed=9007199254740991"),
                   (2, "normalize=auto&invert=auto"), (3, "normalize=fill&invert=auto&with_input=1&format=json"),
                   (3, "normalize=mnist&with_input&normalize=x"), (4, "normalize=auto&invert=auto&format=json"),
                   (2, "normalize=&invert=automatic"))):
        write("query", "q%02d" % i, bytes([sel]) + q.encode())

    # safetensors
    write("safetensors", "tiny_2_2.safetensors", tiny_safetensors())
    write("safetensors", "tiny_1_1_nocentroids.safetensors", tiny_safetensors(1, 1, centroids=False))
    write("safetensors", "tiny_2_2_f16.safetensors", tiny_safetensors(dtype="F16"))
    write("safetensors", "tiny_1_1_bf16.safetensors", tiny_safetensors(1, 1, dtype="BF16"))
    write("safetensors", "bad_activation.safetensors", tiny_safetensors(1, 1, {"activation": "gelu"}))
    write("safetensors", "header_only.safetensors", struct.pack("<Q", 2) + b"{}")

    # idx
    write("idx", "images_2x3x3.idx", idx_images(2, 3, 3))
    write("idx", "images_1x28x28.idx", idx_images(1, 28, 28))
    write("idx", "labels_5.idx", idx_labels(5))
    write("idx", "images_2x3x3.idx.gz", gzip.compress(idx_images(2, 3, 3), mtime=0))
    write("idx", "labels_5.idx.gz", gzip.compress(idx_labels(5), mtime=0))

    # base64: option byte 0x80 (documented capacity) or smaller capacities
    for i, text in enumerate((tiny, "data:image/png;base64," + tiny, "QUJD\nREVG", "QQ==", "QUI", " Q Q = = ",
                              "data:,abc", "AAAA*")):
        write("base64", "b%02d" % i, b"\x80" + text.encode())
    write("base64", "short_cap", b"\x02" + tiny.encode())


if __name__ == "__main__":
    main()
