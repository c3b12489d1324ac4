"""More ways in and out of the same routes: file uploads, raw image bodies, PNG answers.

A thin ASGI layer in front of the inference routes, inside admission and the body limit:

- `multipart/form-data`: files under `images` (repeated; `start` and `end` for
  /interpolate), every other parameter a form field (`model`, `version`, `labels` and
  `edits` as JSON text, `count` ...);
- a raw `image/png` or `image/jpeg` body: one image, the parameters in the query string
  (`/reconstruct?model=faces-ae-conv`);

a form becomes the route's JSON body (the files base64-encoded); a raw image is handed to the
route's own function with its parameters validated by the route's own schema and the file's
bytes as the image (no base64 and no JSON on the way: `RawRoute`). Either way validation,
limits, auth, batching, metrics and errors are the JSON path's own: one serving path, a new
decode in front of it. With `Accept: image/png`, a 200 answer carrying images becomes the PNG itself
(several images: one grid), the model, version and numbers in `X-*` headers.

A JSON body to a route that takes raw images is read and validated exactly as FastAPI does
and handed to the same function by the same door (`Dialects._json`), which spares a lone
client the router's scan and the dependency solver; a body that does not validate goes on
to FastAPI as it came, so its errors are FastAPI's own.

Bodies of other types to these routes get a 415 that says what to send.
"""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import parse_qsl

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service import problems
from service.dialect_routes import RAW_TYPES, RawRoute
from service.limits import BodyTooLarge
from service.png_answers import PngAnswer
from service.problems import problem
from service.schemas import MAX_ITEMS
from service.state import RequestContext, ServiceState, require_api_key

IMAGE_ROUTES = {"/encode", "/reconstruct", "/score", "/edit-attribute", "/interpolate"}
JSON_ROUTES = {"/decode", "/sample", "/cvae-sample"}
FILE_FIELDS = {"/interpolate": ("start", "end")}
EXAMPLE = (
    "send JSON (content-type: application/json, images as base64 PNG), or files as "
    "multipart/form-data (curl -F images=@digit.png -F model=mnist-vae ...), or one PNG or "
    "JPEG as the body (curl --data-binary @digit.png -H 'content-type: image/png' "
    "'.../reconstruct?model=mnist-vae')"
)


def _value(text: str) -> Any:
    """A form field or query value: JSON when it reads as JSON (numbers, lists, objects,
    true/false), else the text itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text


async def _read(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    return b"".join(chunks)


def _is_image(data: bytes) -> bool:
    """PNG's or JPEG's signature."""
    return data[:8] == b"\x89PNG\r\n\x1a\n" or data[:3] == b"\xff\xd8\xff"


def _replay(data: bytes) -> Receive:
    """A receive that hands on a body already read, then says the client left."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": data, "more_body": False}

    return receive


async def _no_more() -> Message:
    """The receive of a request whose body has been read: nothing more comes."""
    return {"type": "http.disconnect"}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class Dialects:
    def __init__(
        self,
        app: ASGIApp,
        max_part_bytes: int,
        service: ServiceState,
        raw_routes: dict[str, RawRoute],
    ) -> None:
        self.app, self.max_part_bytes = app, max_part_bytes
        self.service, self.raw_routes = service, raw_routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or (path not in IMAGE_ROUTES and path not in JSON_ROUTES)
        ):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        ctype = headers.get("content-type", "").split(";")[0].strip().lower()
        accept = headers.get("accept", "")
        if "image/png" in accept and "application/json" not in accept:
            send = PngAnswer(send, path).send
        body: dict[str, Any] | None = None
        if ctype == "multipart/form-data":
            body = await self._form(scope, receive, send, path)
            if body is None:  # a problem already sent
                return
        elif ctype in RAW_TYPES:
            if path not in self.raw_routes:
                await self._refuse(send, 415, f"{path} takes no image body: "
                                   + ("send start and end as multipart/form-data files"
                                      if path == "/interpolate" else "send JSON"))  # fmt: skip
                return
            await self._raw(scope, receive, send, self.raw_routes[path])
            return
        elif ctype not in ("", "application/json"):
            await self._refuse(send, 415, f"content-type {ctype} is not taken here; {EXAMPLE}")
            return
        if body is not None:
            scope, receive = self._as_json(scope, body)
        elif ctype == "application/json" and path in self.raw_routes:
            await self._json(scope, receive, send, self.raw_routes[path])
            return
        elif ctype == "application/json":
            receive = await self._sniff(receive, send)
            if receive is None:
                return
        await self.app(scope, receive, send)

    async def _json(self, scope: Scope, receive: Receive, send: Send, raw: RawRoute) -> None:
        """A JSON body to a route that also takes raw images: read as FastAPI reads it
        (`json.loads`, then the route's schema in Python mode) and handed to the route's
        own function, past the router's scan and the dependency solver (a lone client's
        request spends a fifth of its framework time there). A body that does not validate
        goes to FastAPI as it came, so every error is FastAPI's own."""
        data = await _read(receive)
        if _is_image(data):
            await self._refuse(send, 415, "the body is an image but says application/json; "
                               + EXAMPLE)  # fmt: skip
            return
        try:
            body = raw.schema.model_validate(json.loads(data))
        except (ValueError, ValidationError):  # FastAPI's own 400 or 422, as before
            await self.app(scope, _replay(data), send)
            return
        await self._call(scope, send, raw, body)

    async def _raw(self, scope: Scope, receive: Receive, send: Send, raw: RawRoute) -> None:
        """One PNG or JPEG body, the parameters in the query string: the route's function
        with the file's bytes as its one image."""
        data = await _read(receive)
        scope["route"] = raw.route  # as the router would: the metrics' endpoint label
        request = Request(scope)
        query = {k: _value(v) for k, v in parse_qsl(scope.get("query_string", b"").decode())}
        try:
            await require_api_key(request, request.headers.get("x-api-key"))
            try:  # the route's own schema checks the parameters; the image is the body
                body = raw.schema.model_validate({**query, "images": ["AAAA"]})
            except ValidationError as exc:
                raise RequestValidationError(
                    [{**e, "loc": ("query", *e["loc"])} for e in exc.errors()]
                ) from None
            body.images = [data]
        except Exception as exc:  # noqa: BLE001 - answered as the app's handlers answer it
            response = await problems.answer(request, exc)
            await response(scope, receive, send)
            return
        await self._call(scope, send, raw, body, request)

    async def _call(self, scope: Scope, send: Send, raw: RawRoute, body: BaseModel,
                    checked: Request | None = None) -> None:  # fmt: skip
        """The route's function on a validated body, answered as the router would;
        `checked`: the request, its API key already checked (`_raw`)."""
        scope["route"] = raw.route  # as the router would: the metrics' endpoint label
        request = Request(scope) if checked is None else checked
        try:
            if checked is None:
                await require_api_key(request, request.headers.get("x-api-key"))
            response = await raw.handle(RequestContext(self.service, request), body)
        except Exception as exc:  # noqa: BLE001 - answered as the app's handlers answer it
            response = await problems.answer(request, exc)
        await response(scope, _no_more, send)

    async def _sniff(self, receive: Receive, send: Send) -> Receive | None:
        """A JSON route's body that is really an image: a 415 that says how to send one.
        Only the first chunk is looked at, and then handed on as it came."""
        first = await receive()
        data = first.get("body", b"") if first["type"] == "http.request" else b""
        if _is_image(data):
            await self._refuse(send, 415, "the body is an image but says application/json; "
                               + EXAMPLE)  # fmt: skip
            return None
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return first

        return replay

    async def _form(
        self, scope: Scope, receive: Receive, send: Send, path: str
    ) -> dict[str, Any] | None:
        names = FILE_FIELDS.get(path, ("images",))
        request = Request(scope, receive)
        try:
            form = await request.form(max_files=MAX_ITEMS, max_fields=32,
                                      max_part_size=self.max_part_bytes)  # fmt: skip
        except BodyTooLarge:
            raise
        except Exception as exc:  # noqa: BLE001 - starlette's parse errors have no common base
            status = getattr(exc, "status_code", 400)
            await self._refuse(send, status if status in (400, 413) else 400,
                               f"unreadable multipart body: {str(getattr(exc, 'detail', exc))[:120]}")  # fmt: skip  # noqa: E501
            return None
        body: dict[str, Any] = {}
        files: dict[str, list[str]] = {}
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                files.setdefault(key, []).append(_b64(await value.read()))
            elif key in names:
                files.setdefault(key, []).append(str(value))  # base64 text in a field
            else:
                body[key] = _value(str(value))
        await form.close()
        if path == "/interpolate":
            for key in names:
                if key in files:
                    body[key] = files[key][0]
        elif path in IMAGE_ROUTES:
            body["images"] = files.get("images", [])
        return body

    def _as_json(self, scope: Scope, body: dict[str, Any]) -> tuple[Scope, Receive]:
        data = json.dumps(body).encode()
        headers = [(k, v) for k, v in scope["headers"]
                   if k.lower() not in (b"content-type", b"content-length")]  # fmt: skip
        headers += [(b"content-type", b"application/json"),
                    (b"content-length", str(len(data)).encode())]  # fmt: skip
        return {**scope, "headers": headers}, _replay(data)

    @staticmethod
    async def _refuse(send: Send, status: int, detail: str) -> None:
        response = problem(status, detail)
        await send({"type": "http.response.start", "status": status,
                    "headers": response.raw_headers})  # fmt: skip
        await send({"type": "http.response.body", "body": response.body})
