"""Which models are loaded: a small LRU of verified versions, keyed by (name, version).

"Which models exist" is the store; "one loaded model" is `LoadedModel`; this
is the third small thing between them. Aliases are resolved on every call
(one small file read), so a promote or rollback is served from the next
request on; loading a version not yet in memory happens once, under a
per-version lock, while other requests keep being served.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict

from model_store import LoadedModel, LocalStore, StoreError, load_version, parse_ref

log = logging.getLogger("service.registry")


class Registry:
    def __init__(self, store: LocalStore, capacity: int = 8) -> None:
        self.store = store
        self.capacity = max(capacity, 1)
        self._cache: OrderedDict[tuple[str, int], LoadedModel] = OrderedDict()
        self._lock = threading.Lock()
        self._key_locks: dict[tuple[str, int], threading.Lock] = {}
        self._ready = threading.Event()
        self.load_error: str | None = None

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    def get(self, name: str, selector: str | int | None = None) -> LoadedModel:
        ref = parse_ref(name, selector)
        version = self.store.resolve(ref)
        key = (ref.name, version)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                if key in self._cache:
                    return self._cache[key]
            started = time.perf_counter()
            loaded = load_version(self.store, *key)
            log.info("loaded %s@%d in %.2fs", key[0], key[1], time.perf_counter() - started)
            with self._lock:
                self._cache[key] = loaded
                while len(self._cache) > self.capacity:
                    evicted, _ = self._cache.popitem(last=False)
                    log.info("evicted %s@%d", *evicted)
                self._key_locks.pop(key, None)
        return loaded

    def loaded(self) -> list[str]:
        with self._lock:
            return [f"{n}@{v}" for n, v in self._cache]

    def preload(
        self, refs: list[tuple[str, str]], stop: threading.Event, retry_s: float = 2.0
    ) -> None:
        """Load the served models; retry until they load or `stop` is set. Sets readiness."""
        while not stop.is_set():
            try:
                for name, selector in refs:
                    self.get(name, selector)
            except StoreError as exc:
                if self.load_error != str(exc):
                    log.error("models not ready: %s (retrying every %.0fs)", exc, retry_s)
                self.load_error = str(exc)
                stop.wait(retry_s)
                continue
            self.load_error = None
            self._ready.set()
            log.info("ready: %s", ", ".join(self.loaded()))
            return
