"""Hand-made PNGs for the hostile-input tests: bombs that Pillow must never fully decode."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image

SIGNATURE = b"\x89PNG\r\n\x1a\n"


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def declared_size_png(width: int, height: int) -> bytes:
    """A few hundred bytes that declare width x height grey pixels (a decompression bomb)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * 1000)
    return SIGNATURE + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def text_bomb_png(inflated_bytes: int = 64 << 20) -> bytes:
    """A valid 28x28 PNG carrying a zTXt chunk that inflates to `inflated_bytes`."""
    buf = io.BytesIO()
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(buf, format="PNG")
    png = buf.getvalue()
    ztxt = chunk(b"zTXt", b"Comment\0\0" + zlib.compress(b"a" * inflated_bytes, 9))
    ihdr_end = len(SIGNATURE) + 8 + 13 + 4
    return png[:ihdr_end] + ztxt + png[ihdr_end:]
