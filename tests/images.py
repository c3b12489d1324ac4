"""Image helpers for tests: real digits as base64 PNG, and decoding responses."""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image


def png_b64(array: np.ndarray, fmt: str = "PNG", mode: str | None = None) -> str:
    img = Image.fromarray(array, mode) if mode else Image.fromarray(array)
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return base64.b64encode(buf.getvalue()).decode()


def decode_png(b64: str) -> np.ndarray:
    img = Image.open(io.BytesIO(base64.b64decode(b64, validate=True)), formats=["PNG"])
    img.load()
    return np.asarray(img, dtype=np.float32) / 255.0


def real_digits(n: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Real test-split digits (uint8 28x28) and their labels."""
    from trainer.datasets.mnist import load_embedded_sample

    data = load_embedded_sample()
    idx = np.linspace(0, len(data.test_x) - 1, n).astype(int)
    x = (data.test_x[idx, 0].numpy() * 255).round().astype(np.uint8)
    return x, data.test_y[idx].numpy()
