"""Models being trained into a local store, so the service can say "wait" instead of "no
such model" while `make serve`'s bootstrap trains the defaults.

The trainer writes one small JSON file per model it is about to publish or is training,
`<store>/.training/<name>.json` (epoch, epochs, when it started, its process), and removes
it once the version is published or the run ends. A file whose process is gone (on this
machine) or that has not been updated for STALE_S is ignored: a crashed trainer does not
leave a model "training" for ever. Bucket stores have no such files (the service then
answers 404 for a model not yet published, as before).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from model_store.disk import pid_alive
from model_store.local import LocalStore
from model_store.refs import validate_name
from model_store.store import Store

TRAINING_DIR = ".training"
STALE_S = 900.0


@dataclass(frozen=True)
class Training:
    name: str
    epoch: int  # epochs done; 0 while queued or in its first epoch
    epochs: int
    queued: bool  # waiting for the models before it in its bootstrap group
    started: float  # wall clock, seconds
    updated: float
    pid: int
    host: str

    @property
    def eta_s(self) -> float | None:
        """Seconds left at the pace so far; None before the first epoch ends."""
        if self.queued or self.epoch <= 0:
            return None
        per_epoch = (self.updated - self.started) / self.epoch
        return max(0.0, per_epoch * (self.epochs - self.epoch) - (time.time() - self.updated))

    def describe(self) -> str:
        if self.queued:
            return f"{self.name} is queued for training by the running bootstrap"
        eta = self.eta_s
        left = "" if eta is None else f", about {max(1, round(eta / 60))} min left"
        return f"{self.name} is being trained (epoch {self.epoch} of {self.epochs}{left})"


def _folder(store: Store) -> Path | None:
    """Where a store keeps its records: a local store's root; None for a bucket."""
    return store.root / TRAINING_DIR if isinstance(store, LocalStore) else None


def _path(folder: Path, name: str) -> Path:
    return folder / f"{validate_name(name)}.json"


def announce(store: Store, name: str, epoch: int, epochs: int, queued: bool = False,
             started: float | None = None) -> None:  # fmt: skip
    """Say (again) that `name` is queued or trained here, atomically (a bucket: nothing)."""
    folder = _folder(store)
    if folder is None:
        return
    now = time.time()
    record = Training(name, epoch, epochs, queued, started or now, now, os.getpid(),
                      socket.gethostname())  # fmt: skip
    path = _path(folder, name)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(asdict(record)))
    os.replace(tmp, path)


def finished(store: Store, name: str) -> None:
    """`name` is published, or its run ended: no longer training (only our own record)."""
    folder = _folder(store)
    if folder is None:
        return
    path = _path(folder, name)
    with contextlib.suppress(OSError, ValueError):
        if json.loads(path.read_text())["pid"] == os.getpid():
            path.unlink()
    with contextlib.suppress(OSError):  # the store looks as before once nothing trains
        folder.rmdir()


def in_training(store: Store) -> dict[str, Training]:
    """The live records: their process runs (on this host) and updated within STALE_S."""
    out: dict[str, Training] = {}
    folder = _folder(store)
    if folder is None or not folder.is_dir():
        return out
    now, host = time.time(), socket.gethostname()
    for path in folder.glob("*.json"):
        try:
            record = Training(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            continue
        if now - record.updated > STALE_S or (record.host == host and not pid_alive(record.pid)):
            continue
        out[record.name] = record
    return out
