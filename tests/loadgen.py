"""Load for the reliability battery: raw HTTP/1.1 keep-alive connections on one asyncio loop.

httpx costs about a millisecond of CPU per request; on two cores shared with the server that
would measure the client. This sends pre-built requests and reads answers by Content-Length
(every answer of the service has one), so one client process can hold hundreds of
connections. It records every answer (status, latency, Retry-After) and every failure, and
samples the server's memory, file descriptors and /health latency while it runs.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

Request = tuple[str, str, bytes | None]  # method, path, JSON body
IDLE_S = 4.0


@dataclass
class Answer:
    sent: float
    elapsed: float
    status: int  # 0: no answer (connection refused, reset or closed)
    retry_after: str | None = None
    body: bytes = b""


@dataclass
class Run:
    answers: list[Answer] = field(default_factory=list)
    health: list[float] = field(default_factory=list)  # /health latency, seconds
    memory: list[tuple[float, int]] = field(default_factory=list)  # (time, bytes)
    fds: list[tuple[float, int]] = field(default_factory=list)
    seconds: float = 0.0

    def statuses(self) -> dict[int, int]:
        out: dict[int, int] = {}
        for a in self.answers:
            out[a.status] = out.get(a.status, 0) + 1
        return dict(sorted(out.items()))

    def latencies(self, status: int) -> list[float]:
        return sorted(a.elapsed for a in self.answers if a.status == status)

    def rate(self, status: int = 200) -> float:
        return sum(a.status == status for a in self.answers) / max(self.seconds, 1e-9)

    def summary(self) -> str:
        def ms(xs: list[float], q: float) -> str:
            return f"{1000 * xs[min(len(xs) - 1, int(q * len(xs)))]:.0f}" if xs else "-"

        ok, busy = self.latencies(200), self.latencies(503)
        health = sorted(self.health)
        mem = [m for _, m in self.memory]
        return (
            f"{len(self.answers)} answers in {self.seconds:.1f}s {self.statuses()}; "
            f"200: {self.rate(200):.0f}/s p50 {ms(ok, 0.5)} p99 {ms(ok, 0.99)} ms; "
            f"503 p50 {ms(busy, 0.5)} p99 {ms(busy, 0.99)} ms; "
            f"/health worst {ms(health, 1.0)} ms; "
            f"RSS {min(mem, default=0) >> 20}-{max(mem, default=0) >> 20} MiB; "
            f"fds {min((f for _, f in self.fds), default=0)}-{max((f for _, f in self.fds), default=0)}"
        )


def _encode(host: str, request: Request) -> bytes:
    method, path, body = request
    head = f"{method} {path} HTTP/1.1\r\nHost: {host}\r\n"
    if body is not None:
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + (body or b"")


async def _read_answer(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionError("closed")
    status = int(status_line.split()[1])
    headers: dict[str, str] = {}
    while (line := await reader.readline()) not in (b"\r\n", b""):
        key, _, value = line.decode("latin-1").partition(":")
        headers[key.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers, body


class Connection:
    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.used = 0.0

    async def send(self, request: Request, keep_body: bool = False) -> Answer:
        # Like httpx's pool (keepalive_expiry): a connection idle for longer than uvicorn's
        # keep-alive timeout (5 s) may have been closed by the server; open a new one.
        if self.writer is not None and time.monotonic() - self.used > IDLE_S:
            await self.close()
        sent = time.monotonic()
        try:
            if self.writer is None:
                self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
            assert self.reader is not None
            self.writer.write(_encode(f"{self.host}:{self.port}", request))
            status, headers, body = await _read_answer(self.reader)
        except (OSError, ConnectionError, asyncio.IncompleteReadError, ValueError,
                IndexError) as exc:  # fmt: skip
            await self.close()
            return Answer(sent, time.monotonic() - sent, 0, body=repr(exc).encode())
        self.used = time.monotonic()
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return Answer(sent, self.used - sent, status, headers.get("retry-after"),
                      body if keep_body or status >= 500 else b"")  # fmt: skip

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except (OSError, ConnectionError):
                pass
        self.reader = self.writer = None


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants (uvicorn's supervisor and its workers)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                todo += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
    return out


def _tree_sum(pid: int, measure: Callable[[int], int]) -> int:
    """`measure` of each process of the tree, added up; processes gone meanwhile count 0."""
    total = 0
    for p in process_tree(pid):
        try:
            total += measure(p)
        except (OSError, ValueError, AttributeError):  # gone, or a zombie without VmRSS
            continue
    return total


def _rss(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"^VmRSS:\s+(\d+)", status, re.M).group(1)) * 1024


def uss(pid: int) -> int:
    """Bytes only this process maps (private pages), from /proc/<pid>/smaps_rollup."""
    text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    return sum(map(int, re.findall(r"^Private_(?:Clean|Dirty):\s+(\d+) kB", text, re.M))) * 1024


def tree_rss(pid: int) -> int:
    return _tree_sum(pid, _rss)


def tree_fds(pid: int) -> int:
    return _tree_sum(pid, lambda p: len(os.listdir(f"/proc/{p}/fd")))


async def _watch(url: str, pid: int | None, run: Run, stop: asyncio.Event) -> None:
    conn = Connection(url)
    while not stop.is_set():
        answer = await conn.send(("GET", "/health", None))
        run.health.append(answer.elapsed if answer.status == 200 else float("inf"))
        if pid is not None:
            now = time.monotonic()
            run.memory.append((now, tree_rss(pid)))
            run.fds.append((now, tree_fds(pid)))
        try:
            await asyncio.wait_for(stop.wait(), 0.1)
        except TimeoutError:
            pass
    await conn.close()


async def _closed(url: str, clients: int, seconds: float, pick: Callable[[random.Random], Request],
                  pid: int | None, seed: int) -> Run:  # fmt: skip
    run, stop = Run(), asyncio.Event()
    ends = time.monotonic() + seconds

    async def client(i: int) -> None:
        rng, conn = random.Random(seed * 1000 + i), Connection(url)
        while time.monotonic() < ends:
            answer = await conn.send(pick(rng))
            run.answers.append(answer)
            if answer.status in (0, 503):  # as a polite client would: back off a little
                await asyncio.sleep(0.01)
        await conn.close()

    watcher = asyncio.create_task(_watch(url, pid, run, stop))
    started = time.monotonic()
    await asyncio.gather(*(client(i) for i in range(clients)))
    run.seconds = time.monotonic() - started
    stop.set()
    await watcher
    return run


async def _open(url: str, rate: float, seconds: float, pick: Callable[[random.Random], Request],
                pid: int | None, seed: int) -> Run:  # fmt: skip
    """Requests arrive at `rate` per second whatever the answers: the load of many users.
    Each goes out on an idle connection from a pool, or a new one."""
    run, stop, idle = Run(), asyncio.Event(), []
    rng, tasks = random.Random(seed), set()

    async def one(request: Request) -> None:
        conn = idle.pop() if idle else Connection(url)
        run.answers.append(await conn.send(request))
        idle.append(conn)

    watcher = asyncio.create_task(_watch(url, pid, run, stop))
    started = time.monotonic()
    n = 0
    while (now := time.monotonic()) < started + seconds:
        due = started + n / rate
        if due > now:
            await asyncio.sleep(due - now)
        task = asyncio.create_task(one(pick(rng)))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        n += 1
    await asyncio.gather(*tasks)
    run.seconds = time.monotonic() - started
    stop.set()
    await watcher
    for conn in idle:
        await conn.close()
    return run


def closed_loop(url: str, clients: int, seconds: float, pick: Callable[[random.Random], Request],
                pid: int | None = None, seed: int = 0) -> Run:  # fmt: skip
    """`clients` connections, each sending its next request when the last is answered."""
    return asyncio.run(_closed(url, clients, seconds, pick, pid, seed))


def open_loop(url: str, rate: float, seconds: float, pick: Callable[[random.Random], Request],
              pid: int | None = None, seed: int = 0) -> Run:  # fmt: skip
    return asyncio.run(_open(url, rate, seconds, pick, pid, seed))


def burst(url: str, requests: list[Request]) -> list[Answer]:
    """Every request at once, each on its own connection (opened first, then all sent)."""

    async def go() -> list[Answer]:
        conns = [Connection(url) for _ in requests]
        for conn in conns:  # connect first so that the requests leave together
            await conn.send(("GET", "/health", None))
        answers = await asyncio.gather(*(c.send(r) for c, r in zip(conns, requests, strict=True)))
        for conn in conns:
            await conn.close()
        return list(answers)

    return asyncio.run(go())


def body(payload: object) -> bytes:
    return json.dumps(payload).encode()


def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")
