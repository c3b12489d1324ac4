"""Datasets as tensors in [0, 1], shaped (N, C, H, W), with a fixed train/test split."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import torch

from model_store import DatasetInfo


@dataclass(frozen=True)
class Dataset:
    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    class_names: tuple[str, ...]

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.train_x.shape[1:])  # type: ignore[return-value]

    def fingerprint(self) -> str:
        h = hashlib.sha256()
        for t in (self.train_x, self.train_y, self.test_x, self.test_y):
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

        def take(x: torch.Tensor, y: torch.Tensor, n: int | None):
            if n is None or n >= len(x):
                return x, y
            idx = torch.linspace(0, len(x) - 1, n).long()
            return x[idx], y[idx]

        tx, ty = take(self.train_x, self.train_y, train)
        vx, vy = take(self.test_x, self.test_y, test)
        suffix = f"[train={len(tx)},test={len(vx)}]"
        return Dataset(self.name + suffix, tx, ty, vx, vy, self.class_names)
