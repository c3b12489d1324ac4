"""Outlier scores: how unlike its training images an input is. Pure functions of tensors.

Raw likelihood is known to fail as an outlier score: a VAE trained on Fashion-MNIST gives
MNIST digits a *higher* likelihood than its own clothes (Nalisnick et al., ICLR 2019),
because simple images (a few strokes on black) are likely under almost any model. The
reconstruction error fails less often but less sharply. The score here asks both:

    score = max((nll - mean_nll) / std_nll, (error - mean_error) / std_error)

each term standardised by the model's own training images (`reference`): an image is
unusual when the model finds it unlikely *or* cannot reproduce it, in standard deviations
of what it learned. The negative log-likelihood is the model's (the negative ELBO at the
posterior mean for VAEs; the Bernoulli reconstruction term for plain autoencoders); the
error is the deterministic reconstruction's mean squared error per pixel. Corrections by
the input's compressed size (Serrà et al., ICLR 2020) were measured and not kept
(bench/outlier_scores.py): the difference fails when the outliers are the more complex
images, and the ratio flags clean hand-drawn digits as outliers.

Every term is deterministic: the same image gets the same score alone or in a batch.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from autoencoders.losses import gaussian_log_density, kl_to_standard_normal

METHOD = (
    "max of standardised negative log-likelihood and reconstruction error; "
    "split-conformal threshold"
)


def model_terms(
    module: nn.Module, x: torch.Tensor, labels: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """[N] negative log-likelihood (nats) and the [N, C, H, W] deterministic reconstruction."""
    enc = module.encode(x, labels)
    logits = module.decode_logits(enc.z, labels)
    nll = F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)
    if enc.logvar is not None:  # a VAE: add the KL term at the posterior mean
        log_prior = module.learned_log_prior(enc.mu)
        if log_prior is None:
            nll = nll + kl_to_standard_normal(enc.mu, enc.logvar)
        else:
            nll = nll + gaussian_log_density(enc.mu, enc.mu, enc.logvar) - log_prior
    return nll, torch.sigmoid(logits)


def score_terms(
    module: nn.Module, x: torch.Tensor, num_classes: int = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per image: negative log-likelihood (nats), reconstruction error (MSE per pixel), the
    squared error per pixel [N, C, H, W], and the class it was scored against (a
    conditional model's best-fitting class, the one of lowest negative log-likelihood;
    -1 for models without classes)."""
    if num_classes:
        candidates = [
            model_terms(module, x, torch.full_like(x[:, 0, 0, 0], c, dtype=torch.long))
            for c in range(num_classes)
        ]
        nlls = torch.stack([nll for nll, _ in candidates])  # [K, N]
        best = nlls.argmin(0)
        nll = nlls.gather(0, best[None])[0]
        recs = torch.stack([rec for _, rec in candidates])  # [K, N, C, H, W]
        index = best.view(1, -1, *[1] * (x.dim() - 1)).expand(1, *recs.shape[1:])
        rec = recs.gather(0, index)[0]
    else:
        nll, rec = model_terms(module, x, None)
        best = torch.full_like(nll, -1, dtype=torch.long)
    error_map = (rec - x).pow(2)
    return nll, error_map.flatten(1).mean(1), error_map, best


def reference(nll: torch.Tensor, error: torch.Tensor) -> torch.Tensor:
    """[4]: mean and standard deviation of the negative log-likelihood and of the error
    over in-distribution images (the training images): what `combine` standardises by."""
    return torch.stack([nll.mean(), nll.std(), error.mean(), error.std()]).float()


def combine(
    nll: torch.Tensor, error: torch.Tensor, ref: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The shipped score (the larger of the two standardised terms; higher = more unusual)
    and the two terms: the likelihood's and the error's."""
    likelihood_z, error_z = standardised(nll, ref[0], ref[1]), standardised(error, ref[2], ref[3])
    return torch.maximum(likelihood_z, error_z), likelihood_z, error_z


def standardised(value: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    return (value - mean) / std.clamp_min(1e-12)


def conformal_threshold(calibration: torch.Tensor, fpr: float) -> float | None:
    """Split-conformal threshold: with n held-out in-distribution scores, the
    ceil((n + 1)(1 - fpr))-th smallest. A new in-distribution image scores above it with
    probability at most `fpr` (exchangeability; Vovk et al. 2005, Lei et al. 2018); None
    when n is too small for that rate (fewer than 1 / fpr - 1 scores)."""
    ordered = torch.sort(calibration).values
    n = len(ordered)
    rank = math.ceil((n + 1) * (1 - fpr))
    return None if rank > n else float(ordered[rank - 1])


def percentile(calibration_sorted: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
    """The share of held-out in-distribution scores strictly below each score, in [0, 1]."""
    below = torch.searchsorted(calibration_sorted, scores.to(calibration_sorted.dtype))
    return below.to(torch.float32) / max(1, len(calibration_sorted))


@torch.inference_mode()
def score(
    module: nn.Module,
    x: torch.Tensor,
    num_classes: int = 0,
    ref: torch.Tensor | None = None,
    batch: int = 500,
) -> dict[str, torch.Tensor]:
    """Every part of the score of each image, `batch` images at a time:
    `negative_log_likelihood_nats`, `reconstruction_error`, `label` (the class scored
    against; -1 without classes) and, given the reference, `score`."""
    parts: dict[str, list[torch.Tensor]] = {}
    for start in range(0, len(x), batch):
        nll, error, _, label = score_terms(module, x[start : start + batch], num_classes)
        for key, value in (("negative_log_likelihood_nats", nll),
                           ("reconstruction_error", error), ("label", label)):  # fmt: skip
            parts.setdefault(key, []).append(value)
    out = {k: torch.cat(v) for k, v in parts.items()}
    if ref is not None:
        nll, error = out["negative_log_likelihood_nats"], out["reconstruction_error"]
        out["score"] = combine(nll, error, ref)[0]
    return out
