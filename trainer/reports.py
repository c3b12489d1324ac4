"""Report images published with each version: samples, reconstructions, loss curves."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # no display; set before pyplot is imported
import matplotlib.pyplot as plt
import torch
from PIL import Image
from torch import nn
from torchvision.utils import make_grid

from autoencoders import ModelConfig
from autoencoders.latent import sample_gaussian, sample_mixture

REPORT_SEED = 7


def png_bytes(images: torch.Tensor, nrow: int, scale: int = 2) -> bytes:
    grid = make_grid(images.clamp(0, 1), nrow=nrow, padding=2, pad_value=1.0)
    array = (grid.permute(1, 2, 0).numpy() * 255).round().astype("uint8")
    img = Image.fromarray(array.squeeze(2) if array.shape[2] == 1 else array)
    img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


@torch.inference_mode()
def sample_grid(
    model: nn.Module, config: ModelConfig, latents: dict[str, torch.Tensor]
) -> bytes | None:
    gen = torch.Generator().manual_seed(REPORT_SEED)
    if config.family == "cvae":
        # One random code per column, drawn as every class (one row per class).
        cols = 8
        z = torch.randn(cols, config.latent_dim, generator=gen).repeat(config.num_classes, 1)
        labels = torch.arange(config.num_classes).repeat_interleave(cols)
        return png_bytes(model.decode(z, labels), nrow=cols)
    if config.family == "vae":
        z = torch.randn(64, config.latent_dim, generator=gen)
    elif "mixture_weights" in latents:
        z = sample_mixture(
            latents["mixture_weights"],
            latents["mixture_means"],
            latents["mixture_scale_trils"],
            64,
            gen,
        )
    elif "prior_mean" in latents:
        z = sample_gaussian(latents["prior_mean"], latents["prior_scale_tril"], 64, gen)
    else:
        return None
    return png_bytes(model.decode(z), nrow=8)


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
    rows += [model.decode(z + d[attribute]) for d in directions.values()]
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
        "vae": "negative ELBO (nats/image)",
        "cvae": "negative ELBO (nats/image)",
        "classifier": "cross-entropy",
    }.get(config.family, "MSE per pixel")
    report = {"loss_curves.png": loss_curves(history, ylabel)}
    if config.family != "classifier":
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
