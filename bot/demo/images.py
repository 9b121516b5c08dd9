"""Pictures for the sample site's ``/wp-content/uploads/`` paths, generated in memory.

No binary files ship with syndbot: :func:`render_image` draws a simple, deterministic picture
(a two-colour vertical gradient with a band, colours chosen from the path) at the requested
size, as a real baseline JPEG or PNG, so platforms' size and type checks see genuine images.

The JPEG encoder is the smallest one that is still a valid baseline JFIF file: every 8x8 block
is flat (only its DC coefficient is coded), which is enough for a gradient at block resolution.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from functools import lru_cache

MAX_SIDE = 4096

Rgb = tuple[int, int, int]

# Standard JPEG luminance DC Huffman table (ITU T.81, Annex K.3): symbols are bit categories.
_DC_BITS = (0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0)
_DC_VALUES = tuple(range(12))
# A one-symbol AC table: code "0" means end-of-block, the only AC symbol flat blocks need.
_AC_BITS = (1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
_AC_VALUES = (0x00,)


def _palette(key: str) -> tuple[Rgb, Rgb, Rgb]:
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    top = (20 + digest[0] % 60, 40 + digest[1] % 80, 90 + digest[2] % 110)
    bottom = (digest[3] % 40, 10 + digest[4] % 40, 30 + digest[5] % 60)
    band = (200 + digest[6] % 56, 120 + digest[7] % 100, 20 + digest[8] % 60)
    return top, bottom, band


def _row_colour(y: int, height: int, palette: tuple[Rgb, Rgb, Rgb]) -> Rgb:
    top, bottom, band = palette
    if height > 0 and 0.70 <= y / height < 0.76:
        return band
    t = y / max(height - 1, 1)
    return (
        round(top[0] + (bottom[0] - top[0]) * t),
        round(top[1] + (bottom[1] - top[1]) * t),
        round(top[2] + (bottom[2] - top[2]) * t),
    )


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def render_png(width: int, height: int, key: str = "") -> bytes:
    """A ``width`` x ``height`` RGB PNG."""
    palette = _palette(key)
    rows = bytearray()
    for y in range(height):
        rows += b"\x00" + bytes(_row_colour(y, height, palette)) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(bytes(rows), 9))
        + _png_chunk(b"IEND", b"")
    )


def _huffman_codes(bits: tuple[int, ...], values: tuple[int, ...]) -> dict[int, tuple[int, int]]:
    """Canonical Huffman codes (T.81 Annex C): symbol -> (code, length)."""
    codes: dict[int, tuple[int, int]] = {}
    code = 0
    k = 0
    for length in range(1, 17):
        for _ in range(bits[length - 1]):
            codes[values[k]] = (code, length)
            code += 1
            k += 1
        code <<= 1
    return codes


_DC_CODES = _huffman_codes(_DC_BITS, _DC_VALUES)
_EOB = _huffman_codes(_AC_BITS, _AC_VALUES)[0x00]


class _BitWriter:
    def __init__(self) -> None:
        self.out = bytearray()
        self._acc = 0
        self._n = 0

    def write(self, value: int, length: int) -> None:
        self._acc = (self._acc << length) | (value & ((1 << length) - 1))
        self._n += length
        while self._n >= 8:
            self._n -= 8
            byte = (self._acc >> self._n) & 0xFF
            self.out.append(byte)
            if byte == 0xFF:
                self.out.append(0x00)  # byte stuffing
        self._acc &= (1 << self._n) - 1

    def flush(self) -> bytes:
        if self._n:
            self.write((1 << (8 - self._n)) - 1, 8 - self._n)  # pad with 1-bits
        return bytes(self.out)


def _ycbcr(rgb: Rgb) -> tuple[int, int, int]:
    r, g, b = rgb
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = 128 - 0.168736 * r - 0.331264 * g + 0.5 * b
    cr = 128 + 0.5 * r - 0.418688 * g - 0.081312 * b
    return tuple(max(0, min(255, round(v))) for v in (y, cb, cr))  # type: ignore[return-value]


def _segment(marker: int, payload: bytes) -> bytes:
    return struct.pack(">HH", marker, len(payload) + 2) + payload


def render_jpeg(width: int, height: int, key: str = "") -> bytes:
    """A ``width`` x ``height`` baseline JFIF JPEG (YCbCr 4:4:4)."""
    palette = _palette(key)
    blocks_x = (width + 7) // 8
    blocks_y = (height + 7) // 8
    writer = _BitWriter()
    predictors = [0, 0, 0]
    for by in range(blocks_y):
        centre = min(by * 8 + 4, height - 1)
        # With an all-ones quantisation table, a flat block of value v has DC = 8 * (v - 128).
        dcs = [8 * (c - 128) for c in _ycbcr(_row_colour(centre, height, palette))]
        for _bx in range(blocks_x):
            for comp in range(3):
                diff = dcs[comp] - predictors[comp]
                predictors[comp] = dcs[comp]
                size = abs(diff).bit_length()
                code, length = _DC_CODES[size]
                writer.write(code, length)
                if size:
                    writer.write(diff if diff > 0 else diff - 1, size)
                writer.write(*_EOB)
    scan = writer.flush()
    app0 = b"JFIF\x00" + bytes((1, 1, 0)) + struct.pack(">HH", 1, 1) + b"\x00\x00"
    dqt = b"\x00" + b"\x01" * 64
    sof = struct.pack(">BHHB", 8, height, width, 3) + b"".join(
        bytes((cid, 0x11, 0)) for cid in (1, 2, 3)
    )
    dht = (
        b"\x00"
        + bytes(_DC_BITS)
        + bytes(_DC_VALUES)
        + b"\x10"
        + bytes(_AC_BITS)
        + bytes(_AC_VALUES)
    )
    sos = bytes((3, 1, 0x00, 2, 0x00, 3, 0x00, 0, 63, 0))
    return b"".join(
        (
            b"\xff\xd8",
            _segment(0xFFE0, app0),
            _segment(0xFFDB, dqt),
            _segment(0xFFC0, sof),
            _segment(0xFFC4, dht),
            _segment(0xFFDA, sos),
            scan,
            b"\xff\xd9",
        )
    )


@lru_cache(maxsize=64)
def render_image(kind: str, width: int, height: int, key: str = "") -> bytes:
    """``kind`` "jpeg" or "png"; sides are clamped to 1..MAX_SIDE. Cached."""
    width = max(1, min(width, MAX_SIDE))
    height = max(1, min(height, MAX_SIDE))
    if kind == "png":
        return render_png(width, height, key)
    if kind == "jpeg":
        return render_jpeg(width, height, key)
    raise ValueError(f"unknown image kind {kind!r}")
