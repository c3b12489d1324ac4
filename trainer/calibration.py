"""Calibration at publish: the outlier score (autoencoders.scoring) standardised by the
training images and calibrated on held-out in-distribution images the model never trained
on, so /score can say how unusual an image is (its percentile) and whether it is an outlier
(a split-conformal threshold).

The reference (mean and spread of each term) comes from up to REFERENCE_IMAGES training
images. The test split is shuffled (seeded) and halved: the first half's sorted scores are
stored with the version (`calibration_scores` in its latents) and set the threshold; the
second half checks that the rate holds on images the threshold never saw (`observed_fpr`).
Because the reference never sees the test split, the calibration scores are exchangeable
with new in-distribution images, which is what the conformal guarantee needs.
"""

from __future__ import annotations

import torch
from torch import nn

from autoencoders import ModelConfig, family_of
from autoencoders.scoring import conformal_threshold, method_for, mixture_of, reference, score
from model_store import Calibration
from trainer.datasets import Dataset, as_float

DEFAULT_FPR = 0.01
REFERENCE_IMAGES = 5000
SEED = 4321


def calibrate(
    model: nn.Module, config: ModelConfig, data: Dataset, latents: dict[str, torch.Tensor]
) -> tuple[Calibration, dict[str, torch.Tensor]]:
    """The manifest's calibration record, and the latents serving needs: the reference
    (`score_reference`) and the sorted calibration scores (`calibration_scores`). The
    method is the three-term score when `latents` (the version's, as published) has a
    fitted code mixture."""
    classes = config.num_classes if family_of(config).conditional else 0
    method = method_for(latents)
    mixture = mixture_of(latents, method)
    gen = torch.Generator().manual_seed(SEED)
    model = model.cpu().eval()
    train = torch.randperm(len(data.train_x), generator=gen)[:REFERENCE_IMAGES]
    seen = score(model, as_float(data.train_x[train]), classes, mixture=mixture)
    ref = reference(seen["negative_log_likelihood_nats"], seen["reconstruction_error"],
                    seen["code_negative_log_density"] if method.code_term else None)  # fmt: skip
    order = torch.randperm(len(data.test_x), generator=gen)
    half = max(1, len(order) // 2)
    scores = score(model, as_float(data.test_x[order]), classes, ref, mixture=mixture)["score"]
    calibration, check = torch.sort(scores[:half]).values, scores[half:]
    threshold = conformal_threshold(calibration, DEFAULT_FPR)
    record = Calibration(
        method=method.name,
        reference=f"{len(train)} training images",
        split=f"half of {data.name}'s test split (seeded), never trained on",
        size=len(calibration),
        default_fpr=DEFAULT_FPR,
        threshold=threshold,
        check_size=len(check),
        observed_fpr=float((check > threshold).float().mean())
        if len(check) and threshold is not None
        else None,
    )
    return record, {"score_reference": ref, "calibration_scores": calibration}
