"""A small closed-loop HTTP load generator: N clients, each sending its next request when the
previous one answers. Prints and returns throughput and latency percentiles."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable
from typing import Any

import httpx


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _run(
    url: str, path: str, body: Callable[[], dict[str, Any]], clients: int, seconds: float
):
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                r = await client.post(path, json=body())
                if r.status_code == 200:
                    latencies.append(time.perf_counter() - started)
                else:
                    errors += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        elapsed = time.perf_counter() - started
    return latencies, errors, elapsed


def run_load(url: str, path: str, body: Callable[[], dict[str, Any]], clients: int, seconds: float,
             items_per_request: int = 1) -> dict[str, float]:  # fmt: skip
    latencies, errors, elapsed = asyncio.run(_run(url, path, body, clients, seconds))
    ok = len(latencies)
    return {
        "clients": clients,
        "requests": ok,
        "errors": errors,
        "requests_per_s": ok / elapsed,
        "items_per_s": ok * items_per_request / elapsed,
        "p50_ms": 1000 * statistics.median(latencies) if ok else float("nan"),
        "p99_ms": 1000 * percentile(latencies, 0.99) if ok else float("nan"),
    }
