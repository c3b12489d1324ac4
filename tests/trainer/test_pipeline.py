from __future__ import annotations

import pytest
import torch

from autoencoders import ModelConfig
from model_store import LocalStore, TrainingSettings, load_model
from trainer.datasets.mnist import load_embedded_sample
from trainer.pipeline import TrainSpec, run
from trainer.training import batch_loss

CVAE = ModelConfig(family="cvae", backbone="linear", hidden=(32,), latent_dim=4, num_classes=10)


def test_kl_weight_trains_a_beta_vae_and_is_recorded(tmp_path):
    data = load_embedded_sample().limited(300, 100)
    store = LocalStore(tmp_path)
    for name, weight in (("elbo", 1.0), ("beta", 4.0)):
        run(
            TrainSpec(name=name, config=CVAE, training=TrainingSettings(epochs=1, kl_weight=weight)),
            data,
            store,
            progress=False,
        )
    elbo, beta = load_model(store, "elbo"), load_model(store, "beta")
    assert beta.manifest.training.kl_weight == 4.0
    assert any(
        not torch.equal(a, b)
        for a, b in zip(
            elbo.module.state_dict().values(), beta.module.state_dict().values(), strict=True
        )
    )


def test_cosine_schedule_anneals_the_learning_rate_and_is_recorded(tmp_path):
    data = load_embedded_sample().limited(300, 100)
    store = LocalStore(tmp_path)
    config = ModelConfig(family="linear-ae", hidden=(32,), latent_dim=4)
    for schedule in ("constant", "cosine"):
        spec = TrainSpec(name=schedule, config=config,
                         training=TrainingSettings(epochs=2, lr_schedule=schedule))  # fmt: skip
        run(spec, data, store, progress=False)
    constant, cosine = (load_model(store, n).manifest.training for n in ("constant", "cosine"))
    assert cosine.lr_schedule == "cosine"
    assert [h["learning_rate"] for h in constant.history] == [1e-3, 1e-3]
    first, last = (h["learning_rate"] for h in cosine.history)
    assert 0 < first < 1e-3 and last < 1e-9  # down to 0 by the last step
    with pytest.raises(ValueError, match="lr_schedule"):
        TrainingSettings(lr_schedule="step")


def test_beta_objective_weighs_only_the_kl_term():
    torch.manual_seed(0)
    from autoencoders import build_model

    model = build_model(CVAE).train()
    x, y = torch.rand(8, 1, 28, 28), torch.arange(8)
    torch.manual_seed(1)
    one = batch_loss(model, CVAE, x, y, 1.0)
    torch.manual_seed(1)
    four = batch_loss(model, CVAE, x, y, 4.0)
    torch.manual_seed(1)
    two = batch_loss(model, CVAE, x, y, 2.0)
    # loss(w) = rec + w * kl is linear in w: the steps between weights agree.
    assert torch.allclose(four - two, 2 * (two - one), rtol=1e-4)
    assert four > one


def test_attribute_classifier_augmentation_softens_about_half_the_batch():
    from trainer.training import _blur

    x = torch.rand(200, 3, 45, 45)
    out = _blur(x, torch.Generator().manual_seed(0), 1.5)
    changed = (out - x).abs().flatten(1).amax(1) > 1e-6
    assert out.shape == x.shape and 60 < int(changed.sum()) < 140

    def roughness(t):
        return (t[..., 1:] - t[..., :-1]).abs().mean()

    assert roughness(out[changed]) < 0.7 * roughness(x[changed])
