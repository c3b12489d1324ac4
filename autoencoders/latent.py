"""Latent-space math: fitted priors for plain autoencoders, sampling, interpolation."""

from __future__ import annotations

import torch


def fit_gaussian(codes: torch.Tensor, ridge: float = 1e-4) -> tuple[torch.Tensor, torch.Tensor]:
    """Full-covariance Gaussian of codes: (mean, lower Cholesky factor of the covariance)."""
    codes = codes.double()
    mean = codes.mean(0)
    centred = codes - mean
    cov = centred.T @ centred / max(len(codes) - 1, 1)
    cov = cov + ridge * torch.eye(cov.shape[0], dtype=cov.dtype) * cov.diagonal().mean().clamp_min(
        1e-8
    )
    return mean.float(), torch.linalg.cholesky(cov).float()


def sample_gaussian(
    mean: torch.Tensor,
    scale_tril: torch.Tensor,
    count: int,
    generator: torch.Generator,
    temperature: float = 1.0,
) -> torch.Tensor:
    eps = torch.randn(count, mean.shape[0], generator=generator)
    return mean + temperature * eps @ scale_tril.T


def sample_standard_normal(
    latent_dim: int, count: int, generator: torch.Generator, temperature: float = 1.0
) -> torch.Tensor:
    return temperature * torch.randn(count, latent_dim, generator=generator)


def interpolate(start: torch.Tensor, end: torch.Tensor, steps: int) -> torch.Tensor:
    """Codes on the straight line from start to end, both included: (steps, dim)."""
    t = torch.linspace(0.0, 1.0, steps).unsqueeze(1)
    return (1 - t) * start.unsqueeze(0) + t * end.unsqueeze(0)
