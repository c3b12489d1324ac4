"""Tensor-in, tensor-out inference on one loaded model. No HTTP, no files.

Each function runs one batch as one forward pass under inference mode, and
returns finite values in [0, 1] for images.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from autoencoders.latent import edit_codes, sample_gaussian, sample_mixture, sample_standard_normal
from autoencoders.latent import interpolate as interpolate_codes
from autoencoders.losses import per_image_mse
from model_store import LoadedModel, Manifest
from model_store.manifest import LATENTS_FILE
from service.errors import AttributeNotFound, InvalidInput, UnsupportedOperation

AUTOENCODER_FAMILIES = ("linear-ae", "conv-ae", "vae", "cvae")


class Encoded(NamedTuple):
    z: torch.Tensor
    mu: torch.Tensor | None
    logvar: torch.Tensor | None


def _clean(images: torch.Tensor) -> torch.Tensor:
    return torch.nan_to_num(images, nan=0.0, posinf=1.0, neginf=0.0).clamp(0, 1)


def capabilities(manifest: Manifest) -> list[str]:
    if manifest.family == "classifier":
        return []
    caps = ["encode", "decode", "reconstruct"]
    if manifest.family == "cvae":
        return [*caps, "cvae-sample"]
    caps += ["sample", "interpolate"]
    if manifest.attribute_names and LATENTS_FILE in manifest.files:
        caps.append("edit-attribute")
    return caps


def require(model: LoadedModel, operation: str) -> None:
    supported = capabilities(model.manifest)
    if operation not in supported:
        why = (
            f"{model.ref} has no attribute directions (it was trained on data without attributes)"
            if operation == "edit-attribute" and model.config.family != "classifier"
            else f"{model.ref} is a {model.config.family} model and cannot {operation}"
        )
        raise UnsupportedOperation(
            f"{why}. It supports: {', '.join(supported) or 'nothing here'}", ("body", "model")
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
    if "mixture_weights" in model.latents:  # a Gaussian mixture fits codes better
        lat = model.latents
        return sample_mixture(
            lat["mixture_weights"],
            lat["mixture_means"],
            lat["mixture_scale_trils"],
            count,
            gen,
            temperature,
        )
    if "prior_mean" not in model.latents:
        raise UnsupportedOperation(f"{model.ref} has no fitted latent distribution to sample from")
    return sample_gaussian(
        model.latents["prior_mean"], model.latents["prior_scale_tril"], count, gen, temperature
    )


@torch.inference_mode()
def sample(
    model: LoadedModel, count: int, seed: int, temperature: float
) -> tuple[torch.Tensor, torch.Tensor]:
    if model.config.family == "cvae":
        raise UnsupportedOperation(
            f"{model.ref} is a conditional VAE: use /cvae-sample to choose the classes",
            ("body", "model"),
        )
    require(model, "sample")
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


def _normal(name: str) -> str:
    return name.strip().lower().replace("_", " ")


def attribute_indices(model: LoadedModel, names: list[str]) -> list[int]:
    """Indices of attributes by name (case, spaces and underscores do not matter)."""
    require(model, "edit-attribute")
    known = model.manifest.attribute_names
    lookup = {_normal(n): i for i, n in enumerate(known)}
    out = []
    for i, name in enumerate(names):
        if _normal(name) not in lookup:
            raise AttributeNotFound(
                f"{model.ref} has no attribute {name!r}; it has: {', '.join(known)}",
                ("body", "edits", i, "attribute"),
                available=known,
            )
        out.append(lookup[_normal(name)])
    return out


@torch.inference_mode()
def edit_attributes(
    model: LoadedModel, x: torch.Tensor, indices: list[int], strengths: list[float], variant: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Encode, add strength x direction for each edit, decode. Strength 0 is the plain
    reconstruction; negative strengths remove an attribute."""
    require(model, "edit-attribute")
    directions = model.latents[f"directions_{variant}"][torch.tensor(indices)]
    z = edit_codes(model.module.encode(x).z, directions, torch.tensor(strengths))
    return _clean(model.module.decode(z)), z


@torch.inference_mode()
def interpolate(
    model: LoadedModel, start: torch.Tensor, end: torch.Tensor, steps: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Frames decoded from codes on the straight line between two images' codes."""
    require(model, "interpolate")
    codes = model.module.encode(torch.stack([start, end])).z
    path = interpolate_codes(codes[0], codes[1], steps)
    return _clean(model.module.decode(path)), path
