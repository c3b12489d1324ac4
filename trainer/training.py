"""Training loops: one objective per family, seeded, with a progress bar."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from autoencoders import ModelConfig, family_of
from autoencoders.losses import negative_elbo
from model_store import TrainingSettings
from trainer.conditioning import CodeCritic, SampleGuide
from trainer.datasets import Dataset, as_float, pixel_mean

if TYPE_CHECKING:
    from trainer.distributed import Group

class TrainingDiverged(ValueError):
    """The loss became NaN or infinite: the run stops before anything is published."""


def pick_device(requested: str = "auto") -> torch.device:
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(requested)


def batch_loss(
    model: nn.Module,
    config: ModelConfig,
    x: torch.Tensor,
    y: torch.Tensor,
    kl_weight: float = 1.0,
    critic: nn.Module | None = None,
    guide: nn.Module | None = None,
) -> torch.Tensor:
    """The objective of a batch, per image (nats for VAEs, MSE per pixel for AEs).

    With kl_weight 1 a VAE's loss is its negative ELBO; another weight trains a beta-VAE
    (Higgins et al., 2017), whose evaluation still reports the true negative ELBO.
    A `critic` (CodeCritic) adds its adversarial term on the code, a `guide` (SampleGuide)
    its term on digits drawn from the prior.
    """
    family = family_of(config)
    if not family.autoencoder:
        logits = model(x)
        if config.multilabel:
            return F.binary_cross_entropy_with_logits(logits, y)
        return F.cross_entropy(logits, y)
    if family.variational:
        # One z ~ q(z|x) per image, in training and in evaluation alike: the
        # single-sample ELBO estimate, as in pytorch/examples' VAE.
        enc = model.encode(x, y)
        z = model.reparameterize(enc.mu, enc.logvar)
        terms = negative_elbo(model.decode_logits(z, y), x, enc.mu, enc.logvar, z,
                              model.learned_log_prior(z))  # fmt: skip
        loss = terms.loss if kl_weight == 1.0 else terms.reconstruction + kl_weight * terms.kl
        if critic is not None:
            loss = loss + critic(enc.mu, y)
        return loss if guide is None else loss + guide(model, x, y)
    return F.mse_loss(torch.sigmoid(model(x, y).logits), x)


class Objective(nn.Module):
    """The family's objective as a module's forward, so DistributedDataParallel (which syncs
    gradients of what runs through forward) can wrap it, code critic included."""

    def __init__(
        self,
        model: nn.Module,
        config: ModelConfig,
        kl_weight: float,
        critic: float = 0.0,
        guide: float = 0.0,
    ) -> None:
        super().__init__()
        self.model, self.config, self.kl_weight = model, config, kl_weight
        cvae = family_of(config).conditional
        self.critic = (
            CodeCritic(config.latent_dim, config.num_classes, critic) if critic and cvae else None
        )
        self.guide = SampleGuide(config, guide) if guide and cvae else None

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return batch_loss(self.model, self.config, x, y, self.kl_weight, self.critic, self.guide)


def kl_weight_at(step: int, total: int, start: float, anneal: float) -> float:
    """The KL weight of a step: `start` throughout, or with `anneal` > 0 falling linearly
    from `start` to 1 over that share of the steps and 1 after it, so training ends on
    the true ELBO."""
    if anneal <= 0:
        return start
    return 1.0 + (start - 1.0) * max(0.0, 1.0 - step / (anneal * total))


def _shift(x: torch.Tensor, gen: torch.Generator, pixels: int) -> torch.Tensor:
    """Random translation by up to `pixels` (the classifier's only augmentation)."""
    dx, dy = (int(v) for v in torch.randint(-pixels, pixels + 1, (2,), generator=gen))
    return torch.roll(x, shifts=(dy, dx), dims=(2, 3))


def _shift_each(
    x: torch.Tensor, gen: torch.Generator, pixels: int, batch_size: int | None = None
) -> torch.Tensor:
    """Each image translated by its own random offset of up to `pixels`, the border filled
    with zeros (the VAEs' augmentation: on 4,000 digits it narrows the gap between train
    and test ELBO).

    With `batch_size`, x is a whole shuffled epoch shifted at once (one gather instead of
    one per step: 5% of the MNIST VAE's training time), its offsets drawn batch by batch as
    (2, batch) blocks, the numbers that shifting each batch on its own draws."""
    n, _, h, w = x.shape
    padded = F.pad(x, (pixels,) * 4)
    flat = torch.randint(0, 2 * pixels + 1, (2 * n,), generator=gen)
    blocks = [b.view(2, -1) for b in flat.split(2 * (batch_size or n))]
    dy, dx = torch.cat([b[0] for b in blocks]), torch.cat([b[1] for b in blocks])
    rows = (dy[:, None] + torch.arange(h))[:, None, :, None]
    cols = (dx[:, None] + torch.arange(w))[:, None, None, :]
    chans = torch.arange(x.shape[1])[None, :, None, None]
    return padded[torch.arange(n)[:, None, None, None], chans, rows, cols]


def gaussian_blur(x: torch.Tensor, kernel_size: int, sigma: float) -> torch.Tensor:
    """torchvision's gaussian_blur (separable kernel, reflected edges), without importing
    torchvision (1.4 s for every trainer command)."""
    half = (kernel_size - 1) / 2
    kernel = torch.exp(-0.5 * (torch.linspace(-half, half, kernel_size) / sigma) ** 2)
    kernel = (kernel / kernel.sum()).to(x.dtype)
    channels = x.shape[1]
    pad = kernel_size // 2
    out = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    out = F.conv2d(out, kernel.view(1, 1, 1, -1).repeat(channels, 1, 1, 1), groups=channels)
    return F.conv2d(out, kernel.view(1, 1, -1, 1).repeat(channels, 1, 1, 1), groups=channels)


def _blur(x: torch.Tensor, gen: torch.Generator, max_sigma: float) -> torch.Tensor:
    """Gaussian blur of a random half of the batch, one random width (the attribute
    classifier's augmentation: it judges autoencoder outputs, which are softer than photos)."""
    sigma = 0.3 + float(torch.rand((), generator=gen)) * (max_sigma - 0.3)
    half = torch.rand(len(x), generator=gen) < 0.5
    out = x.clone()
    out[half] = gaussian_blur(x[half], 7, sigma)
    return out


def _clip_grad_norm(module: nn.Module, max_norm: float) -> None:
    """torch's clip_grad_norm_, scaling only when the norm is above `max_norm`: the same
    numbers (it scales by exactly 1 otherwise), without a pass over every gradient on the
    steps that need none (almost all: 6% of the MNIST VAE's training time on CPU)."""
    params = [p for p in module.parameters() if p.grad is not None]
    norm = torch.nn.utils.get_total_norm([p.grad for p in params])
    if norm > max_norm:  # reads the norm: free on CPU; on a GPU the loss is read anyway
        torch.nn.utils.clip_grads_with_norm_(params, max_norm, norm)


def evaluate_loss(
    model: nn.Module, config: ModelConfig, x: torch.Tensor, y: torch.Tensor, batch_size: int = 500
) -> float:
    """Mean objective over a split, in eval mode and with a fixed seed."""
    model.eval()
    device = next(model.parameters()).device
    total = 0.0
    with torch.random.fork_rng(devices=[]), torch.inference_mode():
        torch.manual_seed(0)
        for i in range(0, len(x), batch_size):
            xb, yb = as_float(x[i : i + batch_size]).to(device), y[i : i + batch_size].to(device)
            total += float(batch_loss(model, config, xb, yb)) * len(xb)
    return total / len(x)


def train(
    model: nn.Module,
    config: ModelConfig,
    data: Dataset,
    settings: TrainingSettings,
    device: torch.device,
    progress: bool = True,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
    group: Group | None = None,
) -> list[dict[str, float]]:
    """Adam on the family's objective, as `settings` say; returns per-epoch train and test
    losses.

    VAEs start their decoder at the mean training image; `shift_pixels` translates each
    of their training images by up to that many pixels; `kl_anneal`, `code_critic` and
    `sample_guide` are explained at kl_weight_at, CodeCritic and SampleGuide;
    `clip_grad_norm` > 0 scales each step's gradient down to at most that norm. A NaN or
    infinite loss stops the run (TrainingDiverged).

    lr_schedule "cosine" anneals the learning rate to 0 over all steps (Loshchilov and
    Hutter, 2017): a fixed epoch budget then ends converged instead of mid-descent.
    With a `group` of several processes (torchrun), each takes its shard of every global
    batch of `batch_size` and the gradients are averaged; only its main rank measures the
    test loss (the others record NaN)."""
    from trainer.distributed import LONE

    group = group or LONE
    epochs, batch_size, seed = settings.epochs, settings.batch_size, settings.seed
    kl_weight, shift_pixels = settings.kl_weight, settings.shift_pixels
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    family = family_of(config)
    if family.variational:
        model.decoder.init_output_bias(pixel_mean(data.train_x))
    # Conv bodies train about a third faster on CPU in the channels-last layout (oneDNN's);
    # the weights return to the standard layout before anything else reads them.
    layout = torch.channels_last if config.effective_backbone == "conv" else torch.preserve_format
    model.to(device, memory_format=layout)
    core = Objective(model, config, kl_weight, settings.code_critic,
                     settings.sample_guide).to(device)  # fmt: skip
    objective: nn.Module = core
    if group.active:
        from torch.nn.parallel import DistributedDataParallel

        ids = [device.index] if device.type == "cuda" else None
        objective = DistributedDataParallel(objective, device_ids=ids)
    # The fused step (one kernel over all parameters) takes a quarter off the MNIST VAE's
    # step time on CPU (bench/vae_quality.py: 3.6x the reference's time before, 2.8x after).
    fused = device.type in ("cpu", "cuda")
    opt = torch.optim.Adam(core.parameters(), lr=settings.learning_rate, fused=fused)
    x, y = data.train_x, data.targets(config.multilabel)
    steps = (len(x) + batch_size - 1) // batch_size
    schedule = (
        torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * steps)
        if settings.lr_schedule == "cosine"
        else None
    )
    history: list[dict[str, float]] = []
    bar = tqdm(total=epochs * steps, desc=config.family, unit="batch",
               disable=not (progress and group.main))  # fmt: skip
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        model.train()
        order = torch.randperm(len(x), generator=gen)
        # The VAEs' shift moves the whole shuffled epoch at once (a copy of the training
        # images for the epoch); other batches are gathered step by step.
        shifted = (
            _shift_each(x[order], gen, shift_pixels, batch_size)
            if shift_pixels and family.autoencoder
            else None
        )
        running = 0.0
        for i in range(steps):
            batch = slice(i * batch_size, (i + 1) * batch_size)
            idx = order[batch]
            xb, yb = as_float(x[idx] if shifted is None else shifted[batch]), y[idx]
            if not family.autoencoder and not config.multilabel:
                xb = _shift(xb, gen, 2)
            elif not family.autoencoder:
                xb = _blur(xb, gen, 1.5)
            core.kl_weight = kl_weight_at((epoch - 1) * steps + i, epochs * steps, kl_weight,
                                          settings.kl_anneal)  # fmt: skip
            # Augmented as one global batch, then sharded: every rank's generator stays in step.
            mine = group.shard(torch.arange(len(idx)))
            xb, yb = xb[mine].to(device, memory_format=layout), yb[mine].to(device)
            loss = objective(xb, yb)
            value = float(loss.detach())
            # Every rank stops at once: one stopping alone would leave the others waiting
            # in the gradient exchange.
            if group.any(not math.isfinite(value), device):
                bar.close()
                raise TrainingDiverged(
                    f"{config.family} diverged at epoch {epoch}, step {i + 1}: the loss is "
                    f"{value} (here; under torchrun, not finite on some rank); nothing was "
                    "published. Try a lower --lr."
                )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if settings.clip_grad_norm:
                _clip_grad_norm(core, settings.clip_grad_norm)
            opt.step()
            if schedule is not None:
                schedule.step()
            running += value * len(mine)
            bar.update(1)
        record = {
            "epoch": float(epoch),
            "train_loss": group.total(running, device) / len(x),
            "test_loss": evaluate_loss(
                model, config, data.test_x, data.targets(config.multilabel, test=True)
            )
            if group.main
            else float("nan"),
            "learning_rate": opt.param_groups[0]["lr"],  # at the epoch's end
            "elapsed_s": time.perf_counter() - start,
        }
        history.append(record)
        bar.set_postfix(train=f"{record['train_loss']:.4g}", test=f"{record['test_loss']:.4g}")
        if on_epoch:
            on_epoch(record)
    bar.close()
    model.to(memory_format=torch.contiguous_format).eval()
    return history
