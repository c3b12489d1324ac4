"""Datasets as tensors shaped (N, C, H, W), with a fixed train/test split: floats in [0, 1],
or for a folder's training images uint8 bytes read from a memory-mapped cache (`as_float`
turns a batch of either into floats)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

import torch

from model_store import Crop, DatasetInfo


class DatasetError(ValueError):
    """Data that is missing or not in the expected format."""


def as_float(x: torch.Tensor) -> torch.Tensor:
    """A batch of images as floats in [0, 1]: uint8 bytes scaled, floats as they are."""
    return x.float().div_(255.0) if x.dtype == torch.uint8 else x


def spread(count: int, n: int, seed: int = 0) -> torch.Tensor:
    """Indices of `n` of `count` images (all of them when fewer), drawn with a fixed seed.
    Datasets come in class order (the embedded MNIST sample, a folder's class folders), so
    the first n would all be one class or a few; a measure taken on a part of a set takes
    this part instead, the same one every run."""
    if n >= count:
        return torch.arange(count)
    return torch.randperm(count, generator=torch.Generator().manual_seed(seed))[:n]


def pixel_mean(x: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
    """The mean image, summed slice by slice (a memory-mapped set is never copied whole)."""
    total = torch.zeros(x.shape[1:], dtype=torch.float64)
    for i in range(0, len(x), chunk):
        total += as_float(x[i : i + chunk]).sum(0, dtype=torch.float64)
    return (total / max(1, len(x))).float()


@dataclass(frozen=True)
class Dataset:
    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    class_names: tuple[str, ...]
    # Binary attributes per image (faces): 0/1 floats, (N, len(attribute_names)).
    attribute_names: tuple[str, ...] = ()
    train_attrs: torch.Tensor | None = None
    test_attrs: torch.Tensor | None = None
    # A score above the first has the attribute, below the second lacks it (LFW's scores
    # are real-valued; synthetic ones are 0/1).
    attribute_thresholds: tuple[float, float] = (0.5, 0.5)
    # How a source image became one of these (LFW: a centre crop): recorded in the manifest,
    # so the service prepares what it is sent the same way.
    crop: Crop | None = None
    # Folders: the fingerprint of the files themselves (list and bytes), the share held out,
    # and the files skipped ("path: reason").
    source_fingerprint: str | None = None
    test_fraction: float | None = None
    skipped: tuple[str, ...] = ()

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.train_x.shape[1:])  # type: ignore[return-value]

    def present(self, attrs: torch.Tensor) -> torch.Tensor:
        """0/1 attributes: above the midpoint of the two thresholds."""
        return (attrs > sum(self.attribute_thresholds) / 2).float()

    def targets(self, multilabel: bool, test: bool = False) -> torch.Tensor:
        """What a classifier learns: class indices, or 0/1 attributes when multilabel."""
        if not multilabel:
            return self.test_y if test else self.train_y
        attrs = self.test_attrs if test else self.train_attrs
        if attrs is None:
            raise ValueError(f"{self.name} has no attributes to learn")
        return self.present(attrs)

    def fingerprint(self) -> str:
        if self.source_fingerprint:
            return self.source_fingerprint
        h = hashlib.sha256()
        for t in (
            self.train_x,
            self.train_y,
            self.test_x,
            self.test_y,
            self.train_attrs,
            self.test_attrs,
        ):
            if t is not None:
                h.update(t.contiguous().numpy().tobytes())
        return h.hexdigest()

    def info(self) -> DatasetInfo:
        return DatasetInfo(
            name=self.name,
            train_size=len(self.train_x),
            test_size=len(self.test_x),
            fingerprint=self.fingerprint(),
            test_fraction=self.test_fraction,
            skipped=len(self.skipped),
            skipped_files=list(self.skipped[:20]),
        )

    def limited(self, train: int | None, test: int | None) -> Dataset:
        """A prefix-free subset: every n-th example, so all classes stay present."""

        def take(n: int | None, *tensors: torch.Tensor | None):
            size = len(tensors[0])
            if n is None or n >= size:
                return tensors
            idx = torch.linspace(0, size - 1, n).long()
            return tuple(None if t is None else t[idx] for t in tensors)

        tx, ty, ta = take(train, self.train_x, self.train_y, self.train_attrs)
        vx, vy, va = take(test, self.test_x, self.test_y, self.test_attrs)
        suffix = f"[train={len(tx)},test={len(vx)}]"
        return replace(self, name=self.name + suffix, train_x=tx, train_y=ty, test_x=vx,
                       test_y=vy, train_attrs=ta, test_attrs=va)  # fmt: skip
