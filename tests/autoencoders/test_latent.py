from __future__ import annotations

import torch

from autoencoders import ModelConfig, build_model
from autoencoders.latent import (
    attribute_directions,
    corrected_attribute_directions,
    edit_codes,
    sample_prior,
)


def _confounded(n: int = 20000):
    """Codes where attribute 0 moves axis 0, attribute 1 moves axis 1, and attribute 1 is
    present far more often with attribute 0 (like an open mouth with a smile)."""
    gen = torch.Generator().manual_seed(0)
    a0 = (torch.rand(n, generator=gen) < 0.5).float()
    a1 = (torch.rand(n, generator=gen) < torch.where(a0 == 1, 0.8, 0.1)).float()
    codes = torch.randn(n, 3, generator=gen) * 0.1
    codes[:, 0] += 2 * a0
    codes[:, 1] += 3 * a1
    return codes, torch.stack([a0, a1], 1)


def test_plain_direction_is_the_difference_of_means_and_carries_the_confounder():
    codes, attrs = _confounded()
    plain, counts = attribute_directions(codes, attrs, 0.5, 0.5)
    want = codes[attrs[:, 0] == 1].mean(0) - codes[attrs[:, 0] == 0].mean(0)
    assert torch.allclose(plain[0], want)
    assert plain[0, 1] > 1.5  # 3 * (0.8 - 0.1): smiling "also opens the mouth"
    assert counts[0].sum() == len(codes)


def test_corrected_direction_holds_the_other_attributes_fixed():
    codes, attrs = _confounded()
    corrected = corrected_attribute_directions(codes, attrs)
    assert torch.allclose(corrected[0], torch.tensor([2.0, 0.0, 0.0]), atol=0.02)
    assert torch.allclose(corrected[1], torch.tensor([0.0, 3.0, 0.0]), atol=0.02)


def test_scores_between_the_thresholds_take_no_part():
    codes = torch.tensor([[1.0], [0.0], [5.0]])
    scores = torch.tensor([[1.0], [-1.0], [0.0]])  # the third is neither
    plain, counts = attribute_directions(codes, scores, 0.5, -0.5)
    assert plain.item() == 1.0 and counts.tolist() == [[1, 1]]


def test_edits_add_up():
    z = torch.zeros(2, 3)
    dirs = torch.eye(3)[:2]
    assert torch.equal(
        edit_codes(z, dirs, torch.tensor([1.0, -2.0])), torch.tensor([[1.0, -2.0, 0.0]] * 2)
    )


def test_mixture_finds_separated_clusters_and_samples_them_in_proportion():
    from autoencoders.latent import (
        fit_gaussian,
        fit_gaussian_mixture,
        gaussian_log_prob,
        mixture_log_prob,
        sample_mixture,
    )

    gen = torch.Generator().manual_seed(0)
    a = torch.randn(3000, 2, generator=gen) * 0.3 + torch.tensor([4.0, 0.0])
    b = torch.randn(1000, 2, generator=gen) * 0.3 + torch.tensor([-4.0, 2.0])
    codes = torch.cat([a, b])
    weights, means, trils = fit_gaussian_mixture(codes, components=2, seed=1)
    order = means[:, 0].argsort(descending=True)
    assert torch.allclose(means[order], torch.tensor([[4.0, 0.0], [-4.0, 2.0]]), atol=0.1)
    assert torch.allclose(weights[order], torch.tensor([0.75, 0.25]), atol=0.02)
    draws = sample_mixture(weights, means, trils, 8000, torch.Generator().manual_seed(2))
    assert abs(float((draws[:, 0] > 0).float().mean()) - 0.75) < 0.02
    # The mixture explains such codes far better than one Gaussian.
    mean, tril = fit_gaussian(codes)
    assert (
        mixture_log_prob(codes, weights, means, trils).mean()
        > gaussian_log_prob(codes, mean, tril).mean() + 1
    )
    # All components in one batched solve: the log of the weighted sum of each density.
    each = torch.stack([gaussian_log_prob(codes, means[k], trils[k]) for k in range(2)], 1)
    by_hand = torch.logsumexp(each + weights.double().log(), dim=1)
    assert torch.allclose(mixture_log_prob(codes, weights, means, trils), by_hand, atol=1e-5)


def test_a_vae_published_without_a_fitted_mixture_samples_from_its_own_prior():
    """Versions from before VAEs had a fitted mixture keep drawing what they drew."""
    for components in (0, 4):  # N(0, I), and a learned mixture prior
        vae = build_model(ModelConfig(family="vae", latent_dim=3, hidden=(8,),
                                      prior_components=components))  # fmt: skip
        got = sample_prior(vae, {}, 6, torch.Generator().manual_seed(2), 0.7)
        want = vae.sample_codes(6, torch.Generator().manual_seed(2), 0.7)
        assert torch.equal(got, want)
