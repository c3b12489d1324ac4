from __future__ import annotations

import pytest
import torch

from autoencoders import ModelConfig, build_model
from model_store import LocalStore, publish_model

TINY_VAE = ModelConfig(family="vae", backbone="linear", latent_dim=4, hidden=(16,))


def fields() -> dict:
    return {
        "input": {"channels": 1, "height": 28, "width": 28},
        "dataset": {"name": "unit", "train_size": 1, "test_size": 1, "fingerprint": "0" * 64},
        "training": {"epochs": 0, "batch_size": 1, "learning_rate": 0.0, "seed": 0, "device": "cpu",
                     "duration_s": 0.0},
        "code_version": "test",
    }  # fmt: skip


def publish_tiny(store: LocalStore, name: str = "tiny", seed: int = 0, **kw):
    torch.manual_seed(seed)
    model = build_model(TINY_VAE)
    return publish_model(store, name, model, TINY_VAE, fields(), **kw), model


@pytest.fixture
def store(tmp_path) -> LocalStore:
    return LocalStore(tmp_path / "store")
