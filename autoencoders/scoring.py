"""Outlier scores: how unlike its training images an input is. Pure functions of tensors.

Raw likelihood is known to fail as an outlier score: a VAE trained on Fashion-MNIST gives
MNIST digits a *higher* likelihood than its own clothes (Nalisnick et al., ICLR 2019),
because simple images (a few strokes on black) are likely under almost any model. The
reconstruction error fails less often but less sharply, and both miss a new kind of the
same sort of image (a digit the model never saw draws a likely, well reproduced stroke).
The score here asks three questions and keeps the loudest answer:

    score = max(z(nll), z(error), z(code))

each term standardised by the model's own training images (`reference`), z(t) = (t -
mean) / std: an image is unusual when the model finds it unlikely, cannot reproduce it, *or*
encodes it where its training images' codes do not go. The negative log-likelihood is the
model's (the negative ELBO at the posterior mean for VAEs; the Bernoulli reconstruction
term for plain autoencoders); the error is the deterministic reconstruction's mean squared
error per pixel; the code term is the negative log-density of the image's code (a VAE's
posterior mean) under the Gaussian mixture fitted to the training codes at publish, the
one /sample draws from (density in the latent space: as DAGMM, Zong et al., ICLR 2018, and
the two-stage VAE's aggregate posterior, Dai & Wipf, ICLR 2019). A model without a fitted
mixture (a conditional VAE, whose codes are per class) is scored by the first two.

Each version records the method it was calibrated with (`Calibration.method`), and is
scored by that method: a version published with the two-term score keeps it (`METHODS`).
Corrections by the input's compressed size (Serrà et al., ICLR 2020) were measured and not
kept (bench/outlier_scores.py): the difference fails when the outliers are the more complex
images, and the ratio flags clean hand-drawn digits as outliers.

Every term is deterministic: the same image gets the same score alone or in a batch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from autoencoders.latent import mixture_log_prob
from autoencoders.losses import gaussian_log_density, kl_to_standard_normal


@dataclass(frozen=True)
class Method:
    """A way to score, as a version's calibration records it (`name`)."""

    name: str
    code_term: bool  # the code's density under the fitted mixture is the third term

    @property
    def reference_size(self) -> int:
        """Numbers in `score_reference`: a mean and a standard deviation per term."""
        return 6 if self.code_term else 4


TWO_TERMS = Method(
    "max of standardised negative log-likelihood and reconstruction error; "
    "split-conformal threshold",
    code_term=False,
)
THREE_TERMS = Method(
    "max of standardised negative log-likelihood, reconstruction error and code density "
    "(under the mixture fitted to the training codes); split-conformal threshold",
    code_term=True,
)
METHODS = {m.name: m for m in (TWO_TERMS, THREE_TERMS)}
MIXTURE = ("mixture_weights", "mixture_means", "mixture_scale_trils")


def method_for(latents: dict[str, torch.Tensor]) -> Method:
    """The method a new version is calibrated with: three terms when it has a fitted code
    mixture (`latents`, as published), else two."""
    return THREE_TERMS if all(k in latents for k in MIXTURE) else TWO_TERMS


def mixture_of(
    latents: dict[str, torch.Tensor], method: Method
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
    """The fitted mixture `method` scores codes under (None for the two-term method)."""
    if not method.code_term:
        return None
    weights, means, trils = (latents[k] for k in MIXTURE)
    return weights, means, trils


def model_terms(
    module: nn.Module, x: torch.Tensor, labels: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """[N] negative log-likelihood (nats), the [N, C, H, W] deterministic reconstruction and
    the [N, D] codes it was decoded from (a VAE's posterior means)."""
    enc = module.encode(x, labels)
    logits = module.decode_logits(enc.z, labels)
    nll = F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)
    if enc.logvar is not None:  # a VAE: add the KL term at the posterior mean
        log_prior = module.learned_log_prior(enc.mu)
        if log_prior is None:
            nll = nll + kl_to_standard_normal(enc.mu, enc.logvar)
        else:
            nll = nll + gaussian_log_density(enc.mu, enc.mu, enc.logvar) - log_prior
    return nll, torch.sigmoid(logits), enc.mu if enc.logvar is not None else enc.z


def score_terms(
    module: nn.Module,
    x: torch.Tensor,
    num_classes: int = 0,
    mixture: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per image: negative log-likelihood (nats), reconstruction error (MSE per pixel), the
    squared error per pixel [N, C, H, W], the class it was scored against (a conditional
    model's best-fitting class, the one of lowest negative log-likelihood; -1 for models
    without classes), and its code's negative log-density under `mixture` (nats; NaN
    without one)."""
    if num_classes:
        candidates = [
            model_terms(module, x, torch.full_like(x[:, 0, 0, 0], c, dtype=torch.long))
            for c in range(num_classes)
        ]
        nlls = torch.stack([nll for nll, _, _ in candidates])  # [K, N]
        best = nlls.argmin(0)
        nll = nlls.gather(0, best[None])[0]
        recs = torch.stack([rec for _, rec, _ in candidates])  # [K, N, C, H, W]
        index = best.view(1, -1, *[1] * (x.dim() - 1)).expand(1, *recs.shape[1:])
        rec = recs.gather(0, index)[0]
        codes = None
    else:
        nll, rec, codes = model_terms(module, x, None)
        best = torch.full_like(nll, -1, dtype=torch.long)
    error_map = (rec - x).pow(2)
    if mixture is not None and codes is not None:
        code_nll = -mixture_log_prob(codes, *mixture).to(nll.dtype)
    else:
        code_nll = torch.full_like(nll, math.nan)
    return nll, error_map.flatten(1).mean(1), error_map, best, code_nll


def reference(
    nll: torch.Tensor, error: torch.Tensor, code_nll: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean and standard deviation of each term over in-distribution images (the training
    images): what `combine` standardises by. [4] for two terms, [6] with the code's."""
    terms = [nll, error] if code_nll is None else [nll, error, code_nll]
    return torch.stack([s for t in terms for s in (t.mean(), t.std())]).float()


def combine(
    nll: torch.Tensor, error: torch.Tensor, code_nll: torch.Tensor, ref: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """The shipped score (the largest standardised term; higher = more unusual) and the
    terms: the likelihood's, the error's and (a reference of 6: the three-term method) the
    code's, else None."""
    likelihood_z, error_z = standardised(nll, ref[0], ref[1]), standardised(error, ref[2], ref[3])
    value = torch.maximum(likelihood_z, error_z)
    if len(ref) < 6:
        return value, likelihood_z, error_z, None
    code_z = standardised(code_nll, ref[4], ref[5])
    return torch.maximum(value, code_z), likelihood_z, error_z, code_z


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
    mixture: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
) -> dict[str, torch.Tensor]:
    """Every part of the score of each image, `batch` images at a time:
    `negative_log_likelihood_nats`, `reconstruction_error`, `code_negative_log_density`
    (NaN without a mixture), `label` (the class scored against; -1 without classes) and,
    given the reference, `score`."""
    parts: dict[str, list[torch.Tensor]] = {}
    for start in range(0, len(x), batch):
        nll, error, _, label, code_nll = score_terms(
            module, x[start : start + batch], num_classes, mixture
        )
        for key, value in (("negative_log_likelihood_nats", nll),
                           ("reconstruction_error", error), ("label", label),
                           ("code_negative_log_density", code_nll)):  # fmt: skip
            parts.setdefault(key, []).append(value)
    out = {k: torch.cat(v) for k, v in parts.items()}
    if ref is not None:
        out["score"] = combine(out["negative_log_likelihood_nats"], out["reconstruction_error"],
                               out["code_negative_log_density"], ref)[0]  # fmt: skip
    return out
