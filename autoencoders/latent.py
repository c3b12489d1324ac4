"""Latent-space math: fitted priors for plain autoencoders, sampling, interpolation."""

from __future__ import annotations

import math

import torch
from torch import nn


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


def gaussian_log_prob(
    x: torch.Tensor, mean: torch.Tensor, scale_tril: torch.Tensor
) -> torch.Tensor:
    """log N(x; mean, L L^T) per row of x."""
    diff = (x - mean).double()
    solved = torch.linalg.solve_triangular(scale_tril.double(), diff.T, upper=False)
    half_log_det = torch.log(torch.diagonal(scale_tril.double())).sum()
    d = x.shape[1]
    return -0.5 * (solved**2).sum(0) - half_log_det - 0.5 * d * math.log(2 * math.pi)


def fit_gaussian_mixture(
    codes: torch.Tensor,
    components: int = 8,
    iterations: int = 60,
    seed: int = 0,
    ridge: float = 1e-3,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Full-covariance Gaussian mixture by EM: (weights (K,), means (K, D), scale_trils (K, D, D)).

    Initialised from K codes drawn with the seed; each covariance gets a small ridge
    (relative to the codes' mean variance) so that no component collapses.
    """
    x = codes.double()
    n, d = x.shape
    gen = torch.Generator().manual_seed(seed)
    means = x[torch.randperm(n, generator=gen)[:components]].clone()
    floor = ridge * x.var(0).mean() * torch.eye(d, dtype=x.dtype)
    covs = torch.stack([torch.cov(x.T) + floor] * components)
    weights = torch.full((components,), 1.0 / components, dtype=x.dtype)
    for _ in range(iterations):
        trils = torch.linalg.cholesky(covs)
        logp = torch.stack([gaussian_log_prob(x, means[k], trils[k]) for k in range(components)], 1)
        logp = logp + weights.log()
        resp = torch.softmax(logp, dim=1)  # (n, K)
        mass = resp.sum(0) + 1e-10
        weights = mass / n
        means = (resp.T @ x) / mass[:, None]
        for k in range(components):
            centred = x - means[k]
            covs[k] = (resp[:, k, None] * centred).T @ centred / mass[k] + floor
    return weights.float(), means.float(), torch.linalg.cholesky(covs).float()


def mixture_log_prob(
    x: torch.Tensor, weights: torch.Tensor, means: torch.Tensor, scale_trils: torch.Tensor
) -> torch.Tensor:
    """log of the mixture's density per row of x: every component in one batched solve (six
    times faster than one solve per component for 40 components, which made /score's code
    term cost more than the forward pass)."""
    diff = x.double()[None] - means.double()[:, None]  # (K, N, D)
    trils = scale_trils.double()
    solved = torch.linalg.solve_triangular(trils, diff.transpose(1, 2), upper=False)  # (K, D, N)
    half_log_det = torch.log(torch.diagonal(trils, dim1=1, dim2=2)).sum(1)  # (K,)
    d = x.shape[1]
    logp = -0.5 * (solved**2).sum(1) - half_log_det[:, None] - 0.5 * d * math.log(2 * math.pi)
    return torch.logsumexp(logp.T + weights.double().log(), dim=1)


def sample_mixture(
    weights: torch.Tensor,
    means: torch.Tensor,
    scale_trils: torch.Tensor,
    count: int,
    generator: torch.Generator | None,
    temperature: float = 1.0,
) -> torch.Tensor:
    """Pick a component by weight, then draw from it; temperature scales each spread."""
    picks = torch.multinomial(weights, count, replacement=True, generator=generator)
    eps = torch.randn(count, means.shape[1], generator=generator, device=means.device)
    return means[picks] + torch.einsum("nij,nj->ni", temperature * scale_trils[picks], eps)


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


def sample_prior(
    model: nn.Module,
    latents: dict[str, torch.Tensor],
    count: int,
    generator: torch.Generator,
    temperature: float = 1.0,
) -> torch.Tensor | None:
    """`count` codes to decode into samples: from the Gaussian mixture fitted to the
    model's training codes when it has one (plain autoencoders; VAEs published since it was
    fitted for them, whose samples then read better than their own prior's), else the
    fitted full-covariance Gaussian, else a VAE's own prior (`sample_codes`: N(0, I) or the
    mixture it learned); None when a plain autoencoder has none."""
    gen, t = generator, temperature
    if "mixture_weights" in latents:
        weights, means = latents["mixture_weights"], latents["mixture_means"]
        return sample_mixture(weights, means, latents["mixture_scale_trils"], count, gen, t)
    if "prior_mean" in latents:
        return sample_gaussian(latents["prior_mean"], latents["prior_scale_tril"], count, gen, t)
    if getattr(model, "variational", False):
        return model.sample_codes(count, generator, temperature)
    return None
