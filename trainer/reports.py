"""Report images published with each version: samples, reconstructions, loss curves."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # no display; set before pyplot is imported
import matplotlib.pyplot as plt
import torch
from torch import nn

from autoencoders import ModelConfig, family_of
from autoencoders.latent import edit_codes, sample_prior
from model_store.images import png_bytes as pngs

REPORT_SEED = 7


def tile(images: torch.Tensor, nrow: int, padding: int = 2, pad_value: float = 1.0) -> torch.Tensor:
    """(N, C, H, W) -> one (C, H', W') grid, `nrow` images a row, as torchvision's make_grid
    lays it out (importing torchvision cost every trainer command 1.4 s)."""
    n, channels, h, w = images.shape
    across = min(nrow, n)
    down = -(-n // across)
    cell_h, cell_w = h + padding, w + padding
    grid = images.new_full((channels, down * cell_h + padding, across * cell_w + padding),
                           pad_value)  # fmt: skip
    for i, image in enumerate(images):
        top, left = (i // across) * cell_h + padding, (i % across) * cell_w + padding
        grid[:, top : top + h, left : left + w] = image
    return grid


def png_bytes(images: torch.Tensor, nrow: int, scale: int = 2) -> bytes:
    """A grid of images, `scale` times enlarged, as one PNG."""
    grid = tile(images.clamp(0, 1), nrow)
    grid = grid.repeat_interleave(scale, dim=1).repeat_interleave(scale, dim=2)  # nearest
    return pngs(grid.unsqueeze(0))[0]


@torch.inference_mode()
def sample_grid(
    model: nn.Module, config: ModelConfig, latents: dict[str, torch.Tensor]
) -> bytes | None:
    """64 draws from the model's prior (the service's /sample draws the same way); a CVAE's
    as 8 codes drawn as every class (one row per class)."""
    gen = torch.Generator().manual_seed(REPORT_SEED)
    if family_of(config).conditional:
        cols = 8
        z = sample_prior(model, latents, cols, gen)
        assert z is not None
        labels = torch.arange(config.num_classes).repeat_interleave(cols)
        return png_bytes(model.decode(z.repeat(config.num_classes, 1), labels), nrow=cols)
    z = sample_prior(model, latents, 64, gen)
    return None if z is None else png_bytes(model.decode(z), nrow=8)


@torch.inference_mode()
def reconstruction_grid(model: nn.Module, x: torch.Tensor, y: torch.Tensor, n: int = 16) -> bytes:
    """Originals on the top row, reconstructions beneath."""
    idx = torch.linspace(0, len(x) - 1, n).long()
    xb, yb = x[idx], y[idx]
    rec = model.decode(model.encode(xb, yb).z, yb)
    return png_bytes(torch.cat([xb, rec]), nrow=n)


@torch.inference_mode()
def edit_grid(
    model: nn.Module, x: torch.Tensor, directions: dict[str, torch.Tensor], attribute: int
) -> bytes:
    """Rows: the faces, their reconstructions, then one row per direction variant added."""
    z = model.encode(x).z
    rows = [x, model.decode(z)]
    rows += [model.decode(edit_codes(z, d[attribute : attribute + 1], torch.ones(1)))
             for d in directions.values()]  # fmt: skip
    return png_bytes(torch.cat(rows), nrow=len(x))


def loss_curves(history: list[dict[str, float]], ylabel: str) -> bytes:
    fig, ax = plt.subplots(figsize=(5, 3.2), dpi=100)
    epochs = [h["epoch"] for h in history]
    ax.plot(epochs, [h["train_loss"] for h in history], label="train")
    ax.plot(epochs, [h["test_loss"] for h in history], label="test")
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def build_report(
    model: nn.Module,
    config: ModelConfig,
    x: torch.Tensor,
    y: torch.Tensor,
    history: list[dict[str, float]],
    latents: dict[str, torch.Tensor],
    attributes: tuple[str, ...] = (),
    present: torch.Tensor | None = None,
) -> dict[str, bytes]:
    """Report images; for face models also the faces lacking a smile, then smiling."""
    model = model.cpu().eval()
    ylabel = {
        "negative-elbo": "negative ELBO (nats/image)",
        "cross-entropy": "cross-entropy",
        "mse": "MSE per pixel",
    }[family_of(config).objective]
    report = {"loss_curves.png": loss_curves(history, ylabel)}
    if family_of(config).autoencoder:
        report["reconstructions.png"] = reconstruction_grid(model, x, y)
        samples = sample_grid(model, config, latents)
        if samples is not None:
            report["samples.png"] = samples
    if attributes and "directions_plain" in latents and "Smiling" in attributes:
        a = attributes.index("Smiling")
        lacking = x[present[:, a] == 0][:8]
        variants = {k: latents[f"directions_{k}"] for k in ("plain", "corrected")}
        report["edit_smiling.png"] = edit_grid(model, lacking, variants, a)
    return report
