"""Dataset names the CLI accepts, resolved to loaders."""

from __future__ import annotations

from pathlib import Path

from trainer.datasets import Dataset
from trainer.datasets.faces import load_synthetic_faces
from trainer.datasets.lfw import download_lfw, load_lfw
from trainer.datasets.mnist import (
    DEBIAN_FASHION_DIR,
    DIGITS,
    FASHION,
    DatasetError,
    download_mnist,
    load_embedded_sample,
    load_idx_directory,
)

HELP = (
    "mnist-sample (5,000 embedded digits, offline), mnist (full, torchvision download into "
    "--data-dir), fashion-mnist (Debian's dataset-fashion-mnist package), "
    "idx:<dir> (any directory with the four MNIST-format IDX files), "
    "synthetic-faces[:N] (N procedural 45x45 training faces with known attributes, default "
    "12000, offline), "
    "lfw:<photos dir or .tgz>,<lfw_attributes.txt> (Labeled Faces in the Wild), "
    "lfw-download (fetch LFW into --data-dir first; needs the internet)"
)


def load(
    spec: str, data_dir: str | Path = "data", class_names: tuple[str, ...] | None = None
) -> Dataset:
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
