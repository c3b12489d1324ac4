"""What /sample lets through before a request waits for the batcher (service.inference)."""

from __future__ import annotations

import pytest
import torch

from autoencoders import ModelConfig
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
