from __future__ import annotations

import threading

from autoencoders import ModelConfig
from model_store import LocalStore
from trainer import bootstrap as bootstrap_module
from trainer.bootstrap import bootstrap
from trainer.datasets.mnist import load_embedded_sample
from trainer.pipeline import TrainSpec

TINY = TrainSpec(name="tiny-ae", config=ModelConfig(family="linear-ae", hidden=(16,), latent_dim=2))


def test_concurrent_bootstraps_of_a_group_train_it_once(tmp_path, monkeypatch):
    """A second `make serve` while the first still trains waits, then skips what it finds."""
    monkeypatch.setitem(
        bootstrap_module.GROUPS, "tiny", (lambda: load_embedded_sample().limited(200, 50), (TINY,))
    )
    store = LocalStore(tmp_path)
    published: list[list] = []
    start = threading.Barrier(2)

    def one() -> None:
        start.wait()
        published.append(bootstrap(store, epochs=1, progress=False, groups=("tiny",)))

    threads = [threading.Thread(target=one) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert sorted(len(p) for p in published) == [0, 1]
    assert store.versions("tiny-ae") == [1]
    assert (tmp_path / ".bootstrap-tiny.lock").exists()
    assert store.names() == ["tiny-ae"]  # the lock file is not a model
