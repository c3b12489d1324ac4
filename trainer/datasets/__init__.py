"""Datasets as tensors in [0, 1], shaped (N, C, H, W), with a fixed train/test split."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

import torch

from model_store import Crop, DatasetInfo


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
