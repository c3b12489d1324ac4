"""The default models that `make serve` and `docker compose up` start with."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

from autoencoders import ModelConfig
from model_store import LocalStore, Manifest, Store, TrainingSettings
from model_store.training import announce, finished
from trainer.datasets import Dataset
from trainer.datasets.faces import load_synthetic_faces
from trainer.datasets.mnist import load_embedded_sample
from trainer.pipeline import TrainSpec, run

log = logging.getLogger("trainer")

# One wide encoder layer, two decoder layers: the shallower, wider encoder infers codes that
# hold up on test digits (105.7 against 108.4 nats at 50 epochs, the same training time).
# A prior learned as a mixture of 64 Gaussians takes 1.5-2 nats more off at 50 epochs
# (103.9-104.2 against 105.7-106.0 over three seeds) for 8% more training time.
MNIST_VAE = ModelConfig(family="vae", backbone="linear", hidden=(1024,), decoder_hidden=(512, 512),
                        latent_dim=20, activation="silu", prior_components=64)  # fmt: skip
# 70 epochs rather than 30: the VAE's decoder draws digits people can read (85.0% of its
# samples against 83.5%; 2.8 nats likelier) and the CVAE stays the likelier of the two
# (bench/sample_readability.py), the MNIST bootstrap still well inside three minutes.
# At a rate of 3e-3 a rare batch can throw the VAEs' gradient far past its usual norm
# (at most about 190 in a stable 10-epoch Fashion-MNIST run): it is held to 200.
VAE_RECIPE = {"epochs": 70, "batch_size": 64, "learning_rate": 3e-3, "lr_schedule": "cosine",
              "shift_pixels": 1, "clip_grad_norm": 200.0}  # fmt: skip
# Order matters within a group: evaluations use the classifier published before them.
MNIST: tuple[TrainSpec, ...] = (
    TrainSpec(
        name="mnist-classifier",
        config=ModelConfig(family="classifier", hidden=(128,), dropout=0.25, num_classes=10),
        training=TrainingSettings(epochs=12, batch_size=64),
    ),
    TrainSpec(
        # An MLP started at the mean digit, trained with a high rate annealed to 0 and on
        # digits shifted by a pixel, beats the conv body at a fraction of its training time
        # (bench/vae_quality.py).
        name="mnist-vae",
        config=MNIST_VAE,
        training=TrainingSettings(**VAE_RECIPE),
        classifier="mnist-classifier",  # reads its samples: metrics samples.readable
    ),
    TrainSpec(
        # The class enters every decoder layer, the objective is the plain ELBO, and a
        # reader trained beside it on the training digits teaches the decoder to draw any
        # code of the prior as the class asked for (SampleGuide): more likely than the VAE
        # and the digit asked for (bench/cvae_quality.py; the KL-weight bursts and the code
        # adversary it replaces bought the second only by giving up the first).
        name="mnist-cvae",
        config=replace(MNIST_VAE, family="cvae", num_classes=10, condition_all_layers=True),
        training=TrainingSettings(**VAE_RECIPE, sample_guide=20.0),
        classifier="mnist-classifier",
    ),
)
FACES_LATENT = 100  # the seed write-up's latent size for its 45x45 LFW models
FACES_CONV = ModelConfig(
    family="conv-ae", hidden=(), conv_channels=(16, 32, 64), norm="batch", upsample="nearest",
    decoder_channels=(128, 32, 16, 16), activation="silu", latent_dim=FACES_LATENT,
)  # fmt: skip
FACES: tuple[TrainSpec, ...] = (
    TrainSpec(
        name="faces-attributes",
        config=ModelConfig(family="classifier", hidden=(128,), num_classes=4, multilabel=True),
        training=TrainingSettings(epochs=4, batch_size=64),
    ),
    TrainSpec(
        name="faces-ae-linear",
        config=ModelConfig(family="linear-ae", hidden=(1024,), latent_dim=FACES_LATENT),
        training=TrainingSettings(epochs=15, batch_size=64, lr_schedule="cosine"),
        classifier="faces-attributes",
    ),
    TrainSpec(
        # Batch-normalised stride-2 convs down to 6x6, the code read straight off that map,
        # and a decoder that upsamples a 128-wide 6x6 grid and convolves up to a full-size
        # conv: a lower held-out MSE than the linear model's in 1.1-1.4x its training time
        # (bench/faces_figures.py; the transposed-conv model behind a 1024-wide layer had
        # twice the linear model's error).
        name="faces-ae-conv",
        config=FACES_CONV,
        training=TrainingSettings(
            epochs=15, batch_size=64, learning_rate=3e-3, lr_schedule="cosine"
        ),
        classifier="faces-attributes",
    ),
)
GROUPS: dict[str, tuple[Callable[[], Dataset], tuple[TrainSpec, ...]]] = {
    "mnist": (load_embedded_sample, MNIST),
    "faces": (lambda: load_synthetic_faces(train=12000, test=2000), FACES),  # = synthetic-faces
}


@contextlib.contextmanager
def _group_lock(store: Store, group: str) -> Iterator[None]:
    """One bootstrap of a group per store at a time: a second `make serve` started while the
    first still trains the faces waits for it, then finds them published and skips them.
    The lock lives beside a local store; for a bucket, in this machine's temporary
    directory (bootstraps on two machines may both train: both publish, as two versions)."""
    if isinstance(store, LocalStore):
        folder = store.root
    else:
        digest = hashlib.sha256(store.location.encode()).hexdigest()[:16]
        folder = Path(tempfile.gettempdir()) / f"ae-bootstrap-{digest}"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f".bootstrap-{group}.lock", "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("another bootstrap is training the %s models into %s: waiting", group,
                     store.location)  # fmt: skip
            fcntl.flock(f, fcntl.LOCK_EX)
        yield  # the lock goes with the file's closing, also when the process dies


def bootstrap(
    store: Store,
    only_missing: bool = True,
    epochs: int | None = None,
    progress: bool = True,
    groups: tuple[str, ...] = tuple(GROUPS),
) -> list[Manifest]:
    """Train the defaults (offline data only); skip names already in the store."""
    published = []
    for group in groups:
        with _group_lock(store, group):
            published += _bootstrap_group(store, group, only_missing, epochs, progress)
    return published


def _bootstrap_group(
    store: Store, group: str, only_missing: bool, epochs: int | None, progress: bool
) -> list[Manifest]:
    load, specs = GROUPS[group]
    existing = set(store.names())  # read under the lock: what a finished bootstrap published
    todo = [s for s in specs if not (only_missing and s.name in existing)]
    for spec in specs:
        if spec not in todo:
            log.info("%s already in %s: skipped", spec.name, store.location)
    if not todo:
        return []
    for spec in todo:  # the service answers "queued" for these, not 404
        announce(store, spec.name, 0, epochs or spec.training.epochs, queued=True)
    try:
        return _train_group(store, todo, load, epochs, progress)
    finally:
        for spec in todo:
            finished(store, spec.name)


def _train_group(
    store: Store, todo: list[TrainSpec], load: Callable[[], Dataset], epochs: int | None,
    progress: bool,
) -> list[Manifest]:  # fmt: skip
    data = load()
    published = []
    for spec in todo:
        if epochs is not None:
            spec = replace(spec, training=spec.training.model_copy(update={"epochs": epochs}))
        published.append(run(spec, data, store, progress=progress))
    return published
