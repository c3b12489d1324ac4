from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest
import torch

from trainer.datasets import DatasetError
from trainer.datasets.catalog import load_named as load
from trainer.datasets.mnist import load_embedded_sample, load_idx_directory, read_idx


def write_idx(path, array: np.ndarray, compress: bool) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.astype(np.uint8).tobytes()
    if compress:
        with gzip.open(f"{path}.gz", "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)


@pytest.fixture(params=[False, True], ids=["raw", "gz"])
def idx_dir(tmp_path, request):
    rng = np.random.default_rng(0)
    for split, n in (("train", 30), ("t10k", 10)):
        write_idx(
            tmp_path / f"{split}-images-idx3-ubyte",
            rng.integers(0, 256, (n, 28, 28)),
            request.param,
        )
        write_idx(tmp_path / f"{split}-labels-idx1-ubyte", np.arange(n) % 10, request.param)
    return tmp_path


def test_embedded_sample_has_a_fixed_stratified_split():
    data = load_embedded_sample()
    assert data.train_x.shape == (4000, 1, 28, 28) and data.test_x.shape == (1000, 1, 28, 28)
    assert data.train_y.bincount().tolist() == [400] * 10
    assert data.test_y.bincount().tolist() == [100] * 10
    assert 0 <= float(data.train_x.min()) and float(data.train_x.max()) == 1.0
    assert data.fingerprint() == load_embedded_sample().fingerprint()


def test_idx_directory_round_trips_pixels_and_labels(idx_dir):
    data = load(f"idx:{idx_dir}")
    assert data.train_x.shape == (30, 1, 28, 28) and data.test_x.shape == (10, 1, 28, 28)
    suffix = ".gz" if (idx_dir / "train-images-idx3-ubyte.gz").exists() else ""
    raw = read_idx(idx_dir / f"train-images-idx3-ubyte{suffix}")
    assert torch.equal(
        (data.train_x[:, 0] * 255).round().to(torch.uint8), torch.from_numpy(raw.copy())
    )
    assert data.test_y.tolist() == list(range(10))


def test_fashion_mnist_names_its_classes(idx_dir):
    data = load_idx_directory(idx_dir, "fashion", ("T-shirt/top", *"abcdefghi"))
    assert data.class_names[0] == "T-shirt/top"


def test_truncated_idx_file_is_refused(idx_dir, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    for f in idx_dir.iterdir():
        if f.is_file():
            (bad / f.name).write_bytes(f.read_bytes())
    target = next(bad.glob("train-images*"))
    if target.suffix == ".gz":
        target.unlink()
        target = bad / "train-images-idx3-ubyte"
        target.write_bytes(bytes([0, 0, 8, 3]) + struct.pack(">3I", 30, 28, 28) + b"\0" * 100)
    else:
        target.write_bytes(target.read_bytes()[:-5])
    with pytest.raises(DatasetError, match="data bytes"):
        load(f"idx:{bad}")


def test_unknown_dataset_names_the_known_ones():
    with pytest.raises(DatasetError, match="mnist-sample"):
        load("imagenet")


def test_limited_keeps_every_class():
    data = load_embedded_sample().limited(100, 50)
    assert len(data.train_x) == 100 and set(data.train_y.tolist()) == set(range(10))


def test_torchvision_path_reads_an_already_downloaded_mnist_without_the_network(tmp_path):
    """`--dataset mnist` uses torchvision's MNIST; with its raw files present it downloads nothing."""
    from trainer.datasets.mnist import download_mnist

    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(1)
    for split, n in (("train", 20), ("t10k", 10)):
        write_idx(
            raw / f"{split}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)), compress=False
        )
        write_idx(raw / f"{split}-labels-idx1-ubyte", np.arange(n) % 10, compress=False)
    data = download_mnist(tmp_path)
    assert (
        data.name == "mnist"
        and data.train_x.shape == (20, 1, 28, 28)
        and data.test_x.shape == (10, 1, 28, 28)
    )
    expected = read_idx(raw / "train-images-idx3-ubyte")
    assert torch.equal(
        (data.train_x[:, 0] * 255).round().to(torch.uint8), torch.from_numpy(expected.copy())
    )
