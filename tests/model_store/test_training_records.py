"""The "being trained" records a trainer leaves in a local store (model_store.training)."""

from __future__ import annotations

import json
import time

from model_store import LocalStore
from model_store.training import STALE_S, TRAINING_DIR, announce, finished, in_training


def test_a_record_is_live_while_its_process_runs_and_updates(tmp_path):
    store = LocalStore(tmp_path)
    announce(store, "faces-ae-conv", 0, 15, queued=True)
    assert in_training(store)["faces-ae-conv"].describe().endswith("queued for training "
                                                                      "by the running bootstrap")  # fmt: skip
    announce(store, "faces-ae-conv", 5, 15, started=time.time() - 50)
    record = in_training(store)["faces-ae-conv"]
    assert record.epoch == 5 and 90 <= record.eta_s <= 101  # 10 s an epoch, 10 to go
    assert "epoch 5 of 15, about 2 min left" in record.describe()
    finished(store, "faces-ae-conv")
    assert in_training(store) == {}


def test_stale_dead_and_foreign_records_are_ignored_and_kept(tmp_path):
    store = LocalStore(tmp_path)
    announce(store, "old", 1, 2)
    announce(store, "dead", 1, 2)
    folder = tmp_path / TRAINING_DIR
    old = json.loads((folder / "old.json").read_text())
    (folder / "old.json").write_text(json.dumps(old | {"updated": time.time() - STALE_S - 1}))
    dead = json.loads((folder / "dead.json").read_text())
    (folder / "dead.json").write_text(json.dumps(dead | {"pid": 2**22 + 12345}))
    (folder / "broken.json").write_text("{")
    assert in_training(store) == {}
    (folder / "dead.json").write_text(json.dumps(dead | {"pid": 2**22 + 12345}))
    finished(store, "dead")  # not ours: left alone
    assert (folder / "dead.json").exists()
