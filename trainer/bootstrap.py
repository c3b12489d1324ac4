"""The default models that `make serve` and `docker compose up` start with."""

from __future__ import annotations

import logging

from autoencoders import ModelConfig
from model_store import LocalStore, Manifest
from trainer.datasets.mnist import load_embedded_sample
from trainer.pipeline import TrainSpec, run

log = logging.getLogger("trainer")

CLASSIFIER = "mnist-classifier"
# Order matters: the CVAE's evaluation uses the classifier published before it.
DEFAULTS: tuple[TrainSpec, ...] = (
    TrainSpec(
        name=CLASSIFIER,
        config=ModelConfig(
            family="classifier", conv_channels=(32, 64), hidden=(128,), dropout=0.25, num_classes=10
        ),
        epochs=8,
        batch_size=64,
    ),
    TrainSpec(
        name="mnist-vae",
        config=ModelConfig(family="vae", backbone="conv", hidden=(256,), latent_dim=20),
        epochs=30,
        batch_size=32,
    ),
    TrainSpec(
        name="mnist-cvae",
        config=ModelConfig(
            family="cvae", backbone="conv", hidden=(256,), latent_dim=20, num_classes=10
        ),
        epochs=30,
        batch_size=32,
        classifier=CLASSIFIER,
    ),
)


def bootstrap(
    store: LocalStore, only_missing: bool = True, epochs: int | None = None, progress: bool = True
) -> list[Manifest]:
    """Train the defaults on the embedded MNIST sample; skip names already present."""
    data = load_embedded_sample()
    existing = set(store.names())
    published = []
    for spec in DEFAULTS:
        if only_missing and spec.name in existing:
            log.info("%s already in %s: skipped", spec.name, store.root)
            continue
        if epochs is not None:
            spec = TrainSpec(**{**spec.__dict__, "epochs": epochs})
        published.append(run(spec, data, store, progress=progress))
    return published
