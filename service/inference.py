"""Tensor-in, tensor-out inference on one loaded model. No HTTP, no files.

The row-wise operations run under the batcher's inference mode; images come out finite
and in [0, 1].
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from autoencoders import family_of, scoring
from autoencoders.latent import edit_codes, sample_prior
from autoencoders.losses import per_image_mse
from model_store import Calibration, CorruptArtifact, LoadedModel, Manifest
from model_store.manifest import LATENTS_FILE
from service.errors import AttributeNotFound, InvalidInput, UnsupportedOperation


def _clean(images: torch.Tensor) -> torch.Tensor:
    return torch.nan_to_num(images, nan=0.0, posinf=1.0, neginf=0.0).clamp(0, 1)


def capabilities(manifest: Manifest) -> list[str]:
    """What a version can do: its family's operations (autoencoders.families), attribute
    edits where it published directions."""
    has_directions = bool(manifest.attribute_names) and LATENTS_FILE in manifest.files
    return family_of(manifest.family).operations(has_directions)


def require(model: LoadedModel, operation: str) -> None:
    supported = capabilities(model.manifest)
    if operation not in supported:
        why = (
            f"{model.ref} has no attribute directions (it was trained on data without attributes)"
            if operation == "edit-attribute" and family_of(model.config).samples
            else f"{model.ref} is a {model.config.family} model and cannot {operation}"
        )
        raise UnsupportedOperation(
            f"{why}. It supports: {', '.join(supported) or 'nothing here'}", ("body", "model")
        )


def check_labels(
    model: LoadedModel, labels: torch.Tensor | None, count: int
) -> torch.Tensor | None:
    if not family_of(model.config).conditional:
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


# -- Row-wise operations: any number of rows in, the same number out, each row computed
# alone (the batcher runs several requests' rows as one call). Each returns a tuple.


def encode(
    model: LoadedModel, x: torch.Tensor, labels: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """Codes, and for VAEs the posterior mean and log-variance (the code is the mean)."""
    enc = model.module.encode(x, labels)
    variational = enc.logvar is not None
    return enc.z, enc.mu if variational else None, enc.logvar


def decode(model: LoadedModel, z: torch.Tensor, labels: torch.Tensor | None) -> tuple[torch.Tensor]:
    return (_clean(model.module.decode(z, labels)),)


def reconstruct(
    model: LoadedModel, x: torch.Tensor, labels: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Deterministic reconstruction (posterior mean) and its MSE per pixel, per image."""
    rec = _clean(model.module.decode(model.module.encode(x, labels).z, labels))
    return rec, per_image_mse(rec, x)


def score(
    model: LoadedModel, x: torch.Tensor, labels: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The outlier score's model terms (autoencoders.scoring): negative log-likelihood,
    reconstruction error, squared error per pixel, and the class scored against (for a
    conditional model its best-fitting class; `labels` is not used)."""
    family = family_of(model.config)
    classes = model.config.num_classes if family.conditional else 0
    return scoring.score_terms(model.module, x, classes, score_mixture(model))


def score_method(model: LoadedModel) -> scoring.Method:
    """The method this version was calibrated with (the two-term score for versions
    published before the code term, or without a calibration)."""
    record = model.manifest.calibration
    return scoring.METHODS.get(record.method, scoring.TWO_TERMS) if record else scoring.TWO_TERMS


def score_mixture(
    model: LoadedModel,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
    return scoring.mixture_of(model.latents, score_method(model))


def heatmaps(error_map: torch.Tensor) -> torch.Tensor:
    """Squared errors per pixel scaled per image to [0, 1] (white: that image's largest)."""
    peak = error_map.flatten(1).amax(1).clamp_min(1e-12)
    return error_map / peak.view(-1, *[1] * (error_map.dim() - 1))


def edit(
    model: LoadedModel, x: torch.Tensor, delta: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Encode, add each row's edit (`edit_delta`), decode: edited images and codes."""
    z = model.module.encode(x).z + delta
    return _clean(model.module.decode(z)), z


def examples(model: LoadedModel, rows: int) -> dict[Callable[..., tuple], tuple]:
    """Inputs of `rows` rows for each row-wise operation the model supports, the one that
    runs every layer (reconstruct) first: what the batcher traces and calibrates with."""
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(rows, *model.config.input_shape, generator=gen)
    z = torch.randn(rows, model.config.latent_dim, generator=gen)
    labels = None
    if family_of(model.config).conditional:
        labels = torch.arange(rows) % model.config.num_classes
    out: dict[Callable[..., tuple], tuple] = {
        reconstruct: (x, labels),
        encode: (x, labels),
        decode: (z, labels),
        score: (x, None),
    }
    if "edit-attribute" in capabilities(model.manifest):
        out[edit] = (x, torch.zeros(rows, model.config.latent_dim))
    return out


# -- Per-request preparation (no forward pass): validation, codes drawn from seeds.


def _prior(
    model: LoadedModel, count: int, gen: torch.Generator, temperature: float
) -> torch.Tensor:
    codes = sample_prior(model.module, model.latents, count, gen, temperature)
    assert codes is not None, "the route checked the model can sample (require_prior/require)"
    return codes


def require_prior(model: LoadedModel) -> None:
    """Refuse models that /sample cannot draw from: the one check, made by the route before
    the request waits for the batcher."""
    family = family_of(model.config)
    if family.conditional:
        raise UnsupportedOperation(
            f"{model.ref} is a conditional VAE: use /cvae-sample to choose the classes",
            ("body", "model"),
        )
    require(model, "sample")
    # What sample_prior falls back on: a fitted distribution, else a VAE's own prior.
    fitted = {"mixture_weights", "prior_mean"} & set(model.latents)
    if not fitted and not family.variational:
        raise UnsupportedOperation(f"{model.ref} has no fitted latent distribution to sample from")


def prior_codes(model: LoadedModel, count: int, seed: int, temperature: float) -> torch.Tensor:
    """`count` codes from the prior of a model `require_prior` let through; the same seed
    gives the same codes."""
    return _prior(model, count, torch.Generator().manual_seed(seed), temperature)


def cvae_codes(
    model: LoadedModel,
    labels: list[int],
    per_label: int,
    seed: int,
    shared_noise: bool,
    temperature: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Codes and labels ordered label by label. Shared noise: the same `per_label` codes for
    every label."""
    require(model, "cvae-sample")
    gen = torch.Generator().manual_seed(seed)
    if shared_noise:
        z = _prior(model, per_label, gen, temperature).repeat(len(labels), 1)
    else:
        z = _prior(model, per_label * len(labels), gen, temperature)
    return z, torch.tensor(labels).repeat_interleave(per_label)


def calibration(model: LoadedModel) -> tuple[Calibration, torch.Tensor, torch.Tensor]:
    """The version's /score calibration record, its sorted held-out scores and the
    reference its terms are standardised by."""
    require(model, "score")
    record, scores = model.manifest.calibration, model.latents.get("calibration_scores")
    ref = model.latents.get("score_reference")
    if record is None or scores is None or ref is None:
        raise UnsupportedOperation(
            f"{model.ref} was published without a score calibration (by an earlier trainer); "
            "train a new version to score with it",
            ("body", "model"),
        )
    if record.method not in scoring.METHODS:
        raise UnsupportedOperation(
            f"{model.ref} was calibrated with a score method this service does not know "
            f"({record.method!r}): serve it with the trainer's release that published it",
            ("body", "model"),
        )
    expected = scoring.METHODS[record.method].reference_size
    if len(ref) != expected:
        raise CorruptArtifact(
            f"score_reference has {len(ref)} numbers; its method takes {expected}", str(model.ref)
        )
    return record, scores, ref


def label_indices(model: LoadedModel, labels: list[int | str]) -> list[int]:
    """Class indices from indices or class names; unknown ones are refused, listing the known."""
    if not family_of(model.config).conditional:
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


def edit_delta(
    model: LoadedModel, indices: list[int], strengths: list[float], variant: str
) -> torch.Tensor:
    """(1, D): the sum of strength x direction over the edits, added to every code. Strength 0
    gives the plain reconstruction; negative strengths remove an attribute."""
    require(model, "edit-attribute")
    directions = model.latents[f"directions_{variant}"][torch.tensor(indices)]
    return edit_codes(torch.zeros(1, directions.shape[1]), directions, torch.tensor(strengths))
