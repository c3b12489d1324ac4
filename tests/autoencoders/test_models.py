from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from autoencoders import CVAE, VAE, Autoencoder, Classifier, ModelConfig, build_model
from autoencoders.latent import fit_gaussian, interpolate, sample_gaussian
from autoencoders.losses import kl_to_standard_normal, negative_elbo

SHAPES = [
    pytest.param((1, 28, 28), id="digits-1x28x28"),
    pytest.param((3, 45, 45), id="faces-3x45x45"),
]
FAMILIES = [
    pytest.param("linear-ae", "linear", Autoencoder, id="linear-ae"),
    pytest.param("conv-ae", "conv", Autoencoder, id="conv-ae"),
    pytest.param("vae", "linear", VAE, id="vae-linear"),
    pytest.param("vae", "conv", VAE, id="vae-conv"),
    pytest.param("cvae", "conv", CVAE, id="cvae-conv"),
    pytest.param("cvae", "linear", CVAE, id="cvae-linear"),
    pytest.param("cvae", "linear-all-layers", CVAE, id="cvae-linear-all-layers"),
    pytest.param("cvae", "conv-all-layers", CVAE, id="cvae-conv-all-layers"),
]


def _config(family: str, backbone: str, **kwargs) -> ModelConfig:
    """FAMILIES' rows as configs: "-all-layers" conditions every decoder layer (with SiLU)."""
    all_layers = backbone.endswith("-all-layers")
    return ModelConfig(family=family, backbone=backbone.removesuffix("-all-layers"),
                       condition_all_layers=all_layers,
                       activation="silu" if all_layers else "relu",
                       num_classes=10 if family == "cvae" else 0, **kwargs)  # fmt: skip


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize(("family", "backbone", "cls"), FAMILIES)
def test_autoencoder_round_trips_the_configured_shape(shape, family, backbone, cls):
    c, h, w = shape
    config = _config(family, backbone, channels=c, height=h, width=w, latent_dim=7,
                     hidden=(32,), conv_channels=(8, 16))  # fmt: skip
    model = build_model(config).eval()
    assert isinstance(model, cls)
    x = torch.rand(5, c, h, w)
    labels = torch.arange(5) if family == "cvae" else None
    enc = model.encode(x, labels)
    assert enc.z.shape == (5, 7)
    assert (enc.logvar is not None) == (family in ("vae", "cvae"))
    out = model.decode(enc.z, labels)
    assert out.shape == (5, c, h, w)
    assert 0 <= float(out.detach().min()) and float(out.detach().max()) <= 1


@pytest.mark.parametrize(("family", "backbone", "cls"), FAMILIES)
def test_model_is_rebuilt_from_its_config_alone(family, backbone, cls):
    config = _config(family, backbone, latent_dim=5, hidden=(16,))
    original = build_model(config).eval()
    rebuilt = build_model(ModelConfig.from_dict(config.to_dict())).eval()
    rebuilt.load_state_dict(original.state_dict())
    z = torch.randn(3, 5)
    labels = torch.tensor([1, 2, 3]) if family == "cvae" else None
    assert torch.equal(original.decode(z, labels), rebuilt.decode(z, labels))


def test_cvae_decoder_uses_the_class():
    config = ModelConfig(family="cvae", latent_dim=4, hidden=(16,), num_classes=10)
    torch.manual_seed(0)
    model = build_model(config).eval()
    z = torch.zeros(2, 4)
    a, b = model.decode(z, torch.tensor([0, 9]))
    assert not torch.allclose(a, b)
    with pytest.raises(ValueError, match="needs labels"):
        model.decode(z)


def test_a_decoder_conditioned_in_every_layer_reads_the_class_in_every_layer():
    config = ModelConfig(family="cvae", backbone="linear", latent_dim=4, hidden=(16, 8),
                         num_classes=10, condition_all_layers=True)  # fmt: skip
    layers = build_model(config).decoder.mlp.layers
    assert [layer.in_features for layer in layers] == [4 + 10, 8 + 10, 16 + 10]
    with pytest.raises(ValueError, match="needs"):
        build_model(config).decode(torch.zeros(1, 4))


def test_new_options_leave_published_models_weights_as_they_were():
    """A model published before `activation` and `condition_all_layers` existed has a
    config without them: it must rebuild with the same parameter names and shapes."""
    for backbone in ("linear", "conv"):
        old = ModelConfig.from_dict({"family": "cvae", "backbone": backbone, "latent_dim": 4,
                                     "hidden": [16], "num_classes": 10})  # fmt: skip
        shapes = {k: tuple(v.shape) for k, v in build_model(old).state_dict().items()}
        assert "decoder.mlp.0.weight" in shapes
        assert shapes["decoder.mlp.0.weight"] == (16, 4 + 10)
        silu = build_model(ModelConfig(**{**old.to_dict(), "activation": "silu"}))
        assert {k: tuple(v.shape) for k, v in silu.state_dict().items()} == shapes


CONV_BODIES = [
    pytest.param({"norm": "batch"}, id="transposed-batchnorm"),
    pytest.param({"upsample": "nearest"}, id="nearest"),
    pytest.param({"norm": "batch", "decoder_channels": (24, 8, 4)}, id="transposed-own-widths"),
    pytest.param(
        {"upsample": "nearest", "norm": "batch", "decoder_channels": (24, 8, 8)},
        id="nearest-batchnorm-own-widths",
    ),
]


@pytest.mark.parametrize("body", CONV_BODIES)
@pytest.mark.parametrize("family", ["conv-ae", "cvae"])
def test_conv_body_options_round_trip_faces_and_serve_one_image_as_in_a_batch(family, body):
    """Each option builds a decoder that lands exactly on 3x45x45; in eval mode a batch-
    normalised model gives an image the same code alone as among others (serving batches
    requests together)."""
    config = ModelConfig(family=family, channels=3, height=45, width=45, latent_dim=6,
                         hidden=(), conv_channels=(8, 16),
                         num_classes=4 if family == "cvae" else 0, **body)  # fmt: skip
    torch.manual_seed(0)
    model = build_model(config)
    x, labels = torch.rand(5, 3, 45, 45), (torch.arange(5) % 4 if family == "cvae" else None)
    model.train()(x, labels).logits.sum().backward()  # one training pass moves BN's statistics
    model.eval()
    with torch.no_grad():
        z = model.encode(x, labels).z
        alone = model.encode(x[:1], None if labels is None else labels[:1]).z
        out = model.decode(z, labels)
    assert out.shape == (5, 3, 45, 45)
    assert torch.allclose(alone, z[:1], atol=1e-5)
    rebuilt = build_model(ModelConfig.from_dict(config.to_dict())).eval()
    rebuilt.load_state_dict(model.state_dict())
    assert torch.equal(rebuilt.decode(z, labels), out)


def test_published_conv_models_keep_their_weight_names():
    """A conv model published before `norm`, `upsample` and `decoder_channels` existed
    rebuilds from its stored config with exactly the parameter names and shapes it has."""
    old = ModelConfig.from_dict({"family": "conv-ae", "latent_dim": 4, "hidden": [16],
                                 "conv_channels": [8, 16]})  # fmt: skip
    shapes = {k: tuple(v.shape) for k, v in build_model(old).state_dict().items()}
    assert shapes == {
        "encoder.conv.0.weight": (8, 1, 3, 3), "encoder.conv.0.bias": (8,),
        "encoder.conv.2.weight": (16, 8, 3, 3), "encoder.conv.2.bias": (16,),
        "encoder.mlp.0.weight": (16, 16 * 7 * 7), "encoder.mlp.0.bias": (16,),
        "to_code.weight": (4, 16), "to_code.bias": (4,),
        "decoder.mlp.0.weight": (16, 4), "decoder.mlp.0.bias": (16,),
        "decoder.mlp.2.weight": (16 * 7 * 7, 16), "decoder.mlp.2.bias": (16 * 7 * 7,),
        "decoder.stages.0.weight": (16, 8, 3, 3), "decoder.stages.0.bias": (8,),
        "decoder.stages.1.weight": (8, 1, 3, 3), "decoder.stages.1.bias": (1,),
    }  # fmt: skip


def test_a_decoder_can_have_its_own_widths_and_an_empty_one_mirrors_the_encoder():
    own = ModelConfig(family="vae", backbone="linear", hidden=(64,), decoder_hidden=(16, 32),
                      latent_dim=4)  # fmt: skip
    shapes = {k: tuple(v.shape) for k, v in build_model(own).state_dict().items()}
    assert shapes["encoder.mlp.0.weight"] == (64, 784)
    assert [shapes[f"decoder.mlp.{i}.weight"] for i in (0, 2, 4)] == [(16, 4), (32, 16), (784, 32)]
    mirrored = ModelConfig.from_dict({"family": "vae", "backbone": "linear", "hidden": [64, 16],
                                      "latent_dim": 4})  # fmt: skip
    shapes = {k: tuple(v.shape) for k, v in build_model(mirrored).state_dict().items()}
    assert [shapes[f"decoder.mlp.{i}.weight"] for i in (0, 2, 4)] == [(16, 4), (64, 16), (784, 64)]
    with pytest.raises(ValueError, match="must be positive"):
        ModelConfig(family="vae", decoder_hidden=(0,))


def test_config_refuses_decoder_widths_that_do_not_fit_the_stages():
    with pytest.raises(ValueError, match="one per conv stage"):
        ModelConfig(family="conv-ae", conv_channels=(8, 16), decoder_channels=(32, 16))
    with pytest.raises(ValueError, match="unknown norm"):
        ModelConfig(family="conv-ae", norm="layer")
    with pytest.raises(ValueError, match="unknown upsample"):
        ModelConfig(family="conv-ae", upsample="bilinear")


NEAREST_WITH_HEAD = {"upsample": "nearest", "decoder_channels": (16, 8, 8)}


@pytest.mark.parametrize("backbone", ["linear", "conv", "conv-nearest"])
def test_the_decoder_starts_at_the_mean_image(backbone):
    config = ModelConfig(family="vae", backbone=backbone.removesuffix("-nearest"),
                         latent_dim=4, hidden=(16,), conv_channels=(8, 16),
                         **NEAREST_WITH_HEAD if backbone.endswith("-nearest") else {})  # fmt: skip
    model = build_model(config).eval()
    mean = torch.rand(1, 28, 28) * 0.8 + 0.1
    model.decoder.init_output_bias(mean)
    with torch.no_grad():
        model.decoder.output_layer().weight.zero_()
        out = model.decode(torch.randn(3, 4))
    expected = mean if backbone == "linear" else mean.mean().expand_as(mean)
    assert torch.allclose(out, expected.expand_as(out), atol=1e-5)


def test_config_refuses_an_unknown_activation():
    with pytest.raises(ValueError, match="unknown activation"):
        ModelConfig(family="vae", activation="tanh")


def test_classifier_gives_one_logit_per_class():
    model = Classifier(ModelConfig(family="classifier", num_classes=10))
    assert model(torch.rand(3, 1, 28, 28)).shape == (3, 10)


def test_config_refuses_unknown_family_and_keys():
    with pytest.raises(ValueError, match="unknown family"):
        ModelConfig(family="gan")
    with pytest.raises(ValueError, match="unknown config keys"):
        ModelConfig.from_dict({"family": "vae", "depth": 3})


def test_negative_elbo_is_bce_summed_over_pixels_plus_kl_averaged_over_images():
    torch.manual_seed(0)
    logits = torch.randn(4, 1, 28, 28)
    x = torch.rand(4, 1, 28, 28)
    mu, logvar = torch.randn(4, 3), torch.randn(4, 3)
    p = torch.sigmoid(logits)
    bce = -(x * p.log() + (1 - x) * (1 - p).log()).sum() / 4
    kl = (0.5 * (mu**2 + logvar.exp() - 1 - logvar)).sum() / 4
    terms = negative_elbo(logits, x, mu, logvar)
    assert terms.loss.item() == pytest.approx((bce + kl).item(), rel=1e-5)
    assert terms.kl.item() == pytest.approx(kl.item(), rel=1e-5)


def test_kl_is_zero_at_the_prior():
    assert kl_to_standard_normal(torch.zeros(2, 5), torch.zeros(2, 5)).abs().max() == 0


def test_fitted_gaussian_reproduces_the_codes_covariance():
    gen = torch.Generator().manual_seed(0)
    mixing = torch.tensor([[2.0, 0.0], [1.5, 0.5]])
    codes = torch.randn(20000, 2, generator=gen) @ mixing.T + torch.tensor([3.0, -1.0])
    mean, tril = fit_gaussian(codes)
    draws = sample_gaussian(mean, tril, 20000, torch.Generator().manual_seed(1))
    assert torch.allclose(draws.mean(0), torch.tensor([3.0, -1.0]), atol=0.1)
    assert torch.allclose(torch.cov(draws.T), mixing @ mixing.T, atol=0.15)


def test_interpolation_starts_and_ends_at_the_codes():
    a, b = torch.zeros(3), torch.ones(3)
    path = interpolate(a, b, 5)
    assert path.shape == (5, 3)
    assert torch.equal(path[0], a) and torch.equal(path[-1], b)
    assert torch.allclose(path[2], torch.full((3,), 0.5))


def test_a_learned_prior_is_the_mixture_of_its_diagonal_gaussians():
    """MixturePrior.log_prob (matrix products, no (N, K, D) tensor) against torch's own
    mixture distribution, at codes near and far from the components."""
    from torch.distributions import Categorical, Independent, MixtureSameFamily, Normal

    model = build_model(ModelConfig(family="vae", backbone="linear", latent_dim=6,
                                    hidden=(16,), prior_components=5))  # fmt: skip
    prior = model.prior
    with torch.no_grad():
        prior.logits.copy_(torch.randn(5))
        prior.logvars.copy_(torch.randn(5, 6) * 0.5)
    want = MixtureSameFamily(
        Categorical(logits=prior.logits),
        Independent(Normal(prior.means, (0.5 * prior.logvars).exp()), 1),
    )
    z = torch.cat([torch.randn(50, 6), 10 * torch.randn(5, 6)])
    torch.testing.assert_close(prior.log_prob(z), want.log_prob(z), rtol=1e-4, atol=1e-3)


def test_with_a_learned_prior_the_kl_term_estimates_the_true_kl():
    """The one-sample estimate log q(z|x) - log p(z) averages to the closed-form KL when the
    prior is N(0, I) (one component at 0 with unit variance)."""
    mu, logvar = torch.randn(1, 4).expand(200_000, 4), torch.randn(1, 4).expand(200_000, 4)
    model = build_model(ModelConfig(family="vae", backbone="linear", latent_dim=4,
                                    hidden=(8,), prior_components=1))  # fmt: skip
    with torch.no_grad():
        model.prior.means.zero_()
    z = model.reparameterize(mu, logvar)
    logits, x = torch.zeros(200_000, 1, 1, 1), torch.full((200_000, 1, 1, 1), 0.5)
    estimated = negative_elbo(logits, x, mu, logvar, z, model.prior.log_prob(z)).kl
    exact = kl_to_standard_normal(mu[:1], logvar[:1])
    assert float(estimated.detach()) == pytest.approx(float(exact), abs=0.02)


def test_a_vae_draws_from_its_learned_prior_reproducibly():
    config = ModelConfig(family="vae", backbone="linear", latent_dim=2, hidden=(8,),
                         prior_components=2)  # fmt: skip
    model = build_model(config)
    with torch.no_grad():
        model.prior.means.copy_(torch.tensor([[-20.0, 0.0], [20.0, 0.0]]))
        model.prior.logits.copy_(torch.tensor([0.0, 3.0]))  # weights 0.047 and 0.953
        model.prior.logvars.fill_(-4.0)  # std 0.135
    draws = model.sample_codes(4000, torch.Generator().manual_seed(0))
    right = draws[:, 0] > 0
    assert 0.93 < float(right.float().mean()) < 0.97
    assert float((draws[right] - torch.tensor([20.0, 0.0])).abs().max()) < 1.0
    cooler = model.sample_codes(4000, torch.Generator().manual_seed(0), temperature=0.5)
    assert float(cooler[right][:, 1].std()) == pytest.approx(
        0.5 * float(draws[right][:, 1].std()), rel=0.01
    )
    assert torch.equal(draws, model.sample_codes(4000, torch.Generator().manual_seed(0)))
    plain = build_model(replace(config, prior_components=0))
    assert plain.prior is None and plain.sample_codes(3).shape == (3, 2)


def test_config_refuses_a_prior_for_a_family_without_one():
    with pytest.raises(ValueError, match="prior_components"):
        ModelConfig(family="conv-ae", prior_components=4)
    with pytest.raises(ValueError, match="prior_components"):
        ModelConfig(family="vae", prior_components=-1)


def test_a_vae_draws_its_images_at_its_sharpness_and_at_1_the_bernoulli_means_bit_for_bit():
    torch.manual_seed(0)
    vae = VAE(ModelConfig(family="vae", backbone="linear")).eval()
    z = torch.randn(5, 20)
    logits = vae.decode_logits(z)
    assert torch.equal(vae.decode(z), torch.sigmoid(logits))  # versions published before
    vae.config = replace(vae.config, sharpness=2.5)
    assert torch.equal(vae.decode(z), torch.sigmoid(2.5 * logits))
    with pytest.raises(ValueError, match="variational"):
        ModelConfig(family="conv-ae", sharpness=2.0)
    with pytest.raises(ValueError, match="sharpness must be"):
        ModelConfig(family="vae", sharpness=0.5)


def test_the_matching_sharpness_makes_the_means_as_grey_as_the_images():
    """Blurred means of sharp images are drawn sharper until they hold the images' grey;
    means no greyer than the images stay as they are."""
    from autoencoders.vae import matching_sharpness

    gen = torch.Generator().manual_seed(0)
    images = (torch.rand(64, 1, 28, 28, generator=gen) > 0.8).float() * 0.95 + 0.02
    logits = torch.logit(images.clamp(0.05, 0.95)) * 0.4  # greyer: blurred towards 0.5
    s = matching_sharpness(logits, images)
    grey = torch.sigmoid(s * logits)
    assert 1 < s < 8
    assert float(torch.minimum(grey, 1 - grey).mean()) == pytest.approx(
        float(torch.minimum(images, 1 - images).mean()), rel=1e-3
    )
    assert matching_sharpness(logits * 20, images) == 1.0
