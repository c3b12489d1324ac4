"""Training objectives. Pure functions of tensors.

Units: `negative_elbo` is nats per image (binary cross-entropy summed over
pixels plus KL, averaged over images): the unit of the "test set loss" that
pytorch/examples' VAE prints, so figures compare.
"""

from __future__ import annotations

import math
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


def gaussian_log_density(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; mu, diag(exp(logvar))) per row, in nats."""
    return -0.5 * ((z - mu).pow(2) / logvar.exp() + logvar + math.log(2 * math.pi)).sum(1)


def negative_elbo(
    logits: torch.Tensor,
    target: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    z: torch.Tensor | None = None,
    log_prior: torch.Tensor | None = None,
) -> ElboTerms:
    """With `log_prior` (log p(z) of the sampled code `z`, per image) the KL term is its
    one-sample estimate log q(z|x) - log p(z); without it, the closed form against N(0, I)."""
    rec = F.binary_cross_entropy_with_logits(logits, target, reduction="none").flatten(1).sum(1)
    if log_prior is None:
        kl = kl_to_standard_normal(mu, logvar)
    else:
        kl = gaussian_log_density(z, mu, logvar) - log_prior
    return ElboTerms(loss=(rec + kl).mean(), reconstruction=rec.mean(), kl=kl.mean())


def log_importance_weights(
    logits: torch.Tensor,
    target: torch.Tensor,
    z: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    log_prior: torch.Tensor | None = None,
) -> torch.Tensor:
    """log p(x|z) + log p(z) - log q(z|x) per row, in nats: a Bernoulli decoder, the prior's
    `log_prior` of z (default: N(0, I)) and a diagonal Gaussian posterior. The mean of
    exp() over z ~ q(z|x) is p(x); its log-mean-exp over k samples is the IWAE bound
    (Burda, Grosse and Salakhutdinov, 2016), which tightens towards log p(x) as k grows
    (k = 1: the ELBO)."""
    log_px = -F.binary_cross_entropy_with_logits(logits, target, reduction="none").flatten(1).sum(1)
    if log_prior is None:
        log_prior = -0.5 * (z.pow(2) + math.log(2 * math.pi)).sum(1)
    return log_px + log_prior - gaussian_log_density(z, mu, logvar)


def per_image_mse(reconstruction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error per image, pixels in [0, 1]."""
    return (reconstruction - target).pow(2).flatten(1).mean(1)
