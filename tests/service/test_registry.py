"""The registry's loader and alias watcher are supervised: errors are reported, the loop goes on."""

from __future__ import annotations

import threading
import time

import pytest

from model_store import LocalStore
from service.errors import DamagedVersion
from service.registry import Registry
from tests.model_store.conftest import publish_tiny


def wait_for(condition, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_an_unexpected_watcher_error_is_counted_reported_and_the_watcher_goes_on(tmp_path):
    store = LocalStore(tmp_path / "store")
    publish_tiny(store)
    errors: list[str] = []
    registry = Registry(store, on_error=errors.append)
    stop = threading.Event()
    thread = threading.Thread(target=registry.run, args=([("tiny", "production")], stop, 0.02))
    thread.start()
    try:
        wait_for(lambda: registry.ready)
        aliases = store.aliases  # what the watcher reads every poll
        store.aliases = lambda name: (_ for _ in ()).throw(RuntimeError("disk on fire"))
        wait_for(lambda: "watcher" in registry.problems())
        assert "RuntimeError: disk on fire" in registry.problems()["watcher"]
        assert "watch" in errors
        store.aliases = aliases  # the fault goes away: so does the report
        publish_tiny(store, seed=1)
        store.set_alias("tiny", "production", 2)
        wait_for(lambda: registry.served() == {"tiny@production": 2})
        assert registry.problems() == {}
    finally:
        stop.set()
        thread.join(5)


def test_a_damaged_version_is_remembered_until_it_is_looked_at_again(tmp_path):
    store = LocalStore(tmp_path / "store")
    manifest, _ = publish_tiny(store)
    weights = store.root / "tiny" / "1" / "weights.safetensors"
    good = weights.read_bytes()
    weights.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))
    loads: list[bool] = []
    registry = Registry(store, on_load=lambda n, v, ok: loads.append(ok), recheck_s=0.2)
    for _ in range(5):
        with pytest.raises(DamagedVersion, match="version 1 of 'tiny'"):
            registry.get("tiny", 1)
    assert loads == [False]  # verified once
    with pytest.raises(DamagedVersion):
        registry.cached("tiny", 1)  # and refused on the event loop without a thread
    assert registry.damaged("tiny") == [1]
    weights.write_bytes(good)  # repaired: looked at again after recheck_s
    time.sleep(0.25)
    assert registry.get("tiny", 1).manifest.version == manifest.version
    assert loads == [False, True] and registry.damaged("tiny") == []


@pytest.mark.parametrize("graphs", ["eager", "trace"])
def test_versions_swapped_out_or_evicted_leave_memory(tmp_path, graphs):
    """Promotes, rollbacks and cache evictions, many times, with the service's own warm-up
    (row blocks, and traced graphs when asked for): only what is cached is still alive."""
    import gc
    import weakref

    from service.app import _prepare
    from service.batching import Batcher

    store = LocalStore(tmp_path / "store")
    for seed in range(4):
        publish_tiny(store, seed=seed)
    batcher = Batcher(max_rows=8, max_wait_s=0.01, max_waiting=8, threads=1)
    warmed: list[weakref.ref] = []
    prepare = _prepare(batcher, graphs)

    def warm(model) -> None:
        prepare(model)
        warmed.append(weakref.ref(model))

    registry = Registry(store, capacity=2, warm=warm)
    registry.get("tiny", "production")
    for _ in range(4):
        for version in (2, 3, 4, 1):  # promote, promote, promote, roll back
            store.set_alias("tiny", "production", version)
            registry.refresh()
            assert registry.served() == {"tiny@production": version}
            registry.get("tiny", 1 + version % 4)  # a pinned request: evicts another
    gc.collect()
    alive = [ref() for ref in warmed if ref() is not None]
    assert len(warmed) >= 16
    assert len(alive) <= 2, [f"{m.manifest.name}@{m.manifest.version}" for m in alive]
    assert len(batcher.models.blocks) == len(alive)  # what the batcher keeps per model goes too
    assert len({key for key, _ in batcher.models.graphs}) == (len(alive) if graphs == "trace" else 0)


def test_a_poll_of_unmoved_aliases_reads_each_alias_file_once_and_lists_nothing(tmp_path):
    store = LocalStore(tmp_path / "store")
    publish_tiny(store)
    store.set_alias("tiny", "staging", 1)
    registry = Registry(store)
    for alias in ("production", "staging"):
        registry.get("tiny", alias)
    read: list[str] = []
    for method in ("aliases", "versions", "resolve"):
        real = getattr(store, method)
        setattr(store, method, lambda *a, _m=method, _r=real: (read.append(_m), _r(*a))[1])
    assert registry.refresh() == [] and registry.refresh() == []
    assert read == ["aliases", "aliases"], read  # one per model a poll; no listing
    store.set_alias("tiny", "staging", publish_tiny(store, seed=1)[0].version)
    read.clear()
    assert registry.refresh() == ["tiny@staging: 1 -> 2"]
    assert "versions" in read or "resolve" in read  # a moved alias is looked up in full


def test_a_promoted_version_that_failed_to_load_for_a_passing_fault_is_tried_again(
    tmp_path, monkeypatch
):
    """A full disk or an unreachable bucket while loading a promoted version: the old one
    keeps serving and the refusal is reported, then the load is tried again (after retry_s,
    doubling), so this worker does not stay behind its siblings until the next promote."""
    import service.registry

    store = LocalStore(tmp_path / "store")
    publish_tiny(store)
    registry = Registry(store, retry_s=0.5, recheck_s=5)
    registry.get("tiny", "production")
    store.set_alias("tiny", "production", publish_tiny(store, seed=1)[0].version)
    real, faults = service.registry.load_version, [OSError(28, "No space left on device")] * 2

    def load_version(*args):
        if faults:
            raise faults.pop()
        return real(*args)

    monkeypatch.setattr(service.registry, "load_version", load_version)
    assert registry.refresh() == []
    assert registry.problems() == {"tiny@production": "version 2 refused; still serving 1"}
    assert registry.refresh() == [] and len(faults) == 1  # not before retry_s
    time.sleep(0.6)
    assert registry.refresh() == [] and faults == []  # tried again: failed again
    time.sleep(0.6)
    assert registry.refresh() == []  # the second wait is twice the first (1 s)
    time.sleep(0.5)
    assert registry.refresh() == ["tiny@production: 1 -> 2"]
    assert registry.problems() == {} and registry.served() == {"tiny@production": 2}
