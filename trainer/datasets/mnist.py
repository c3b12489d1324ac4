"""MNIST-format data: the embedded 5,000-digit sample, IDX directories, torchvision.

Fashion-MNIST ships in the same IDX format (Debian's `dataset-fashion-mnist`
puts it under /usr/share/datasets/fashion-mnist/), so it loads with no change.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import torch

from trainer.datasets import Dataset, DatasetError

EMBEDDED_SAMPLE = Path(__file__).parent / "data" / "mnist_5k.csv.gz"
DIGITS = tuple(str(d) for d in range(10))
FASHION = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
DEBIAN_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _images(pixels: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(pixels.astype(np.float32) / 255.0).reshape(-1, 1, 28, 28)


def load_embedded_sample() -> Dataset:
    """5,000 real digits committed in the repo; per class 400 train, 100 test."""
    with gzip.open(EMBEDDED_SAMPLE, "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.uint8)
    pixels, labels = table[:, :-1], table[:, -1].astype(np.int64)
    train_idx, test_idx = [], []
    for digit in range(10):
        rows = np.flatnonzero(labels == digit)
        train_idx.extend(rows[:400])
        test_idx.extend(rows[400:])
    x, y = _images(pixels), torch.from_numpy(labels)
    tr, te = torch.tensor(train_idx), torch.tensor(test_idx)
    return Dataset("mnist-sample", x[tr], y[tr], x[te], y[te], DIGITS)


def read_idx(path: Path) -> np.ndarray:
    """One IDX file (optionally gzipped) as an array: magic, dims, big-endian data."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise DatasetError(f"{path}: not an IDX file")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DatasetError(f"{path}: truncated IDX header")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    expected = int(np.prod(dims)) * dtype.itemsize
    if len(data) - header != expected:
        raise DatasetError(f"{path}: {len(data) - header} data bytes where {expected} expected")
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)


def _find(directory: Path, stem: str) -> Path:
    for candidate in (directory / stem, directory / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    raise DatasetError(f"{directory}: no {stem} or {stem}.gz")


def load_idx_directory(
    directory: str | Path, name: str | None = None, class_names: tuple[str, ...] = DIGITS
) -> Dataset:
    """Any directory holding the four standard files (train-/t10k- images and labels)."""
    d = Path(directory)
    parts = {}
    for split in ("train", "t10k"):
        images = read_idx(_find(d, f"{split}-images-idx3-ubyte"))
        labels = read_idx(_find(d, f"{split}-labels-idx1-ubyte"))
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise DatasetError(
                f"{d}: {split} images {images.shape} do not match labels {labels.shape}"
            )
        if images.shape[1:] != (28, 28):
            raise DatasetError(f"{d}: images are {images.shape[1:]}, expected 28x28")
        if labels.max() >= len(class_names):
            raise DatasetError(f"{d}: label {labels.max()} but only {len(class_names)} classes")
        parts[split] = (_images(images), torch.from_numpy(labels.astype(np.int64)))
    (tx, ty), (vx, vy) = parts["train"], parts["t10k"]
    return Dataset(name or f"idx:{d}", tx, ty, vx, vy, class_names)


def download_mnist(data_dir: str | Path) -> Dataset:
    """Full MNIST via torchvision's downloader (needs the internet the first time)."""
    from torchvision.datasets import MNIST  # imported here: only this path needs it

    root = Path(data_dir)
    train = MNIST(str(root), train=True, download=True)
    test = MNIST(str(root), train=False, download=True)

    def to_tensors(ds: MNIST) -> tuple[torch.Tensor, torch.Tensor]:
        return ds.data.float().div(255.0).unsqueeze(1), ds.targets.long()

    (tx, ty), (vx, vy) = to_tensors(train), to_tensors(test)
    return Dataset("mnist", tx, ty, vx, vy, DIGITS)
