"""The outlier score's pure parts: the conformal threshold holds its rate, percentiles,
the standardised terms, and a CVAE scored against its best-fitting class."""

from __future__ import annotations

import pytest
import torch

from autoencoders import ModelConfig, build_model
from autoencoders.scoring import (
    combine,
    conformal_threshold,
    model_terms,
    percentile,
    reference,
    score,
    score_terms,
)


def test_the_conformal_threshold_holds_its_rate_on_new_in_distribution_scores():
    """Calibrated on 500 scores, the rate on fresh scores of the same distribution averages
    at most the target (the guarantee) and not far below it (the threshold is tight)."""
    gen = torch.Generator().manual_seed(0)
    rates = []
    for _ in range(300):
        calibration = torch.randn(500, generator=gen).exp()  # skewed, as errors are
        fresh = torch.randn(5000, generator=gen).exp()
        rates.append(float((fresh > conformal_threshold(calibration, 0.01)).float().mean()))
    mean = sum(rates) / len(rates)
    assert 0.007 <= mean <= 0.0105, mean
    assert conformal_threshold(torch.arange(10.0), 0.05) is None  # too few for 5%
    assert conformal_threshold(torch.arange(100.0), 0.05) == 95.0  # ceil(101 * 0.95) = 96th


def test_percentile_is_the_share_of_calibration_scores_below():
    calibration = torch.arange(100.0)
    assert percentile(calibration, torch.tensor([-1.0, 0.0, 49.5, 1000.0])).tolist() == [
        0.0, 0.0, 0.5, 1.0,
    ]  # fmt: skip


def test_the_score_is_the_larger_standardised_term():
    ref = reference(torch.tensor([10.0, 20.0, 30.0]), torch.tensor([0.1, 0.2, 0.3]))
    assert torch.allclose(ref, torch.tensor([20.0, 10.0, 0.2, 0.1]))
    got, likelihood_z, error_z = combine(torch.tensor([40.0, 20.0]), torch.tensor([0.2, 0.6]), ref)
    assert torch.allclose(got, torch.tensor([2.0, 4.0]))
    assert torch.allclose(likelihood_z, torch.tensor([2.0, 0.0]))
    assert torch.allclose(error_z, torch.tensor([0.0, 4.0]))


@pytest.mark.parametrize("family", ["vae", "linear-ae", "conv-ae"])
def test_every_reconstructing_family_scores_finite_parts(family):
    torch.manual_seed(0)
    model = build_model(ModelConfig(family=family, latent_dim=4, hidden=(16,))).eval()
    x = torch.rand(5, 1, 28, 28)
    parts = score(model, x, ref=torch.tensor([0.0, 1.0, 0.0, 1.0]))
    for key in ("score", "negative_log_likelihood_nats", "reconstruction_error"):
        assert parts[key].shape == (5,) and torch.isfinite(parts[key]).all(), key
    assert (parts["label"] == -1).all()


def test_a_cvae_is_scored_against_its_best_fitting_class():
    torch.manual_seed(0)
    model = build_model(ModelConfig(family="cvae", latent_dim=4, hidden=(16,),
                                    num_classes=3)).eval()  # fmt: skip
    x = torch.rand(4, 1, 28, 28)
    nll, _, error_map, best = score_terms(model, x, 3)
    with torch.inference_mode():
        per_class = torch.stack([
            model_terms(model, x, torch.full((len(x),), c))[0] for c in range(3)
        ])  # fmt: skip
    assert torch.equal(best, per_class.argmin(0))
    assert torch.allclose(nll, per_class.min(0).values)
    assert error_map.shape == x.shape
