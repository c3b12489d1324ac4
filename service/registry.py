"""Which models are loaded, and which version each served alias points to.

"Which models exist" is the store; "one loaded model" is `LoadedModel`; this is the
third small thing between them. A request naming an alias (`production`, `staging`)
is served from an in-memory map alias -> version. A watcher thread polls the store's
aliases; when one moves (promote, rollback) it loads and verifies the new version in
the background and only then switches the map, so requests in flight finish on the
old version and no request waits for a load. A version that fails to load is refused,
logged and counted; the old one keeps serving.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from model_store import LoadedModel, LocalStore, StoreError, load_version, parse_ref

log = logging.getLogger("service.registry")
Key = tuple[str, int]


class Registry:
    def __init__(
        self,
        store: LocalStore,
        capacity: int = 8,
        on_load: Callable[[str, int, bool], None] | None = None,
        on_switch: Callable[[str, str, int], None] | None = None,
        warm: Callable[[LoadedModel], None] | None = None,
    ) -> None:
        self.store = store
        self.capacity = max(capacity, 1)
        self._cache: OrderedDict[Key, LoadedModel] = OrderedDict()
        self._served: dict[tuple[str, str], int] = {}  # (name, alias) -> version served
        self._refused: dict[tuple[str, str], int] = {}  # last version that failed to load
        self._unresolved: dict[tuple[str, str], str] = {}  # last resolve error, logged once
        self._lock = threading.Lock()
        self._key_locks: dict[Key, threading.Lock] = {}
        self._ready = threading.Event()
        self._on_load = on_load or (lambda name, version, ok: None)
        self._on_switch = on_switch or (lambda name, alias, version: None)
        self._warm = warm or (lambda model: None)
        self.load_error: str | None = None

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    def not_ready_reason(self) -> str:
        detail = f": {self.load_error}" if self.load_error else ""
        return f"models are still loading{detail}"

    # -- loading

    def _load(self, key: Key) -> LoadedModel:
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
            try:
                loaded = load_version(self.store, *key)
            except StoreError:
                self._on_load(key[0], key[1], False)
                raise
            self._on_load(key[0], key[1], True)
            self._warm(loaded)
            log.info("loaded %s@%d in %.2fs", key[0], key[1], time.perf_counter() - started)
            with self._lock:
                self._cache[key] = loaded
                self._evict()
                self._key_locks.pop(key, None)
        return loaded

    def _evict(self) -> None:
        """Drop least recently used versions beyond capacity, never one an alias serves."""
        pinned = {(name, v) for (name, _), v in self._served.items()}
        for key in list(self._cache):
            if len(self._cache) <= self.capacity:
                break
            if key not in pinned:
                del self._cache[key]
                log.info("evicted %s@%d", *key)

    def cached(self, name: str, selector: str | int | None = None) -> LoadedModel | None:
        """The model if it is in memory, with no store access (safe on the event loop)."""
        ref = parse_ref(name, selector)
        version = ref.version if ref.version is not None else self._served.get(
            (ref.name, ref.selector)
        )  # fmt: skip
        if version is None:
            return None
        with self._lock:
            return self._cache.get((ref.name, version))

    def get(self, name: str, selector: str | int | None = None) -> LoadedModel:
        ref = parse_ref(name, selector)
        if ref.version is not None:
            self.store.resolve(ref)  # 404 with what exists, before any load
            return self._load((ref.name, ref.version))
        served = self._served.get((ref.name, ref.selector))
        if served is not None:
            with self._lock:
                loaded = self._cache.get((ref.name, served))
            if loaded is not None:
                return loaded
        version = self.store.resolve(ref)
        loaded = self._load((ref.name, version))
        with self._lock:
            self._served.setdefault((ref.name, ref.selector), version)
        self._on_switch(ref.name, ref.selector, version)
        return loaded

    def loaded(self) -> list[str]:
        with self._lock:
            return [f"{n}@{v}" for n, v in self._cache]

    def served(self) -> dict[str, int]:
        return {f"{n}@{a}": v for (n, a), v in sorted(self._served.items())}

    # -- background work

    def refresh(self) -> list[str]:
        """Follow aliases that moved: load the new version, then switch. Returns changes."""
        changes = []
        for (name, alias), current in list(self._served.items()):
            try:
                target = self.store.resolve(parse_ref(name, alias))
            except StoreError as exc:
                log.warning(
                    "cannot resolve %s@%s (still serving %d): %s", name, alias, current, exc
                )
                continue
            if target == current or self._refused.get((name, alias)) == target:
                continue
            try:
                self._load((name, target))
            except Exception as exc:  # whatever is wrong with it, keep serving
                self._refused[(name, alias)] = target
                log.error("refused %s@%d for %s (still serving %d): %s", name, target, alias,
                          current, exc, exc_info=not isinstance(exc, StoreError))  # fmt: skip
                continue
            with self._lock:
                self._served[(name, alias)] = target
                self._evict()
            self._refused.pop((name, alias), None)
            self._on_switch(name, alias, target)
            log.info("%s@%s now serves version %d (was %d)", name, alias, target, current)
            changes.append(f"{name}@{alias}: {current} -> {target}")
        return changes

    def run(
        self,
        refs: list[tuple[str, str]],
        stop: threading.Event,
        poll_s: float = 1.0,
        optional: list[tuple[str, str]] | None = None,
        on_ready: Callable[[], None] | None = None,
    ) -> None:
        """Load the served models (retrying until they load), set readiness, then follow
        alias moves every `poll_s` seconds until `stop` is set. `optional` refs (the face
        model, which trains after the API starts) are loaded once they exist, without
        holding readiness back, so no request pays for their load."""
        pending = list(optional or [])
        while not stop.is_set():
            try:
                for name, selector in refs:
                    self.get(name, selector)
            except Exception as exc:  # reported by /ready, retried
                if not isinstance(exc, StoreError):
                    log.exception("loading %s failed", refs)
                if self.load_error != str(exc):
                    log.error("models not ready: %s (retrying)", exc)
                self.load_error = str(exc)
                stop.wait(poll_s)
                continue
            self.load_error = None
            self._ready.set()
            if on_ready is not None:
                on_ready()
            log.info("ready: %s", ", ".join(self.loaded()))
            break
        while not stop.wait(poll_s):
            # Supervised: an unexpected error is logged with its traceback and the watcher
            # goes on, so the service never silently stops following its store.
            try:
                self.refresh()
            except Exception:
                log.exception("alias watcher failed; retrying in %.1fs", poll_s)
            for ref in list(pending):
                try:
                    self.get(*ref)
                except StoreError:
                    continue
                except Exception:
                    log.exception("could not load %s@%s; retrying", *ref)
                    continue
                pending.remove(ref)
