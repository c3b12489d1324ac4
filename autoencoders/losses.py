"""Training objectives. Pure functions of tensors.

Units: `negative_elbo` is nats per image (binary cross-entropy summed over
pixels plus KL, averaged over images): the unit of the "test set loss" that
pytorch/examples' VAE prints, so figures compare.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F


class ElboTerms(NamedTuple):
    loss: torch.Tensor  # mean over images of reconstruction + kl
    reconstruction: torch.Tensor  # mean over images, nats
    kl: torch.Tensor  # mean over images, nats


def kl_to_standard_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) per image (Kingma & Welling 2013, appendix B)."""
    return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=1)


def negative_elbo(
    logits: torch.Tensor, target: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor
) -> ElboTerms:
    rec = F.binary_cross_entropy_with_logits(logits, target, reduction="none").flatten(1).sum(1)
    kl = kl_to_standard_normal(mu, logvar)
    return ElboTerms(loss=(rec + kl).mean(), reconstruction=rec.mean(), kl=kl.mean())


def per_image_mse(reconstruction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error per image, pixels in [0, 1]."""
    return (reconstruction - target).pow(2).flatten(1).mean(1)
