"""Which models are loaded, and which version each served alias points to.

"Which models exist" is the store; "one loaded model" is `LoadedModel`; this is the
third small thing between them. A request naming an alias (`production`, `staging`)
is served from an in-memory map alias -> version. A watcher thread polls the store's
aliases; when one moves (promote, rollback) it loads and verifies the new version in
the background and only then switches the map, so requests in flight finish on the
old version and no request waits for a load. A version that fails to load is refused,
logged and counted; the old one keeps serving. It is tried again (a fault may pass: the
store unreachable, a full disk) after `retry_s`, doubling up to `recheck_s`.

A version that fails its integrity checks is remembered as damaged: requests for it get a
clear error at once (`DamagedVersion`) until it is verified again after `recheck_s` (only a
repaired store changes the answer). Every unexpected error of the loader and the watcher
is logged with its traceback, counted (`on_error`), reported (`problems`); the loop goes on.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from model_store import CorruptArtifact, LoadedModel, Store, StoreError, load_version, parse_ref
from model_store.training import Training, in_training
from service.errors import DamagedVersion
from service.memory import release_freed_memory

log = logging.getLogger("service.registry")


Key = tuple[str, int]


class Registry:
    def __init__(
        self,
        store: Store,
        capacity: int = 8,
        on_load: Callable[[str, int, bool], None] | None = None,
        on_switch: Callable[[str, str, int], None] | None = None,
        warm: Callable[[LoadedModel], None] | None = None,
        on_error: Callable[[str], None] | None = None,
        recheck_s: float = 60.0,
        retry_s: float = 1.0,
    ) -> None:
        self.store = store
        self.capacity = max(capacity, 1)
        self._cache: OrderedDict[Key, LoadedModel] = OrderedDict()
        self._served: dict[tuple[str, str], int] = {}  # (name, alias) -> version served
        # (name, alias) -> (version that failed to load, its last wait, when to try again)
        self._refused: dict[tuple[str, str], tuple[int, float, float]] = {}
        self._unfollowed: dict[tuple[str, str], str] = {}  # alias -> why it cannot be read
        self._damaged: dict[Key, tuple[str, float]] = {}  # -> (reason, when it was found)
        self.recheck_s, self.retry_s = recheck_s, retry_s
        self.last_error: str | None = None  # the watcher's last unexpected error, if any
        self._lock = threading.Lock()
        self._key_locks: dict[Key, threading.Lock] = {}
        self._ready = threading.Event()
        self._on_load = on_load or (lambda name, version, ok: None)
        self._on_switch = on_switch or (lambda name, alias, version: None)
        self._warm = warm or (lambda model: None)
        self._on_error = on_error or (lambda stage: None)
        self.load_error: str | None = None
        self._evicted = False  # since the watcher last gave freed memory back

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    def training(self) -> dict[str, Training]:
        """Models a trainer is training (or has queued) into this local store, not yet
        published (model_store.training); none for a bucket store."""
        return in_training(self.store)

    def not_ready_reason(self) -> str:
        detail = f": {self.load_error}" if self.load_error else ""
        return f"models are still loading{detail}"

    # -- loading

    def _check_damaged(self, key: Key) -> None:
        found = self._damaged.get(key)
        if found is not None and time.monotonic() - found[1] < self.recheck_s:
            raise DamagedVersion(key[0], key[1], found[0])

    def damaged(self, name: str) -> list[int]:
        """Versions of `name` this process refused as damaged."""
        return sorted(v for n, v in list(self._damaged) if n == name)

    def _load(self, key: Key) -> LoadedModel:
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        self._check_damaged(key)
        with key_lock:
            with self._lock:
                if key in self._cache:
                    return self._cache[key]
            self._check_damaged(key)  # found by the thread that held the lock before
            started = time.perf_counter()
            try:
                loaded = load_version(self.store, *key)
                self._warm(loaded)
            except CorruptArtifact as exc:
                self._on_load(key[0], key[1], False)
                self._damaged[key] = (str(exc), time.monotonic())
                log.error("%s@%d is damaged and will not be served: %s", *key, exc)
                raise DamagedVersion(key[0], key[1], str(exc)) from exc
            except Exception:
                self._on_load(key[0], key[1], False)
                raise
            self._damaged.pop(key, None)
            self._on_load(key[0], key[1], True)
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
                self._evicted = True
                log.info("evicted %s@%d", *key)

    def cached(self, name: str, selector: str | int | None = None) -> LoadedModel | None:
        """The model if it is in memory, with no store access (safe on the event loop)."""
        ref = parse_ref(name, selector)
        served = self._served.get((ref.name, ref.selector))
        version = ref.version if ref.version is not None else served
        if version is None:
            return None
        with self._lock:
            loaded = self._cache.get((ref.name, version))
        if loaded is None:
            self._check_damaged((ref.name, version))  # fails fast, on the event loop
        return loaded

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

    def problems(self) -> dict[str, str]:
        """What is wrong but does not stop serving: aliases pointing to a version that was
        refused (the previous one still serves) and the watcher's last unexpected error."""
        found = {
            f"{n}@{a}": f"version {v} refused; still serving {self._served.get((n, a))}"
            for (n, a), (v, _, _) in sorted(self._refused.items())
        }
        for (n, a), why in sorted(self._unfollowed.items()):
            still = self._served.get((n, a))
            found[f"{n}@{a}"] = f"cannot follow the alias (still serving {still}): {why}"
        if self.last_error:
            found["watcher"] = self.last_error
        return found

    def _failed(self, stage: str, what: str, exc: Exception) -> None:
        """An unexpected error in the background: traceback logged, counted, reported."""
        log.error("%s failed (%s); going on", what, exc, exc_info=exc)
        self.last_error = f"{what}: {type(exc).__name__}: {exc}"
        self._on_error(stage)

    # -- background work

    def refresh(self) -> list[str]:
        """Follow aliases that moved: load the new version, then switch. Returns changes."""
        changes, alias_files = [], {}
        for (name, alias), current in list(self._served.items()):
            if name not in alias_files:  # one read of each model's alias file a poll
                alias_files[name] = self._alias_file(name)
            if alias_files[name].get(alias) == current and (name, alias) not in self._unfollowed:
                continue  # nothing more to read: the version it names is the one loaded
            try:
                target = self.store.resolve(parse_ref(name, alias))
            except StoreError as exc:  # the store unreachable, or the alias gone: keep serving
                if self._unfollowed.get((name, alias)) != str(exc):  # log once, not each poll
                    log.warning(
                        "cannot resolve %s@%s (still serving %d): %s", name, alias, current, exc
                    )
                self._unfollowed[(name, alias)] = str(exc)
                continue
            if self._unfollowed.pop((name, alias), None) is not None:
                log.info("%s@%s can be followed again", name, alias)
            refused = self._refused.get((name, alias))
            if refused and refused[0] != target:
                refused = None  # the alias moved on: a new version starts from retry_s
            if target == current or (refused and time.monotonic() < refused[2]):
                continue
            try:
                self._load((name, target))
            except Exception as exc:  # whatever is wrong with it, keep serving
                # A damaged version's checks run again only after recheck_s (_check_damaged).
                wait = min(2 * refused[1] if refused else self.retry_s, self.recheck_s)
                self._refused[(name, alias)] = (target, wait, time.monotonic() + wait)
                expected = isinstance(exc, (StoreError, DamagedVersion))
                log.error("refused %s@%d for %s (still serving %d; trying again in %.0f s): %s",
                          name, target, alias, current, wait, exc,
                          exc_info=not expected)  # fmt: skip
                if not expected:
                    self._on_error("watch")
                continue
            with self._lock:
                self._served[(name, alias)] = target
                self._evict()
            self._refused.pop((name, alias), None)
            self._on_switch(name, alias, target)
            log.info("%s@%s now serves version %d (was %d)", name, alias, target, current)
            changes.append(f"{name}@{alias}: {current} -> {target}")
        return changes

    def _alias_file(self, name: str) -> dict[str, int]:
        """`name`'s aliases, or none when they cannot be read (resolve then says why)."""
        with contextlib.suppress(StoreError):
            aliases, problem = self.store.readable_aliases(name)
            return {} if problem else aliases
        return {}

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
            except Exception as exc:  # noqa: BLE001 - reported by /ready, retried
                if not isinstance(exc, (StoreError, DamagedVersion)):
                    self._failed("load", f"loading {refs}", exc)
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
            # Supervised: an error is logged and the watcher goes on (never silently stops).
            if self._evicted:  # a poll later: the requests that held it have finished
                self._evicted = False
                release_freed_memory()
            try:
                self.refresh()
                self.last_error = None
            except Exception as exc:  # noqa: BLE001 - _failed logs the traceback
                self._failed("watch", "the alias watcher", exc)
            for ref in list(pending):
                try:
                    self.get(*ref)
                except (StoreError, DamagedVersion):
                    continue
                except Exception as exc:  # noqa: BLE001 - _failed logs the traceback
                    self._failed("load", f"loading {ref[0]}@{ref[1]}", exc)
                    continue
                pending.remove(ref)
