"""Limits at the door, as pure ASGI middleware: they answer before a route runs or a body is
read into memory.

- `AdmissionMiddleware`: at most `max_requests` requests in flight per worker (reading their
  body, validating, waiting for or in a forward pass); past that a fast 503 with Retry-After.
  It also stamps each request's deadline, which the routes and the batcher honour (504);
  a body not whole by then gets 408 (a slow or stalled sender cannot hold a slot forever).
  `/health`, `/ready` and `/metrics` are never counted nor refused.
- `BodyLimitMiddleware`: 413 for a body over `max_bytes`, with or without Content-Length.
"""

from __future__ import annotations

import asyncio
import json
import time

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.problems import problem_body

UNCOUNTED = frozenset({"/health", "/ready", "/metrics", "/v2/health/live", "/v2/health/ready"})


async def send_problem(
    send: Send, scope: Scope, status: int, detail: str, headers: list[tuple[bytes, bytes]]
) -> None:
    """A problem+json answer (`service.problems`' shape) sent straight to ASGI."""
    body = json.dumps(problem_body(status, detail, scope.get("path", ""))).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def deadline(scope: Scope) -> float | None:
    """The request's deadline on the `time.monotonic` clock, if it has one."""
    return scope.get("state", {}).get("deadline")


class InFlight:
    """The requests in flight in this worker: admission counts them, the batcher asks
    whether one is alone (`service.batching`: inline when idle)."""

    def __init__(self) -> None:
        self.count = 0


class AdmissionMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        max_requests: int,
        timeout_s: float | None,
        in_flight: InFlight | None = None,
    ) -> None:
        self.app, self.max_requests, self.timeout_s = app, max_requests, timeout_s
        self.counter = in_flight or InFlight()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in UNCOUNTED:
            await self.app(scope, receive, send)
            return
        if self.counter.count >= self.max_requests:
            detail = f"{self.counter.count} requests are in flight in this worker; retry shortly"
            await send_problem(send, scope, 503, detail, [(b"retry-after", b"1")])
            return
        if self.timeout_s:
            ends = time.monotonic() + self.timeout_s
            scope.setdefault("state", {})["deadline"] = ends
            receive = _body_by(receive, ends, self.timeout_s)
        self.counter.count += 1  # one event loop per worker: no lock needed
        try:
            await self.app(scope, receive, send)
        finally:
            self.counter.count -= 1


class BodyTimeout(HTTPException):
    """A body still not whole at the request's deadline (a client that sends it slowly, or
    stops): 408, and the connection is closed. An HTTPException, like BodyTooLarge."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__(408, f"the request body did not arrive within {timeout_s:g} s "
                         "(AE_REQUEST_TIMEOUT_S)", headers={"Connection": "close"})  # fmt: skip


def _body_by(receive: Receive, ends: float, timeout_s: float) -> Receive:
    """`receive` that raises BodyTimeout when the body is not whole by `ends`; once it is,
    later calls (waiting for a disconnect) pass straight through."""
    whole = False

    async def timed() -> Message:
        nonlocal whole
        if whole:
            return await receive()
        try:
            async with asyncio.timeout(max(ends - time.monotonic(), 0)):
                message = await receive()
        except TimeoutError:
            raise BodyTimeout(timeout_s) from None
        whole = message["type"] != "http.request" or not message.get("more_body", False)
        return message

    return timed


class BodyTooLarge(HTTPException):
    """Raised from `receive` when a body without (or with a false) Content-Length runs over.

    An HTTPException, so FastAPI's body reader lets it through to the problem handler.
    """

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"request body is over the limit of {max_bytes} bytes")


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def _reject(self, send: Send, scope: Scope) -> None:
        detail = f"request body is over the limit of {self.max_bytes} bytes"
        # The unread body would be parsed as the next request: close the connection.
        await send_problem(send, scope, 413, detail, [(b"connection", b"close")])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for key, value in scope.get("headers", []):
            if key == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > self.max_bytes:
                    await self._reject(send, scope)
                    return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._reject(send, scope)
