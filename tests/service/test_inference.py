"""What /sample and /score let through before a request waits for the batcher, and which
score method a version is served with (service.inference)."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from autoencoders import ModelConfig, scoring
from autoencoders.latent import fit_gaussian_mixture
from model_store import Calibration, CorruptArtifact
from service import inference
from service.errors import UnsupportedOperation
from tests.service.test_batching import loaded

VAE = ModelConfig(family="vae", latent_dim=4, hidden=(16,))
AE = ModelConfig(family="linear-ae", latent_dim=4, hidden=(16,))


def test_a_vae_without_a_fitted_mixture_samples_from_its_own_prior():
    model = loaded(VAE)  # published before VAEs had one: no latents
    inference.require_prior(model)
    codes = inference.prior_codes(model, 3, seed=5, temperature=1.0)
    want = model.module.sample_codes(3, torch.Generator().manual_seed(5))
    assert torch.equal(codes, want)


def test_a_plain_autoencoder_without_a_fitted_distribution_is_refused_with_the_reason():
    with pytest.raises(UnsupportedOperation, match="no fitted latent distribution"):
        inference.require_prior(loaded(AE))


def _calibrated(method: str, ref_size: int, mixture: bool = True):
    model = loaded(VAE)
    codes = torch.randn(100, 4, generator=torch.Generator().manual_seed(0))
    weights, means, trils = fit_gaussian_mixture(codes, components=2, iterations=3)
    latents = {"calibration_scores": torch.linspace(0, 5, 99),
               "score_reference": torch.tensor([0.0, 1.0] * (ref_size // 2))}  # fmt: skip
    if mixture:
        latents.update(mixture_weights=weights, mixture_means=means, mixture_scale_trils=trils)
    record = Calibration(method=method, reference="r", split="s", size=99, default_fpr=0.01,
                         threshold=5.0, check_size=0)  # fmt: skip
    manifest = model.manifest.model_copy(update={"calibration": record})
    return replace(model, manifest=manifest, latents=latents)


def test_a_version_is_scored_by_the_method_it_was_calibrated_with():
    """A version calibrated with the two-term score keeps it (no code term, though it has a
    mixture); one calibrated with three terms gets the code's density."""
    x = torch.rand(3, 1, 28, 28)
    old = _calibrated(scoring.TWO_TERMS.name, 4)
    assert inference.score_method(old) is scoring.TWO_TERMS and inference.score_mixture(old) is None
    inference.calibration(old)
    assert torch.isnan(inference.score(old, x, None)[4]).all()
    new = _calibrated(scoring.THREE_TERMS.name, 6)
    assert inference.score_method(new) is scoring.THREE_TERMS
    inference.calibration(new)
    assert torch.isfinite(inference.score(new, x, None)[4]).all()


def test_an_unknown_method_or_a_reference_that_does_not_fit_it_is_refused():
    with pytest.raises(UnsupportedOperation, match="score method this service does not know"):
        inference.calibration(_calibrated("a method from the future", 6))
    with pytest.raises(CorruptArtifact, match="score_reference has 4 numbers; its method takes 6"):
        inference.calibration(_calibrated(scoring.THREE_TERMS.name, 4))
