"""The store's suite runs against every backend: a local directory and a bucket on a real S3
server process (moto). `raw_put`/`raw_get`/`leftovers` reach below the store's interface,
as a tamperer or an auditor would."""

from __future__ import annotations

import pytest
import torch

from autoencoders import ModelConfig, build_model
from model_store import LocalStore, Store, publish_model

TINY_VAE = ModelConfig(family="vae", backbone="linear", latent_dim=4, hidden=(16,))


def fields() -> dict:
    return {
        "input": {"channels": 1, "height": 28, "width": 28},
        "dataset": {"name": "unit", "train_size": 1, "test_size": 1, "fingerprint": "0" * 64},
        "training": {"epochs": 0, "batch_size": 1, "learning_rate": 0.0, "seed": 0, "device": "cpu",
                     "duration_s": 0.0},
        "code_version": "test",
    }  # fmt: skip


def publish_tiny(store: Store, name: str = "tiny", seed: int = 0, **kw):
    torch.manual_seed(seed)
    model = build_model(TINY_VAE)
    return publish_model(store, name, model, TINY_VAE, fields(), **kw), model


@pytest.fixture
def store(any_store) -> Store:
    """An empty store on each backend (`any_store` in tests/conftest.py)."""
    return any_store


def raw_put(store: Store, key: str, data: bytes) -> None:
    """Write bytes at `key` ("tiny/1/weights.safetensors") beneath the store's interface."""
    if isinstance(store, LocalStore):
        path = store.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    else:
        store.s3.put_object(Bucket=store.bucket, Key=store.prefix + key, Body=data)


def raw_get(store: Store, key: str) -> bytes:
    if isinstance(store, LocalStore):
        return (store.root / key).read_bytes()
    return store.s3.get_object(Bucket=store.bucket, Key=store.prefix + key)["Body"].read()


def leftovers(store: Store, name: str = "tiny") -> list[str]:
    """What unfinished publishes left: staging directories, or claimed numbers with no
    manifest and their files."""
    if isinstance(store, LocalStore):
        folder = store.root / name
        return sorted(p.name for p in folder.iterdir() if p.name.startswith(".")
                      and p.name not in (".lock",)) if folder.exists() else []  # fmt: skip
    visible, claims = store._scan(name)
    base = store._model_key(name)
    hidden = [o["Key"][len(base):] for o in store.io.keys(base)
              if o["Key"][len(base):].split("/")[0].isdigit()
              and int(o["Key"][len(base):].split("/")[0]) not in visible]  # fmt: skip
    return sorted(hidden + [f".claims/{v}" for v in claims if v not in visible])
