"""The test suite's own PNG codec: round trips of every variant, filter and interlacing, a
hand-computed file, and the checks the decoder makes. (The server decoding these files to the
same model input, test_encode, cross-checks the encoder against libpng; decoding the server's
replies cross-checks the decoder.)"""
import random
import struct
import unittest
import zlib

import pngutil
from pngutil import GREY, GREY_ALPHA, PALETTE, RGB, RGBA


class Codec(unittest.TestCase):

    def random_rows(self, rng, w, h, ct, depth):
        top = (1 << depth) - 1
        return [[rng.randint(0, top) for _ in range(w * pngutil.CHANNELS[ct])] for _ in range(h)]

    def test_round_trip_every_variant(self):
        rng = random.Random(7)
        for ct, depths in pngutil.DEPTHS.items():
            for depth in depths:
                for interlace in (False, True):
                    for filters in (None, 0, 1, 2, 3, 4):
                        for w, h in ((1, 1), (5, 3), (9, 10)):
                            with self.subTest(ct=ct, depth=depth, interlace=interlace, filters=filters, size=(w, h)):
                                rows = self.random_rows(rng, w, h, ct, depth)
                                palette = [(i, 255 - i, i // 2) for i in range(1 << depth)] if ct == PALETTE else None
                                img = pngutil.decode(pngutil.encode(w, h, rows, ct, depth, palette=palette,
                                                                    interlace=interlace, filters=filters))
                                self.assertEqual(img.rows, rows)
                                self.assertEqual((img.width, img.height, img.depth, img.color_type, img.interlace),
                                                 (w, h, depth, ct, 1 if interlace else 0))

    def test_filters_invert(self):
        rng = random.Random(3)
        for bpp in (1, 2, 3, 4, 6, 8):
            prev = bytes(rng.randrange(256) for _ in range(24))
            raw = bytes(rng.randrange(256) for _ in range(24))
            for ftype in range(5):
                with self.subTest(bpp=bpp, ftype=ftype):
                    filtered = pngutil.filter_row(ftype, raw, prev, bpp)
                    self.assertEqual(bytes(pngutil.unfilter_row(ftype, filtered, prev, bpp)), raw)

    def test_hand_made_file(self):
        """A 2x2 8-bit grey image built byte by byte: rows 'Sub' and 'Paeth' filtered."""
        raw = bytes([1, 10, 20 - 10, 4, 30 - 10, 40 - 30])  # Sub: 10 20 ; Paeth: 30 40
        data = (b"\x89PNG\r\n\x1a\n" + pngutil.chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 0, 0, 0, 0)) +
                pngutil.chunk(b"IDAT", zlib.compress(raw)) + pngutil.chunk(b"IEND", b""))
        self.assertEqual(pngutil.decode(data).grey8(), [10, 20, 30, 40])
        # Paeth of row 2, pixel 1: a=30, b=20, c=10 -> p=40 -> nearest a (pa=10, pb=20, pc=30)
        self.assertEqual(pngutil._paeth(30, 20, 10), 30)

    def test_sub_byte_packing(self):
        self.assertEqual(pngutil.pack_row([1, 0, 1, 1, 0, 0, 0, 1, 1], 1), b"\xb1\x80")
        self.assertEqual(pngutil.pack_row([3, 0, 2, 1, 3], 2), b"\xc9\xc0")
        self.assertEqual(pngutil.pack_row([15, 1, 8], 4), b"\xf1\x80")
        self.assertEqual(pngutil.unpack_row(b"\xf1\x80", 4, 3), [15, 1, 8])
        self.assertEqual(pngutil.pack_row([258, 65535], 16), b"\x01\x02\xff\xff")

    def test_adam7_passes_cover_every_pixel_once(self):
        for w, h in ((1, 1), (3, 2), (8, 8), (28, 28), (9, 17)):
            seen = [[0] * w for _ in range(h)]
            for x0, y0, dx, dy in pngutil.ADAM7:
                for y in range(y0, h, dy):
                    for x in range(x0, w, dx):
                        seen[y][x] += 1
            self.assertTrue(all(v == 1 for row in seen for v in row))

    def test_rgba8_expansion(self):
        png = pngutil.encode(2, 1, [[0, 1]], PALETTE, 8, palette=[(1, 2, 3), (4, 5, 6)], trns=[0])
        self.assertEqual(pngutil.decode(png).rgba8(), [(1, 2, 3, 0), (4, 5, 6, 255)])
        png = pngutil.encode(2, 1, [[65535, 0, 257, 65535]], GREY_ALPHA, 16)
        self.assertEqual(pngutil.decode(png).rgba8(), [(255, 255, 255, 0), (1, 1, 1, 255)])
        png = pngutil.encode(2, 1, [[1, 2, 3, 4, 5, 6]], RGB, 8, trns=(4, 5, 6))
        self.assertEqual(pngutil.decode(png).rgba8(), [(1, 2, 3, 255), (4, 5, 6, 0)])
        png = pngutil.encode(1, 1, [[9, 8, 7, 6]], RGBA, 8)
        self.assertEqual(pngutil.decode(png).rgba8(), [(9, 8, 7, 6)])
        png = pngutil.encode(2, 1, [[0, 3]], GREY, 2, trns=0)
        self.assertEqual(pngutil.decode(png).rgba8(), [(0, 0, 0, 0), (255, 255, 255, 255)])

    def test_decoder_rejects_damage(self):
        png = pngutil.grey8(bytes(range(16)), 4, 4)
        bad_crc = bytearray(png)
        bad_crc[-5] ^= 1  # inside the IEND CRC
        cases = {"signature": b"\x89PNX" + png[4:], "crc": bytes(bad_crc), "truncated": png[:-20],
                 "no IEND": png[:-12]}
        for what, data in cases.items():
            with self.subTest(what):
                with self.assertRaises(pngutil.PNGError):
                    pngutil.decode(data)
        with self.assertRaises(pngutil.PNGError):  # grey8() is only for 8-bit grey
            pngutil.decode(pngutil.encode(2, 2, [[1, 2, 3] * 2] * 2, RGB, 8)).grey8()

    def test_encoder_refuses_bad_input(self):
        with self.assertRaises(ValueError):
            pngutil.encode(2, 1, [[0, 0]], RGB, 4)
        with self.assertRaises(ValueError):
            pngutil.encode(2, 1, [[0]], GREY, 8)
        with self.assertRaises(ValueError):
            pngutil.encode(1, 1, [[0]], PALETTE, 8)


if __name__ == "__main__":
    unittest.main()
