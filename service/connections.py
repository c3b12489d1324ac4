"""Limits on connections, before any request reaches the app: uvicorn's httptools protocol with
three bounds it lacks.

- **Header section size** (`max_header_bytes`): the request line and headers of one request
  may take at most this many bytes; past it, a 431 and the connection is closed. httptools
  buffers a header section of any size (a 184 MiB header was answered 200 and grew the worker
  by 253 MiB), and the body limit and request deadline only start after it.
- **Header timeout** (`header_timeout_s`): a connection that has not sent a whole request head
  within this time of opening (or of its previous answer's idle time running out) is closed.
  uvicorn's keep-alive timer only runs after a first answer, and stops with the first byte of
  the next request, so a client that sends nothing, or half a request line, held its
  connection forever.
- **Open connections per worker** (`max_connections`): past it a new connection gets a 503
  with Retry-After and is closed at once, before it can exhaust file descriptors.

`QuietDisconnects`, the app's outermost middleware, turns a client that goes away mid-request
into one short INFO line instead of two tracebacks (the app's and uvicorn's).

Idle keep-alive connections are closed after uvicorn's `timeout_keep_alive`
(`AE_KEEP_ALIVE_S`). `python -m service` selects this protocol (`http=...`); the limits come
from the settings through `configure`, which the app factory calls in each worker.
"""

from __future__ import annotations

import asyncio
import json
import logging
from http import HTTPStatus
from typing import Any

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from service.problems import problem_body

log = logging.getLogger("service.connections")
HEAD_END = b"\r\n\r\n"


def raw_problem(status: int, detail: str, extra: list[tuple[bytes, bytes]] = ()) -> bytes:
    """A whole HTTP/1.1 problem+json answer that closes the connection, as bytes."""
    body = json.dumps(problem_body(status, detail, "")).encode()
    lines = [
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}".encode(),
        b"content-type: application/problem+json",
        b"content-length: " + str(len(body)).encode(),
        b"connection: close",
        *(k + b": " + v for k, v in extra),
    ]
    return b"\r\n".join(lines) + HEAD_END + body


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, bounded in header size, head time and connections."""

    max_header_bytes = 16 * 1024
    header_timeout_s = 10.0
    max_connections = 1000
    open = 0  # connections open in this worker: the batcher runs inline only for a lone one

    @classmethod
    def configure(
        cls, max_header_bytes: int, header_timeout_s: float, max_connections: int
    ) -> None:
        cls.max_header_bytes = max_header_bytes
        cls.header_timeout_s = header_timeout_s
        cls.max_connections = max_connections

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_bytes = 0
        self._head_open = True  # reading a request head (or waiting for one)
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        GuardedHttpProtocol.open += 1
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            detail = (f"this worker holds {self.max_connections} open connections "
                      "(AE_MAX_CONNECTIONS); retry shortly")  # fmt: skip
            self._refuse(503, detail, [(b"retry-after", b"1")])
            return
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        GuardedHttpProtocol.open -= 1
        self._cancel_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._head_open:
            end = data.find(HEAD_END)
            used = self._head_bytes + (len(data) if end < 0 else end + len(HEAD_END))
            if used > self.max_header_bytes:
                self._refuse(431, f"the request line and headers are over the limit of "
                             f"{self.max_header_bytes} bytes (AE_MAX_HEADER_BYTES)")  # fmt: skip
                return
            if end < 0:
                self._head_bytes = used
            if self._head_timer is None:  # the first byte of a new request: the clock starts
                self._arm_head_timer()
        super().data_received(data)

    # httptools' callbacks, in the order of the bytes on the wire: a head ends; after the
    # body, the next bytes are the next request's head (its clock starts with its first byte)
    def on_headers_complete(self) -> None:
        self._head_open, self._head_bytes = False, 0
        self._cancel_head_timer()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._head_open, self._head_bytes = True, 0
        super().on_message_complete()

    def _arm_head_timer(self) -> None:
        self._cancel_head_timer()
        self._head_timer = self.loop.call_later(self.header_timeout_s, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self._head_open and not self.transport.is_closing():
            log.debug("closing a connection that sent no whole request head in %g s",
                      self.header_timeout_s)  # fmt: skip
            self.transport.close()

    def _refuse(self, status: int, detail: str, extra: list[tuple[bytes, bytes]] = ()) -> None:
        self._cancel_head_timer()
        self._head_open = False
        if not self.transport.is_closing():
            self.transport.write(raw_problem(status, detail, extra))
            self.transport.close()


# What a read or write on a connection the client has closed raises, in starlette or the OS.
DISCONNECTS = (ClientDisconnect, ConnectionResetError, BrokenPipeError, ConnectionAbortedError)


class QuietDisconnects:
    """A client that goes away is logged once, short, at INFO: never as a traceback (any
    client could flood the log with them). There is nobody left to answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        except DISCONNECTS as exc:
            if scope["type"] != "http":
                raise
            log.info("client went away during %s %s (%s)", scope.get("method"),
                     scope.get("path", "")[:200], type(exc).__name__)  # fmt: skip
