"""The IWAE estimate of the test log-likelihood: its terms, and that it bounds as it should."""

from __future__ import annotations

import pytest
import torch
from torch.distributions import Bernoulli, Normal

from autoencoders import ModelConfig, build_model
from autoencoders.losses import log_importance_weights
from trainer.datasets.mnist import load_embedded_sample
from trainer.evaluation import importance_weighted_nll
from trainer.training import evaluate_loss


def test_log_importance_weights_are_log_p_x_given_z_plus_log_p_z_minus_log_q():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(5, 1, 4, 4, generator=gen)
    x = (torch.rand(5, 1, 4, 4, generator=gen) > 0.5).float()
    mu, logvar = torch.randn(5, 3, generator=gen), torch.randn(5, 3, generator=gen)
    z = torch.randn(5, 3, generator=gen)
    want = (Bernoulli(logits=logits).log_prob(x).flatten(1).sum(1)
            + Normal(0.0, 1.0).log_prob(z).sum(1)
            - Normal(mu, (0.5 * logvar).exp()).log_prob(z).sum(1))  # fmt: skip
    torch.testing.assert_close(log_importance_weights(logits, x, z, mu, logvar), want)
    # A learned prior's log p(z) takes N(0, I)'s place.
    log_prior = torch.randn(5, generator=gen)
    moved = want - Normal(0.0, 1.0).log_prob(z).sum(1) + log_prior
    torch.testing.assert_close(log_importance_weights(logits, x, z, mu, logvar, log_prior), moved)


@pytest.mark.parametrize("components", [0, 16], ids=["normal-prior", "learned-prior"])
def test_more_importance_samples_give_a_tighter_bound_below_the_elbo(components):
    """-log p(x) <= IWAE_k <= IWAE_1 = -ELBO in expectation; on 50 digits of a barely
    trained VAE the gaps are far larger than the estimates' noise."""
    config = ModelConfig(family="vae", backbone="linear", latent_dim=8, hidden=(64,),
                         prior_components=components)  # fmt: skip
    torch.manual_seed(0)
    model = build_model(config).eval()
    data = load_embedded_sample()
    x, y = data.test_x[:50], data.test_y[:50]
    elbo = evaluate_loss(model, config, x, y)
    k1, k10, k200 = (importance_weighted_nll(model, x, y, k) for k in (1, 10, 200))
    assert abs(k1 - elbo) < 0.02 * elbo  # k=1 is the single-sample ELBO
    assert k200 < k10 < k1
    assert importance_weighted_nll(model, x, y, 200) == k200  # seeded


def test_measures_on_part_of_a_class_ordered_set_see_every_class(monkeypatch):
    """The embedded sample (like a folder of class folders) comes in class order: its first
    100 test digits are all zeros, its first 2,000 training digits 0 to 4. The IWAE figure
    and the sharpness fit take their part across the set, the same part every run."""
    from trainer import evaluation, pipeline

    data = load_embedded_sample()
    assert set(data.test_y[:100].tolist()) == {0}  # what a first-n slice would measure
    config = ModelConfig(family="vae", backbone="linear", latent_dim=4, hidden=(16,))
    torch.manual_seed(0)
    model = build_model(config).eval()
    seen: dict[str, list[torch.Tensor]] = {"iwae": [], "sharpness": []}

    def iwae(model, x, y, k):
        seen["iwae"].append(y)
        return 0.0

    def sharpness(logits, images):
        seen["sharpness"].append(images)
        return 1.0

    monkeypatch.setattr(evaluation, "importance_weighted_nll", iwae)
    monkeypatch.setattr(pipeline, "matching_sharpness", sharpness)
    for _ in range(2):
        evaluation.evaluate(model, config, data, iwae_k=2, iwae_images=100)
        pipeline.sharpened(model, config, data)
    first, again = seen["iwae"]
    assert len(first) == 100 and set(first.tolist()) == set(range(10))
    assert torch.equal(first, again)  # seeded: versions are compared on the same digits
    labels_by_image = {img.numpy().tobytes(): int(lab)
                       for img, lab in zip(data.train_x, data.train_y, strict=True)}  # fmt: skip
    drawn, drawn_again = seen["sharpness"]
    assert len(drawn) == pipeline.SHARPNESS_IMAGES and torch.equal(drawn, drawn_again)
    classes = {labels_by_image[img.numpy().tobytes()] for img in drawn}
    assert classes == set(range(10))
