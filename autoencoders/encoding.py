"""What an encoder returns, for every family."""

from __future__ import annotations

from typing import NamedTuple

import torch


class Encoding(NamedTuple):
    """A code per image. For VAEs `z` is the posterior mean; `logvar` is None otherwise."""

    z: torch.Tensor
    mu: torch.Tensor
    logvar: torch.Tensor | None


class Reconstruction(NamedTuple):
    logits: torch.Tensor
    encoding: Encoding
