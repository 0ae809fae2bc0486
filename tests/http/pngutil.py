"""A small PNG codec for the tests (zlib + struct only).

encode() writes every variant the server must accept: grey 1/2/4/8/16-bit, grey+alpha, RGB 8/16,
RGBA 8/16, palette 1/2/4/8-bit with or without tRNS, optionally Adam7-interlaced, with any of the
five filter types (by default the rows cycle through all five). decode() reads the same set back,
checking every chunk's CRC, so the server's replies can be checked pixel by pixel.

Samples are plain ints at the image's bit depth; an image is a list of rows, each row the
concatenated channel samples of its pixels (palette images: one index per pixel).
"""
import struct
import zlib

SIGNATURE = b"\x89PNG\r\n\x1a\n"

GREY, RGB, PALETTE, GREY_ALPHA, RGBA = 0, 2, 3, 4, 6
CHANNELS = {GREY: 1, RGB: 3, PALETTE: 1, GREY_ALPHA: 2, RGBA: 4}
DEPTHS = {GREY: (1, 2, 4, 8, 16), RGB: (8, 16), PALETTE: (1, 2, 4, 8), GREY_ALPHA: (8, 16), RGBA: (8, 16)}

# Adam7 passes: first column, first row, column step, row step.
ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))

FILTER_NONE, FILTER_SUB, FILTER_UP, FILTER_AVERAGE, FILTER_PAETH = range(5)


class PNGError(ValueError):
    """The bytes are not a PNG this codec can read (bad signature, CRC, layout...)."""


def chunk(kind, data):
    """One chunk: length, type, data, CRC over type and data."""
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def ihdr(width, height, depth, color_type, interlace=0):
    """The IHDR chunk (used on its own to build headers that claim huge sizes)."""
    return chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, interlace))


def row_bytes(width, color_type, depth):
    return (width * CHANNELS[color_type] * depth + 7) // 8


def _bpp(color_type, depth):
    """Bytes per complete pixel, at least 1: the distance the filters look back."""
    return max(1, CHANNELS[color_type] * depth // 8)


def pack_row(samples, depth):
    """Samples at `depth` bits to bytes (sub-byte samples packed most significant bit first)."""
    if depth == 8:
        return bytes(samples)
    if depth == 16:
        return struct.pack(">%dH" % len(samples), *samples)
    out = bytearray((len(samples) * depth + 7) // 8)
    for i, s in enumerate(samples):
        bit = i * depth
        out[bit // 8] |= s << (8 - depth - bit % 8)
    return bytes(out)


def unpack_row(data, depth, count):
    """The first `count` samples of a packed row."""
    if depth == 8:
        return list(data[:count])
    if depth == 16:
        return list(struct.unpack(">%dH" % count, bytes(data[: 2 * count])))
    mask = (1 << depth) - 1
    return [(data[i * depth // 8] >> (8 - depth - (i * depth) % 8)) & mask for i in range(count)]


def _paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def filter_row(ftype, raw, prev, bpp):
    """Filters one row of bytes given the previous row's raw bytes."""
    out = bytearray(len(raw))
    for i, x in enumerate(raw):
        a = raw[i - bpp] if i >= bpp else 0
        b = prev[i]
        c = prev[i - bpp] if i >= bpp else 0
        if ftype == FILTER_NONE:
            pred = 0
        elif ftype == FILTER_SUB:
            pred = a
        elif ftype == FILTER_UP:
            pred = b
        elif ftype == FILTER_AVERAGE:
            pred = (a + b) // 2
        elif ftype == FILTER_PAETH:
            pred = _paeth(a, b, c)
        else:
            raise ValueError("filter type %r" % ftype)
        out[i] = (x - pred) & 0xFF
    return bytes(out)


def unfilter_row(ftype, data, prev, bpp):
    """Inverts filter_row: the raw bytes of one row."""
    out = bytearray(data)
    for i in range(len(out)):
        a = out[i - bpp] if i >= bpp else 0
        b = prev[i]
        c = prev[i - bpp] if i >= bpp else 0
        if ftype == FILTER_NONE:
            continue
        if ftype == FILTER_SUB:
            pred = a
        elif ftype == FILTER_UP:
            pred = b
        elif ftype == FILTER_AVERAGE:
            pred = (a + b) // 2
        elif ftype == FILTER_PAETH:
            pred = _paeth(a, b, c)
        else:
            raise PNGError("unknown filter type %d" % ftype)
        out[i] = (out[i] + pred) & 0xFF
    return out


def _pass_size(width, height, p):
    x0, y0, dx, dy = ADAM7[p]
    pw = (width - x0 + dx - 1) // dx if width > x0 else 0
    ph = (height - y0 + dy - 1) // dy if height > y0 else 0
    return pw, ph


def _filtered_stream(sub_images, color_type, depth, filters):
    """Filter bytes + filtered rows of each (width, rows) sub-image, in order."""
    bpp = _bpp(color_type, depth)
    out = bytearray()
    index = 0
    for width, rows in sub_images:
        prev = bytes(row_bytes(width, color_type, depth))
        for row in rows:
            raw = pack_row(row, depth)
            ftype = index % 5 if filters is None else filters
            out.append(ftype)
            out += filter_row(ftype, raw, prev, bpp)
            prev = raw
            index += 1
    return bytes(out)


def encode(width, height, rows, color_type=GREY, depth=8, palette=None, trns=None, interlace=False,
           filters=None, level=6, extra_chunks=()):
    """A PNG of `rows` (height lists of width*channels samples).

    palette: list of (r, g, b) for PALETTE images; trns: for PALETTE a list of alphas (one per
    entry, may be shorter), for GREY a single grey value, for RGB an (r, g, b) triple that is
    transparent. filters: None cycles the rows through all five filter types, an int uses one.
    extra_chunks: (type, data) pairs written before the image data (e.g. ancillary text).
    """
    if depth not in DEPTHS[color_type]:
        raise ValueError("depth %d is not allowed for colour type %d" % (depth, color_type))
    channels = CHANNELS[color_type]
    if len(rows) != height or any(len(r) != width * channels for r in rows):
        raise ValueError("rows do not match %dx%d with %d channels" % (width, height, channels))
    if interlace:
        subs = []
        for p, (x0, y0, dx, dy) in enumerate(ADAM7):
            pw, ph = _pass_size(width, height, p)
            if pw == 0 or ph == 0:
                continue  # empty passes are not stored at all
            sub_rows = []
            for y in range(y0, height, dy):
                row = rows[y]
                sub_rows.append([row[x * channels + c] for x in range(x0, width, dx) for c in range(channels)])
            subs.append((pw, sub_rows))
    else:
        subs = [(width, rows)]
    out = bytearray(SIGNATURE)
    out += ihdr(width, height, depth, color_type, 1 if interlace else 0)
    for kind, data in extra_chunks:
        out += chunk(kind, data)
    if color_type == PALETTE:
        if not palette:
            raise ValueError("a palette image needs a palette")
        out += chunk(b"PLTE", b"".join(bytes(rgb) for rgb in palette))
    if trns is not None:
        if color_type == PALETTE:
            out += chunk(b"tRNS", bytes(trns))
        elif color_type == GREY:
            out += chunk(b"tRNS", struct.pack(">H", trns))
        elif color_type == RGB:
            out += chunk(b"tRNS", struct.pack(">HHH", *trns))
        else:
            raise ValueError("tRNS is not allowed for colour type %d" % color_type)
    data = zlib.compress(_filtered_stream(subs, color_type, depth, filters), level)
    # two IDAT chunks when there is enough data: readers must concatenate them
    half = len(data) // 2 if len(data) > 64 else len(data)
    out += chunk(b"IDAT", data[:half])
    if half < len(data):
        out += chunk(b"IDAT", data[half:])
    out += chunk(b"IEND", b"")
    return bytes(out)


def grey8(pixels, width, height, **kwargs):
    """An 8-bit grey PNG of a flat sequence of width*height bytes."""
    rows = [list(pixels[y * width:(y + 1) * width]) for y in range(height)]
    return encode(width, height, rows, GREY, 8, **kwargs)


class Image:
    """A decoded PNG: header fields and rows of samples (not expanded: palette indices stay)."""

    def __init__(self, width, height, depth, color_type, interlace, rows, palette, trns, chunks):
        self.width, self.height = width, height
        self.depth, self.color_type, self.interlace = depth, color_type, interlace
        self.rows, self.palette, self.trns = rows, palette, trns
        self.chunks = chunks  # chunk types in file order

    @property
    def channels(self):
        return CHANNELS[self.color_type]

    def grey8(self):
        """Flat list of width*height grey bytes; only for 8-bit grey images (what the server writes)."""
        if self.color_type != GREY or self.depth != 8:
            raise PNGError("not an 8-bit grey image (colour type %d, depth %d)" % (self.color_type, self.depth))
        flat = []
        for row in self.rows:
            flat.extend(row)
        return flat

    def rgba8(self):
        """Flat list of (r, g, b, a) tuples at 8 bits, any colour type (16-bit scaled, tRNS applied)."""
        maxv = (1 << self.depth) - 1
        to8 = (lambda v: v) if self.depth == 8 else (lambda v: (v * 255 + maxv // 2) // maxv)
        out = []
        for row in self.rows:
            ch = self.channels
            for x in range(self.width):
                s = row[x * ch:(x + 1) * ch]
                if self.color_type == PALETTE:
                    r, g, b = self.palette[s[0]]
                    a = self.trns[s[0]] if self.trns and s[0] < len(self.trns) else 255
                    out.append((r, g, b, a))
                elif self.color_type == GREY:
                    a = 0 if self.trns is not None and s[0] == self.trns else 255
                    out.append((to8(s[0]),) * 3 + (a,))
                elif self.color_type == GREY_ALPHA:
                    out.append((to8(s[0]),) * 3 + (to8(s[1]),))
                elif self.color_type == RGB:
                    a = 0 if self.trns is not None and tuple(s) == tuple(self.trns) else 255
                    out.append(tuple(to8(v) for v in s) + (a,))
                else:
                    out.append(tuple(to8(v) for v in s))
        return out


def read_chunks(data):
    """[(type, data)] of a PNG, checking the signature and every CRC."""
    if data[:8] != SIGNATURE:
        raise PNGError("bad signature %r" % data[:8])
    pos, chunks = 8, []
    while pos < len(data):
        if pos + 12 > len(data):
            raise PNGError("truncated chunk header at byte %d" % pos)
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        if len(body) != length or pos + 12 + length > len(data):
            raise PNGError("truncated %r chunk" % kind)
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        if crc != zlib.crc32(kind + body) & 0xFFFFFFFF:
            raise PNGError("CRC error in %r chunk" % kind)
        chunks.append((kind, body))
        pos += 12 + length
        if kind == b"IEND":
            break
    if not chunks or chunks[-1][0] != b"IEND":
        raise PNGError("no IEND chunk")
    if chunks[0][0] != b"IHDR":
        raise PNGError("first chunk is %r, not IHDR" % chunks[0][0])
    return chunks


def decode(data):
    """Decodes a whole PNG into an Image. Raises PNGError on anything malformed."""
    chunks = read_chunks(data)
    width, height, depth, color_type, comp, filt, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    if color_type not in CHANNELS or depth not in DEPTHS[color_type]:
        raise PNGError("colour type %d with depth %d" % (color_type, depth))
    if comp != 0 or filt != 0 or interlace not in (0, 1) or width == 0 or height == 0:
        raise PNGError("bad IHDR")
    palette = trns = None
    idat = bytearray()
    for kind, body in chunks[1:]:
        if kind == b"PLTE":
            palette = [tuple(body[i:i + 3]) for i in range(0, len(body), 3)]
        elif kind == b"tRNS":
            if color_type == PALETTE:
                trns = list(body)
            elif color_type == GREY:
                (trns,) = struct.unpack(">H", body)
            elif color_type == RGB:
                trns = struct.unpack(">HHH", body)
        elif kind == b"IDAT":
            idat += body
    if color_type == PALETTE and not palette:
        raise PNGError("palette image without PLTE")
    try:
        raw = zlib.decompress(bytes(idat))
    except zlib.error as e:
        raise PNGError("bad zlib data: %s" % e)
    channels = CHANNELS[color_type]
    bpp = _bpp(color_type, depth)
    rows = [[0] * (width * channels) for _ in range(height)]
    pos = 0

    def read_sub_image(pw, ph):
        nonlocal pos
        nbytes = row_bytes(pw, color_type, depth)
        prev = bytearray(nbytes)
        out = []
        for _ in range(ph):
            if pos + 1 + nbytes > len(raw):
                raise PNGError("image data too short")
            ftype = raw[pos]
            cur = unfilter_row(ftype, raw[pos + 1:pos + 1 + nbytes], prev, bpp)
            out.append(unpack_row(cur, depth, pw * channels))
            prev = cur
            pos += 1 + nbytes
        return out

    if not interlace:
        rows = read_sub_image(width, height)
    else:
        for p, (x0, y0, dx, dy) in enumerate(ADAM7):
            pw, ph = _pass_size(width, height, p)
            if pw == 0 or ph == 0:
                continue
            for j, sub in enumerate(read_sub_image(pw, ph)):
                y = y0 + j * dy
                for i in range(pw):
                    x = x0 + i * dx
                    rows[y][x * channels:(x + 1) * channels] = sub[i * channels:(i + 1) * channels]
    if pos != len(raw):
        raise PNGError("%d extra bytes after the image data" % (len(raw) - pos))
    return Image(width, height, depth, color_type, interlace, rows, palette, trns, [k for k, _ in chunks])
