"""Tensor-in, tensor-out inference on one loaded model. No HTTP, no files.

Each function runs one batch as one forward pass under inference mode, and
returns finite values in [0, 1] for images.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from autoencoders.latent import sample_gaussian, sample_standard_normal
from autoencoders.losses import per_image_mse
from model_store import LoadedModel
from service.errors import InvalidInput, UnsupportedOperation

AUTOENCODER_FAMILIES = ("linear-ae", "conv-ae", "vae", "cvae")


class Encoded(NamedTuple):
    z: torch.Tensor
    mu: torch.Tensor | None
    logvar: torch.Tensor | None


def _clean(images: torch.Tensor) -> torch.Tensor:
    return torch.nan_to_num(images, nan=0.0, posinf=1.0, neginf=0.0).clamp(0, 1)


def capabilities(family: str) -> list[str]:
    if family == "classifier":
        return []
    caps = ["encode", "decode", "reconstruct", "sample"]
    return [*caps, "cvae-sample"] if family == "cvae" else caps


def require(model: LoadedModel, operation: str) -> None:
    if operation not in capabilities(model.config.family):
        raise UnsupportedOperation(
            f"{model.ref} is a {model.config.family} model; it cannot {operation}. "
            f"It supports: {', '.join(capabilities(model.config.family)) or 'nothing here'}",
            ("body", "model"),
        )


def check_labels(
    model: LoadedModel, labels: torch.Tensor | None, count: int
) -> torch.Tensor | None:
    if not model.config.family == "cvae":
        if labels is not None:
            raise InvalidInput(
                f"{model.ref} is not conditional; leave labels out", ("body", "labels")
            )
        return None
    if labels is None:
        raise InvalidInput(
            f"{model.ref} is a conditional VAE: give one label per item "
            f"(one of {model.manifest.class_names})",
            ("body", "labels"),
        )
    if len(labels) != count:
        raise InvalidInput(f"{len(labels)} labels for {count} items", ("body", "labels"))
    return labels


@torch.inference_mode()
def encode(model: LoadedModel, x: torch.Tensor, labels: torch.Tensor | None) -> Encoded:
    require(model, "encode")
    enc = model.module.encode(x, check_labels(model, labels, len(x)))
    return Encoded(enc.z, enc.mu if enc.logvar is not None else None, enc.logvar)


@torch.inference_mode()
def decode(model: LoadedModel, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
    require(model, "decode")
    return _clean(model.module.decode(z, check_labels(model, labels, len(z))))


@torch.inference_mode()
def reconstruct(
    model: LoadedModel, x: torch.Tensor, labels: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Deterministic reconstruction (posterior mean) and its MSE per pixel, per image."""
    require(model, "reconstruct")
    labels = check_labels(model, labels, len(x))
    rec = _clean(model.module.decode(model.module.encode(x, labels).z, labels))
    return rec, per_image_mse(rec, x)


def _prior(
    model: LoadedModel, count: int, gen: torch.Generator, temperature: float
) -> torch.Tensor:
    if model.config.family in ("vae", "cvae"):
        return sample_standard_normal(model.config.latent_dim, count, gen, temperature)
    if "prior_mean" not in model.latents:
        raise UnsupportedOperation(f"{model.ref} has no fitted latent distribution to sample from")
    return sample_gaussian(
        model.latents["prior_mean"], model.latents["prior_scale_tril"], count, gen, temperature
    )


@torch.inference_mode()
def sample(
    model: LoadedModel, count: int, seed: int, temperature: float
) -> tuple[torch.Tensor, torch.Tensor]:
    require(model, "sample")
    if model.config.family == "cvae":
        raise UnsupportedOperation(
            f"{model.ref} is a conditional VAE: use /cvae-sample to choose the classes",
            ("body", "model"),
        )
    z = _prior(model, count, torch.Generator().manual_seed(seed), temperature)
    return _clean(model.module.decode(z)), z


@torch.inference_mode()
def cvae_sample(
    model: LoadedModel,
    labels: list[int],
    per_label: int,
    seed: int,
    shared_noise: bool,
    temperature: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Images ordered label by label. Shared noise: the same `per_label` codes for every label."""
    require(model, "cvae-sample")
    gen = torch.Generator().manual_seed(seed)
    if shared_noise:
        z = _prior(model, per_label, gen, temperature).repeat(len(labels), 1)
    else:
        z = _prior(model, per_label * len(labels), gen, temperature)
    y = torch.tensor(labels).repeat_interleave(per_label)
    return _clean(model.module.decode(z, y)), z


def label_indices(model: LoadedModel, labels: list[int | str]) -> list[int]:
    """Class indices from indices or class names; unknown ones are refused, listing the known."""
    if model.config.family != "cvae":
        raise InvalidInput(f"{model.ref} is not conditional; leave labels out", ("body", "labels"))
    names = model.manifest.class_names
    out = []
    for i, label in enumerate(labels):
        if isinstance(label, int) and 0 <= label < len(names):
            out.append(label)
        elif isinstance(label, str) and label in names:
            out.append(names.index(label))
        else:
            raise InvalidInput(
                f"unknown label {label!r}; {model.ref} knows indices 0-{len(names) - 1} "
                f"or names {names}",
                ("body", "labels", i),
                available=names,
            )
    return out
