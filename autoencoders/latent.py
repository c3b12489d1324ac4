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


def attribute_directions(
    codes: torch.Tensor, attrs: torch.Tensor, positive_above: float, negative_below: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per attribute: mean code of images with it minus mean code of images without it.

    An image has the attribute when its score is above `positive_above` and lacks it when
    below `negative_below`; scores in between take no part. Returns (directions (A, D),
    counts (A, 2) of images with and without). An attribute with an empty side gets a zero
    direction.
    """
    dirs, counts = [], []
    for a in range(attrs.shape[1]):
        pos, neg = attrs[:, a] > positive_above, attrs[:, a] < negative_below
        counts.append([int(pos.sum()), int(neg.sum())])
        if pos.any() and neg.any():
            dirs.append(codes[pos].mean(0) - codes[neg].mean(0))
        else:
            dirs.append(torch.zeros(codes.shape[1]))
    return torch.stack(dirs), torch.tensor(counts)


def corrected_attribute_directions(codes: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
    """Bias-corrected directions: each attribute's effect with the others held fixed.

    A least-squares fit codes ~ c + present @ B over all attributes at once (`present`
    is 0/1, (N, A)); row a of B is the change in code when attribute a alone switches on.
    Unlike the plain mean difference, "smiling" then carries no share of attributes that
    merely co-occur with smiles in the data (say, gender or an open mouth).
    """
    design = torch.cat([torch.ones(len(present), 1), present.float()], dim=1).double()
    solution = torch.linalg.lstsq(design, codes.double()).solution
    return solution[1:].float()


def edit_codes(
    codes: torch.Tensor, directions: torch.Tensor, strengths: torch.Tensor
) -> torch.Tensor:
    """codes (N, D) + sum over edits of strength (E,) times direction (E, D)."""
    return codes + (strengths[:, None] * directions).sum(0, keepdim=True)
