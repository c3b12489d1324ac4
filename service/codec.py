"""Images in and out of requests: base64 PNG/JPEG <-> tensors in [0, 1].

The base64 rule (documented in the API): the standard alphabet with padding
(RFC 4648 §4); an optional `data:image/png;base64,` or `data:image/jpeg;base64,`
prefix is accepted; whitespace, the URL-safe alphabet, missing padding or
trailing data are refused. Images are then made into the model's input by the
recipe in its manifest (`InputSpec`: convert to grey or RGB, the crop it was
trained with, if any, a bilinear resize), by the same function the trainer used
(`model_store.images.prepare_image`). Nothing is inverted.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import warnings

import torch
from PIL import Image, UnidentifiedImageError

from model_store import InputSpec
from model_store.images import png_bytes, prepare_image, size_problem
from service.errors import ImageTooLarge, InvalidImage

ACCEPTED_FORMATS = ("PNG", "JPEG")
_DATA_URL = re.compile(r"data:image/(png|jpeg|jpg);base64,")


def decode_base64(text: str, loc: tuple[str | int, ...]) -> bytes:
    match = _DATA_URL.match(text)
    if match:
        text = text[match.end() :]
    try:
        # Strict mode refuses other characters, missing padding and data after it, in C:
        # about ten times faster than checking with a regular expression first.
        # (It lets surplus padding through: 'QUJD==' is refused by the length check.)
        whole = text and len(text) % 4 == 0
        data = binascii.a2b_base64(text, strict_mode=True) if whole else b""
    except (binascii.Error, ValueError) as exc:  # ValueError: characters outside ASCII
        data = b""
        cause: Exception | None = exc
    else:
        cause = None
    if not data:
        raise InvalidImage(
            "not valid base64: use the standard alphabet with '=' padding and no whitespace "
            "(an optional data:image/png;base64, prefix is allowed)",
            loc,
        ) from cause
    return data


def decode_image(
    data: bytes, spec: InputSpec, max_pixels: int, loc: tuple[str | int, ...]
) -> torch.Tensor:
    """PNG or JPEG bytes -> (C, H, W) float tensor in [0, 1], the model's input."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
            # Only the header has been read: refuse big images before any pixel is decoded.
            problem = size_problem(*img.size, max_pixels)
            if problem is not None:
                raise ImageTooLarge(problem, loc)
            img.load()
            return prepare_image(img, spec)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLarge(f"image is over the limit of {max_pixels} pixels", loc) from exc
    except UnidentifiedImageError as exc:
        raise InvalidImage("not a PNG or JPEG image", loc) from exc
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        # Truncated data, bad chunks, oversized text chunks, decoder errors.
        raise InvalidImage(f"image could not be decoded ({type(exc).__name__})", loc) from exc


def encode_pngs(images: torch.Tensor) -> list[str]:
    """(N, C, H, W) tensor in [0, 1] -> base64 PNGs (`model_store.images.png_bytes`)."""
    return [base64.b64encode(png).decode("ascii") for png in png_bytes(images)]


def encode_png(image: torch.Tensor) -> str:
    """(C, H, W) tensor in [0, 1] -> base64 PNG (see `encode_pngs`)."""
    return encode_pngs(image.unsqueeze(0))[0]


def decode_images(
    items: list[str] | list[bytes], spec: InputSpec, max_pixels: int, field: str = "images"
) -> torch.Tensor:
    """A request's list of images -> one (N, C, H, W) batch. Each is base64 text, or the
    file's bytes (a raw image body, `service.dialects`)."""
    return torch.stack([
        decode_image(s if isinstance(s, bytes) else decode_base64(s, ("body", field, i)),
                     spec, max_pixels, ("body", field, i))
        for i, s in enumerate(items)
    ])  # fmt: skip
