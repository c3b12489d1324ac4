"""Bounded inference concurrency: a few forward passes at once, a bounded queue, then 503."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from service.errors import Overloaded


class InferenceGate:
    def __init__(self, concurrent: int, waiting: int) -> None:
        self._slots = threading.BoundedSemaphore(max(concurrent, 1))
        self._max_waiting = max(waiting, 0)
        self._waiting = 0
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        if not self._slots.acquire(blocking=False):
            with self._lock:
                if self._waiting >= self._max_waiting:
                    raise Overloaded("too many requests are waiting for inference; retry shortly")
                self._waiting += 1
            try:
                self._slots.acquire()
            finally:
                with self._lock:
                    self._waiting -= 1
        try:
            yield
        finally:
            self._slots.release()
