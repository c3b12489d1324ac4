"""The training recipe's pieces: KL annealing, per-image shifts, the code critic, the sample
guide, and the check that a CVAE's codes carry no class."""

from __future__ import annotations

import pytest
import torch
import torch.distributed as dist
from torch import nn

from autoencoders import ModelConfig, build_model
from autoencoders.encoding import Encoding
from model_store import LocalStore, TrainingSettings, load_model
from trainer.conditioning import CodeCritic, SampleGuide
from trainer.datasets.mnist import load_embedded_sample
from trainer.distributed import Group
from trainer.evaluation import code_class_accuracy
from trainer.pipeline import TrainSpec, run
from trainer.training import TrainingDiverged, _clip_grad_norm, _shift_each, kl_weight_at, train


def test_kl_weight_falls_linearly_to_one_and_stays_there():
    assert [kl_weight_at(s, 100, 8.0, 0.5) for s in (0, 25, 50, 99)] == [8.0, 4.5, 1.0, 1.0]
    assert kl_weight_at(99, 100, 4.0, 0.0) == 4.0  # no annealing: a beta-VAE throughout


@pytest.mark.parametrize("max_norm", [0.5, 1e6], ids=["clipped", "under-the-limit"])
def test_gradient_clipping_gives_torchs_numbers_exactly(max_norm):
    """Scaling only above the limit changes nothing: torch's clip_grad_norm_ scales by
    exactly 1 below it."""
    torch.manual_seed(0)
    a, b = nn.Linear(30, 20), nn.Linear(30, 20)
    b.load_state_dict(a.state_dict())
    x = torch.randn(8, 30)
    for net in (a, b):
        net(x).pow(2).sum().backward()
    torch.nn.utils.clip_grad_norm_(a.parameters(), max_norm)
    _clip_grad_norm(b, max_norm)
    pairs = zip(a.parameters(), b.parameters(), strict=True)
    assert all(torch.equal(p.grad, q.grad) for p, q in pairs)
    norm = torch.nn.utils.get_total_norm([p.grad for p in b.parameters()])
    assert float(norm) <= max_norm * 1.0001


def test_each_image_is_shifted_by_its_own_offset_within_bounds():
    x = torch.zeros(200, 2, 9, 9)
    x[:, :, 4, 4] = 1.0  # one dot in the middle of every image, in both channels
    out = _shift_each(x, torch.Generator().manual_seed(0), 2)
    assert out.shape == x.shape
    assert torch.equal(out.sum((1, 2, 3)), x.sum((1, 2, 3)))  # nothing lost at the border
    assert torch.equal(out[:, 0], out[:, 1])  # channels move together
    where = out[:, 0].flatten(1).argmax(1)
    rows, cols = where // 9, where % 9
    assert int((rows - 4).abs().max()) <= 2 and int((cols - 4).abs().max()) <= 2
    assert len(set(zip(rows.tolist(), cols.tolist(), strict=True))) == 25  # every offset drawn


def test_shifting_a_whole_epoch_at_once_draws_what_shifting_batch_by_batch_draws():
    x = torch.rand(130, 1, 9, 9)
    whole = _shift_each(x, torch.Generator().manual_seed(3), 1, batch_size=64)
    gen = torch.Generator().manual_seed(3)
    batches = torch.cat([_shift_each(b, gen, 1) for b in x.split(64)])  # 64, 64, then 2
    assert torch.equal(whole, batches)
    assert not torch.equal(whole, x)


def test_the_critic_learns_the_class_while_the_encoder_is_pushed_the_other_way():
    torch.manual_seed(0)
    critic = CodeCritic(latent_dim=3, num_classes=4, weight=5.0)
    mu = torch.randn(16, 3, requires_grad=True)
    labels = torch.randint(0, 4, (16,))
    loss = critic(mu, labels)
    loss.backward()
    reversed_grad = mu.grad.clone()
    mu.grad = None
    nn.functional.cross_entropy(critic.net(mu), labels).backward()
    torch.testing.assert_close(reversed_grad, -5.0 * mu.grad)
    assert all(p.grad is not None for p in critic.net.parameters())


def test_the_guide_teaches_the_decoder_from_drawn_digits_and_its_reader_from_real_ones():
    torch.manual_seed(0)
    config = ModelConfig(family="cvae", backbone="linear", hidden=(8,), latent_dim=3,
                         num_classes=4, height=6, width=6)  # fmt: skip
    model, guide = build_model(config), SampleGuide(config, weight=30.0)
    x, labels = torch.rand(16, 1, 6, 6), torch.randint(0, 4, (16,))
    guide(model, x, labels).backward()
    reader_grads = [p.grad.clone() for p in guide.reader.parameters()]
    guide.reader.zero_grad()
    guide.reader_loss(x, labels).backward()
    for drawn_and_real, real_alone in zip(reader_grads, guide.reader.parameters(), strict=True):
        torch.testing.assert_close(drawn_and_real, real_alone.grad)  # drawn digits teach it nothing
    assert guide.reader_loss(x, labels) > nn.functional.cross_entropy(guide.reader(x), labels)
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.decoder.parameters())
    assert all(p.grad is None for p in model.encoder.parameters())  # codes come from the prior


class _Codes(nn.Module):
    """A stand-in CVAE whose code is a fixed function of the label (or of nothing)."""

    def __init__(self, leak: bool) -> None:
        super().__init__()
        self.leak = leak
        self.config = ModelConfig(family="cvae", latent_dim=10, num_classes=10)

    def encode(self, x: torch.Tensor, y: torch.Tensor) -> Encoding:
        gen = torch.Generator().manual_seed(len(x))
        noise = torch.randn(len(x), 10, generator=gen)
        mu = nn.functional.one_hot(y, 10).float() * 5 + noise if self.leak else noise
        return Encoding(z=mu, mu=mu, logvar=torch.zeros_like(mu))


def test_the_code_probe_reads_a_leaked_class_and_not_a_clean_one():
    data = load_embedded_sample().limited(1000, 500)
    assert code_class_accuracy(_Codes(leak=True), data) > 0.9
    assert code_class_accuracy(_Codes(leak=False), data) < 0.2


@pytest.mark.slow
def test_the_cvae_recipe_trains_publishes_and_reports_its_checks(tmp_path):
    """Every option of the default CVAE recipe at once, recorded in the manifest."""
    data = load_embedded_sample().limited(600, 200)
    store = LocalStore(tmp_path)
    judge = ModelConfig(family="classifier", hidden=(16,), num_classes=10)
    run(TrainSpec(name="judge", config=judge, training=TrainingSettings(epochs=1)), data, store,
        progress=False)  # fmt: skip
    config = ModelConfig(family="cvae", backbone="linear", hidden=(32, 32), latent_dim=4,
                         num_classes=10, activation="silu", condition_all_layers=True)  # fmt: skip
    training = TrainingSettings(epochs=2, batch_size=64, learning_rate=3e-3,
                                lr_schedule="cosine", shift_pixels=1, kl_weight=8.0,
                                kl_anneal=0.7, code_critic=5.0, sample_guide=30.0,
                                iwae_images=5)  # fmt: skip
    spec = TrainSpec(name="cvae", config=config, training=training, classifier="judge")
    manifest = run(spec, data, store, progress=False)
    training = manifest.training
    assert (training.shift_pixels, training.kl_anneal, training.code_critic,
            training.sample_guide) == (1, 0.7, 5.0, 30.0)  # fmt: skip
    for key in ("conditional_accuracy", "conditional_accuracy_shared_noise",
                "code_class_accuracy", "test_negative_elbo_nats"):  # fmt: skip
        assert 0 <= manifest.metrics[key] < float("inf"), key
    loaded = load_model(store, "cvae")
    assert loaded.config.condition_all_layers and loaded.config.activation == "silu"
    assert not any(k.startswith(("critic", "guide")) for k in loaded.module.state_dict())
    untrained = build_model(config)
    assert loaded.module.state_dict().keys() == untrained.state_dict().keys()


def test_a_diverging_run_stops_with_a_clear_error_and_publishes_nothing(tmp_path):
    data = load_embedded_sample().limited(256, 64)
    store = LocalStore(tmp_path)
    config = ModelConfig(family="vae", backbone="linear", hidden=(16,), latent_dim=4)
    spec = TrainSpec(name="exploding", config=config,
                     training=TrainingSettings(epochs=5, learning_rate=1e4))  # fmt: skip
    with pytest.raises(TrainingDiverged, match=r"diverged at epoch .* nothing was published"):
        run(spec, data, store, progress=False)
    assert list(store.names()) == []


class _PeerDiverged(Group):
    """A rank of two whose peer's loss turns NaN at once (its own stays finite)."""

    def any(self, flag: bool, device: torch.device) -> bool:
        return True


def test_a_rank_whose_own_loss_is_finite_stops_with_a_diverging_peer(tmp_path):
    """Under torchrun every rank must stop at the same step: one raising alone would leave
    the others blocked in the gradient all-reduce. A one-process gloo group stands in for
    the job (DistributedDataParallel runs for real); the peer's NaN is the group's answer."""
    data = load_embedded_sample().limited(128, 32)
    config = ModelConfig(family="vae", backbone="linear", hidden=(16,), latent_dim=4)
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'rendezvous'}", rank=0,
                            world_size=1)  # fmt: skip
    try:
        with pytest.raises(TrainingDiverged, match="not finite on some rank"):
            train(build_model(config), config, data, TrainingSettings(epochs=1, batch_size=64),
                  device=torch.device("cpu"), progress=False, group=_PeerDiverged(0, 2))  # fmt: skip
    finally:
        dist.destroy_process_group()
