"""Images as the answer itself: a route's 200 JSON answer turned into one PNG (several
images: a grid), for `Accept: image/png` (`service.dialects` decides when)."""

from __future__ import annotations

import base64
import binascii
import io
import json
import math
from typing import Any

from PIL import Image
from starlette.types import Message, Send

from service.problems import problem


class PngAnswer:
    """Turns a 200 JSON answer with images into a PNG (several: a grid) with the numbers in
    headers; other answers pass as they are. Routes that answer no image say so (406)."""

    def __init__(self, send: Send, path: str) -> None:
        self.inner, self.path = send, path
        self.passing = True  # until a 200 starts: errors stay problem+json
        self.chunks: list[bytes] = []

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.passing = message["status"] != 200
            if self.passing:
                await self.inner(message)
            return
        if self.passing:
            await self.inner(message)
            return
        self.chunks.append(message.get("body", b""))
        if message.get("more_body"):
            return
        status, headers, body = self._convert(json.loads(b"".join(self.chunks)))
        await self.inner({"type": "http.response.start", "status": status, "headers": headers})
        await self.inner({"type": "http.response.body", "body": body})

    def _convert(self, answer: dict[str, Any]) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        images = answer.get("images")
        columns = None
        if images is None and "groups" in answer:
            images = [img for g in answer["groups"] for img in g["images"]]
            columns = max(1, len(answer["groups"][0]["images"])) if answer["groups"] else 1
        if not images:
            response = problem(406, f"{self.path} answers no image: ask for JSON "
                               "(accept: application/json)")  # fmt: skip
            return 406, response.raw_headers, response.body
        try:
            pngs = [base64.b64decode(i, validate=True) for i in images]
        except binascii.Error:
            response = problem(500, "internal error; the service log has the details")
            return 500, response.raw_headers, response.body
        png = pngs[0] if len(pngs) == 1 else grid(pngs, columns)
        headers = [(b"content-type", b"image/png"), (b"content-length", str(len(png)).encode()),
                   (b"x-model", str(answer.get("model", "")).encode()),
                   (b"x-model-version", str(answer.get("version", "")).encode()),
                   (b"x-image-count", str(len(pngs)).encode())]  # fmt: skip
        if "errors" in answer:
            headers.append((b"x-reconstruction-error",
                            ",".join(f"{e:.6g}" for e in answer["errors"]).encode()))  # fmt: skip
        if "seed" in answer:
            headers.append((b"x-seed", str(answer["seed"]).encode()))
        return 200, headers, png


def grid(pngs: list[bytes], columns: int | None) -> bytes:
    """Several PNGs of one size tiled row by row (a CVAE's: one row per label)."""
    tiles = [Image.open(io.BytesIO(p)) for p in pngs]
    w, h = tiles[0].size
    columns = columns or math.ceil(math.sqrt(len(tiles)))
    rows = math.ceil(len(tiles) / columns)
    grid = Image.new(tiles[0].mode, (columns * w, rows * h))
    for i, tile in enumerate(tiles):
        grid.paste(tile, ((i % columns) * w, (i // columns) * h))
    out = io.BytesIO()
    grid.save(out, format="PNG")
    return out.getvalue()
