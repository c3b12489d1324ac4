"""Dataset names the CLI accepts, resolved to loaders."""

from __future__ import annotations

from pathlib import Path

from trainer.datasets import Dataset, DatasetError
from trainer.datasets.faces import load_synthetic_faces
from trainer.datasets.folder import load_folder
from trainer.datasets.lfw import download_lfw, load_lfw
from trainer.datasets.mnist import (
    DEBIAN_FASHION_DIR,
    DIGITS,
    FASHION,
    download_mnist,
    load_embedded_sample,
    load_idx_directory,
)
from trainer.settings import DataSettings

HELP = (
    "folder:<dir> (your own images: a flat folder, or one subfolder per class; "
    "folder:<dir>,<attributes.csv> adds a table of named attributes), "
    "mnist-sample (5,000 embedded digits, offline), mnist (full, torchvision download into "
    "--data-dir), fashion-mnist (Debian's dataset-fashion-mnist package), "
    "idx:<dir> (any directory with the four MNIST-format IDX files), "
    "synthetic-faces[:N] (N procedural 45x45 training faces with known attributes, default "
    "12000, offline), "
    "lfw:<photos dir or .tgz>,<lfw_attributes.txt> (Labeled Faces in the Wild), "
    "lfw-download (fetch LFW into --data-dir first; needs the internet)"
)


def load(settings: DataSettings, seed: int = 0, progress: bool = True) -> Dataset:
    """The dataset `settings` name, limited as they ask."""
    data = load_named(settings.dataset, settings.data_dir, settings.class_names or None,
                      settings, seed, progress)  # fmt: skip
    return data.limited(settings.limit_train, settings.limit_test)


def load_named(
    spec: str,
    data_dir: str | Path = "data",
    class_names: tuple[str, ...] | None = None,
    settings: DataSettings | None = None,
    seed: int = 0,
    progress: bool = False,
) -> Dataset:
    if spec.startswith("folder:"):
        return load_folder(spec[len("folder:"):], settings or DataSettings(), seed, progress)
    if spec == "mnist-sample":
        return load_embedded_sample()
    if spec == "mnist":
        return download_mnist(data_dir)
    if spec == "fashion-mnist":
        return load_idx_directory(DEBIAN_FASHION_DIR, "fashion-mnist", class_names or FASHION)
    if spec.startswith("idx:"):
        return load_idx_directory(spec[4:], None, class_names or DIGITS)
    if spec == "synthetic-faces" or spec.startswith("synthetic-faces:"):
        _, _, size = spec.partition(":")
        if size and not size.isdigit():
            raise DatasetError("synthetic-faces:<N> takes a number of training faces")
        train = int(size) if size else 12000
        return load_synthetic_faces(train=train, test=max(200, train // 6))
    if spec.startswith("lfw:"):
        photos, _, attributes = spec[4:].partition(",")
        if not attributes:
            raise DatasetError("lfw: needs <photos dir or .tgz>,<lfw_attributes.txt>")
        return load_lfw(photos, attributes)
    if spec == "lfw-download":
        return load_lfw(*download_lfw(data_dir))
    raise DatasetError(f"unknown dataset {spec!r}; known: {HELP}")
