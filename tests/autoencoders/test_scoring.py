"""The outlier score's pure parts: the conformal threshold holds its rate, percentiles,
the standardised terms, and a CVAE scored against its best-fitting class."""

from __future__ import annotations

import pytest
import torch

from autoencoders import ModelConfig, build_model
from autoencoders.latent import fit_gaussian_mixture
from autoencoders.scoring import (
    METHODS,
    THREE_TERMS,
    TWO_TERMS,
    combine,
    conformal_threshold,
    method_for,
    mixture_of,
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


def test_the_score_is_the_largest_standardised_term():
    nll, error = torch.tensor([10.0, 20.0, 30.0]), torch.tensor([0.1, 0.2, 0.3])
    ref = reference(nll, error)
    assert torch.allclose(ref, torch.tensor([20.0, 10.0, 0.2, 0.1]))
    no_code = torch.full((2,), float("nan"))
    got, likelihood_z, error_z, code_z = combine(
        torch.tensor([40.0, 20.0]), torch.tensor([0.2, 0.6]), no_code, ref
    )
    assert torch.allclose(got, torch.tensor([2.0, 4.0]))
    assert torch.allclose(likelihood_z, torch.tensor([2.0, 0.0]))
    assert torch.allclose(error_z, torch.tensor([0.0, 4.0]))
    assert code_z is None  # the two-term method: the code is not asked

    ref = reference(nll, error, torch.tensor([-5.0, 0.0, 5.0]))
    assert torch.allclose(ref, torch.tensor([20.0, 10.0, 0.2, 0.1, 0.0, 5.0]))
    got, _, _, code_z = combine(
        torch.tensor([40.0, 20.0, 20.0]), torch.tensor([0.2, 0.6, 0.2]),
        torch.tensor([0.0, 0.0, 30.0]), ref,
    )  # fmt: skip
    assert torch.allclose(code_z, torch.tensor([0.0, 0.0, 6.0]))
    assert torch.allclose(got, torch.tensor([2.0, 4.0, 6.0]))  # the code's term wins the third


def test_a_version_is_scored_by_the_method_it_was_calibrated_with():
    """New versions with a fitted code mixture get the three-term score; the two-term
    method stays known, so versions calibrated with it keep their percentiles."""
    codes = torch.randn(200, 3, generator=torch.Generator().manual_seed(0))
    weights, means, trils = fit_gaussian_mixture(codes, components=2, iterations=5)
    latents = {"mixture_weights": weights, "mixture_means": means, "mixture_scale_trils": trils}
    assert method_for(latents) is THREE_TERMS and method_for({}) is TWO_TERMS
    assert mixture_of(latents, TWO_TERMS) is None
    assert mixture_of(latents, THREE_TERMS) is not None
    assert set(METHODS) == {TWO_TERMS.name, THREE_TERMS.name}
    assert (TWO_TERMS.reference_size, THREE_TERMS.reference_size) == (4, 6)


def test_a_code_far_from_the_training_codes_scores_its_density():
    """The code term is the negative log-density of the image's code (a VAE's posterior
    mean) under the fitted mixture: higher for a code away from where the mixture sits."""
    torch.manual_seed(0)
    model = build_model(ModelConfig(family="vae", latent_dim=3, hidden=(16,))).eval()
    x = torch.rand(6, 1, 28, 28)
    with torch.inference_mode():
        mu = model.encode(x).mu
    weights = torch.ones(1)
    trils = torch.eye(3)[None] * 0.1
    near = score_terms(model, x, 0, (weights, mu[:1], trils))[4]
    far = score_terms(model, x, 0, (weights, mu[:1] + 10, trils))[4]
    assert near.shape == (6,) and torch.isfinite(near).all()
    assert (far > near).all()
    assert torch.isnan(score_terms(model, x)[4]).all()  # no mixture: no code term


@pytest.mark.parametrize("family", ["vae", "linear-ae", "conv-ae"])
def test_every_reconstructing_family_scores_finite_parts(family):
    torch.manual_seed(0)
    model = build_model(ModelConfig(family=family, latent_dim=4, hidden=(16,))).eval()
    x = torch.rand(5, 1, 28, 28)
    with torch.inference_mode():
        codes = model.encode(x).z
    mixture = (torch.ones(1), codes.mean(0, keepdim=True), torch.eye(4)[None])
    parts = score(model, x, ref=torch.tensor([0.0, 1.0, 0.0, 1.0, 0.0, 1.0]), mixture=mixture)
    for key in ("score", "negative_log_likelihood_nats", "reconstruction_error",
                "code_negative_log_density"):  # fmt: skip
        assert parts[key].shape == (5,) and torch.isfinite(parts[key]).all(), key
    assert (parts["label"] == -1).all()


def test_a_cvae_is_scored_against_its_best_fitting_class():
    torch.manual_seed(0)
    model = build_model(ModelConfig(family="cvae", latent_dim=4, hidden=(16,),
                                    num_classes=3)).eval()  # fmt: skip
    x = torch.rand(4, 1, 28, 28)
    nll, _, error_map, best, code_nll = score_terms(model, x, 3)
    with torch.inference_mode():
        per_class = torch.stack([
            model_terms(model, x, torch.full((len(x),), c))[0] for c in range(3)
        ])  # fmt: skip
    assert torch.equal(best, per_class.argmin(0))
    assert torch.allclose(nll, per_class.min(0).values)
    assert error_map.shape == x.shape
    assert torch.isnan(code_nll).all()  # a CVAE's codes are per class: no code term
