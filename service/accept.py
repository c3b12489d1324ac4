"""Connections spread over the worker processes by load: least connections accepts first.

The workers share one listening socket. Left to the kernel and libuv, whichever worker
wakes first accepts every pending connection: with a few keep-alive clients, all of them
often landed on one worker while the other core idled, halving throughput (issue 9: 64-image
requests on four connections reached 38% of the in-process limit in a median run, 79% in a
lucky one).

Here each worker accepts in Python, through a reader on the shared socket, and first looks
at a board in the directory the workers share: one 8-byte counter of open connections per
worker (`conns_<pid>`, memory-mapped). A worker that holds more connections than the least
loaded live sibling lets the connection wait for `DEFER_S` so the sibling takes it, and
takes it itself once it has waited `MAX_WAIT_S` (a sibling that is stuck or dying never
strands a client). Everything else is uvicorn's and uvloop's: the protocol, the transports,
graceful shutdown.

`python -m service` selects this loop (`loop="service.accept:new_event_loop"`) when it
starts more than one worker; a lone process keeps uvloop's own accept.
"""

from __future__ import annotations

import asyncio
import logging
import mmap
import os
import socket
import struct
import time
from collections.abc import Callable
from typing import Any

import uvloop

from model_store.disk import pid_alive
from service.shared_dir import CONNECTIONS, SharedDir

log = logging.getLogger("service.accept")
DEFER_S = 0.002
MAX_WAIT_S = 0.05
REFRESH_S = 1.0
ERROR_PAUSE_S = 0.1
_COUNT = struct.Struct("q")


class Board:
    """Open connections per worker, in files every worker maps."""

    def __init__(self, shared: SharedDir) -> None:
        self.shared = shared
        path = shared.file(CONNECTIONS)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        os.ftruncate(fd, _COUNT.size)
        self._mine = mmap.mmap(fd, _COUNT.size)
        os.close(fd)
        self.path, self.count = path, 0
        self._siblings: dict[int, mmap.mmap] = {}
        self._listed = 0.0

    def add(self, delta: int) -> None:
        self.count += delta
        _COUNT.pack_into(self._mine, 0, self.count)

    def _refresh(self) -> None:
        self._listed = time.monotonic()
        seen = {}
        for pid in self.shared.pids(CONNECTIONS):
            if pid == os.getpid() or not pid_alive(pid):
                continue
            path = self.shared.file(CONNECTIONS, pid)
            if pid in self._siblings:
                seen[pid] = self._siblings.pop(pid)
                continue
            try:
                with open(path, "rb") as f:
                    seen[pid] = mmap.mmap(f.fileno(), _COUNT.size, access=mmap.ACCESS_READ)
            except (OSError, ValueError):
                continue  # a sibling just starting or gone
        for stale in self._siblings.values():
            stale.close()
        self._siblings = seen

    def least_sibling(self) -> int | None:
        """The fewest open connections of a live sibling, or None when there is none."""
        if time.monotonic() - self._listed > REFRESH_S:
            self._refresh()
        counts = [_COUNT.unpack_from(m, 0)[0] for m in self._siblings.values()]
        return min(counts) if counts else None

    def close(self) -> None:
        self.path.unlink(missing_ok=True)


class BalancedServer:
    """What `loop.create_server(sock=...)` returns, accepting least-connections first."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        factory: Callable[[], asyncio.Protocol],
        sock: socket.socket,
        board: Board,
        backlog: int,
    ) -> None:
        self._loop, self._factory, self._sock, self._board = loop, factory, sock, board
        self._waiting_since: float | None = None
        self._serving = True
        sock.listen(backlog)  # as asyncio's create_server does: uvicorn hands a bound socket
        sock.setblocking(False)
        loop.add_reader(sock.fileno(), self._readable)

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        return (self._sock,)

    def _readable(self) -> None:
        least = self._board.least_sibling()
        if least is not None and self._board.count > least:
            now = time.monotonic()
            self._waiting_since = self._waiting_since or now
            if now - self._waiting_since < MAX_WAIT_S:
                # Let a less loaded sibling take it; look again shortly.
                self._loop.remove_reader(self._sock.fileno())
                self._loop.call_later(DEFER_S, self._resume)
                return
        try:
            conn, _ = self._sock.accept()
        except (BlockingIOError, InterruptedError):
            self._waiting_since = None  # a sibling took it
            return
        except OSError as exc:  # out of descriptors, say: log, pause, go on (as uvloop does)
            log.warning("accept failed: %s; pausing %.1f s", exc, ERROR_PAUSE_S)
            self._loop.remove_reader(self._sock.fileno())
            self._loop.call_later(ERROR_PAUSE_S, self._resume)
            return
        self._waiting_since = None
        conn.setblocking(False)
        self._board.add(1)
        self._loop.create_task(self._serve(conn))

    def _resume(self) -> None:
        if self._serving:
            self._loop.add_reader(self._sock.fileno(), self._readable)

    async def _serve(self, conn: socket.socket) -> None:
        board = self._board

        def counted() -> asyncio.Protocol:
            protocol = self._factory()
            lost = protocol.connection_lost

            def connection_lost(exc: Exception | None) -> None:
                board.add(-1)
                lost(exc)

            protocol.connection_lost = connection_lost  # type: ignore[method-assign]
            return protocol

        try:
            await self._loop.connect_accepted_socket(counted, conn)
        except Exception as exc:  # noqa: BLE001 - one bad connection never stops accepting
            board.add(-1)
            conn.close()
            log.warning("could not serve a new connection: %s", exc)

    def close(self) -> None:
        if self._serving:
            self._serving = False
            self._loop.remove_reader(self._sock.fileno())
            self._board.close()

    async def wait_closed(self) -> None:
        return None

    def is_serving(self) -> bool:
        return self._serving


class BalancedLoop(uvloop.Loop):
    """uvloop, whose servers on a shared socket accept least-connections first."""

    shared: SharedDir | None = None  # set by `configure`, before uvicorn creates its server

    @classmethod
    def configure(cls, shared: SharedDir | None) -> None:
        """Where the workers' connection counters live (the app factory calls this; uvicorn
        loads the app before it creates the server)."""
        cls.shared = shared

    async def create_server(self, protocol_factory: Any, *args: Any, **kw: Any) -> Any:
        sock = kw.get("sock")
        if sock is None or args or kw.get("ssl") or self.shared is None:
            return await super().create_server(protocol_factory, *args, **kw)
        board = Board(self.shared)
        return BalancedServer(self, protocol_factory, sock, board, kw.get("backlog") or 2048)


def new_event_loop() -> BalancedLoop:
    return BalancedLoop()
