"""PIL images, numpy arrays, bytes or paths <-> the base64 PNG the service speaks."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Union

import numpy as np
from PIL import Image

ImageLike = Union[Image.Image, np.ndarray, bytes, str, Path]  # noqa: UP007 - a runtime alias


def to_base64(image: ImageLike) -> str:
    """PNG/JPEG bytes and files are sent as they are; arrays and PIL images as PNG.

    Arrays: (H, W) grey or (H, W, 3) RGB, uint8 0-255 or float 0-1.
    """
    if isinstance(image, (str, Path)):
        return base64.b64encode(Path(image).read_bytes()).decode("ascii")
    if isinstance(image, bytes):
        return base64.b64encode(image).decode("ascii")
    if isinstance(image, np.ndarray):
        array = image
        if array.dtype != np.uint8:
            array = (np.clip(array, 0, 1) * 255).round().astype(np.uint8)
        image = Image.fromarray(array)
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def from_base64(text: str) -> Image.Image:
    img = Image.open(io.BytesIO(base64.b64decode(text, validate=True)))
    img.load()
    return img


def to_array(image: Image.Image) -> np.ndarray:
    """float32 in [0, 1]: (H, W) grey or (H, W, 3) RGB."""
    return np.asarray(image, dtype=np.float32) / 255.0
