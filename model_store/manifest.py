"""The manifest: what a version is, how it was made, and the sha256 of every file."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SCHEMA_VERSION = 1
MANIFEST_FILE = "manifest.json"
WEIGHTS_FILE = "weights.safetensors"
LATENTS_FILE = "latents.safetensors"
_FILE_PATH = re.compile(r"[a-z0-9_-][a-z0-9_.-]*(/[a-z0-9_-][a-z0-9_.-]*)?")


class Crop(BaseModel):
    """A box to cut out before resizing, given in the pixels of an image of `reference` size
    (width, height) and scaled to the image at hand: LFW's classic crop is the centre 90x90 of
    a 250x250 photo, `box=(80, 80, 170, 170), reference=(250, 250)`."""

    model_config = ConfigDict(extra="forbid")
    box: tuple[int, int, int, int] = Field(description="left, top, right, bottom")
    reference: tuple[int, int] = Field(description="width, height the box is given for")

    @model_validator(mode="after")
    def _inside(self) -> Crop:
        (left, top, right, bottom), (width, height) = self.box, self.reference
        if not (0 <= left < right <= width and 0 <= top < bottom <= height):
            raise ValueError(f"crop box {self.box} is not inside {width}x{height}")
        return self

    @classmethod
    def centre(cls, side: int, width: int, height: int) -> Crop:
        left, top = (width - side) // 2, (height - side) // 2
        return cls(box=(left, top, left + side, top + side), reference=(width, height))


class InputSpec(BaseModel):
    """What the model takes, and how any image becomes that: converted to grey (one channel)
    or RGB, cropped (`crop`, when set), resized bilinearly to height x width, scaled to
    [0, 1]. `model_store.images.prepare_image` applies it, for training and serving."""

    model_config = ConfigDict(extra="forbid")
    channels: int = Field(ge=1, le=4)
    height: int = Field(ge=1)
    width: int = Field(ge=1)
    value_range: tuple[float, float] = (0.0, 1.0)
    crop: Crop | None = None

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.channels, self.height, self.width)


class DatasetInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    train_size: int
    test_size: int
    fingerprint: str = Field(
        description="sha256 over the training and test tensors, or for a folder over its "
        "file list and bytes"
    )
    test_fraction: float | None = Field(
        None, description="folders: the share of images held out (seeded, per class)"
    )
    skipped: int = Field(0, description="folders: files that could not be used, and skipped")
    skipped_files: list[str] = Field(
        default_factory=list, description="folders: the first skipped files, each with its reason"
    )


class TrainingSettings(BaseModel):
    """How a version is trained, beside its architecture (ModelConfig) and its data: every
    field is one flag of `python -m trainer train` (trainer.settings makes them), `train()`
    takes the object whole and the manifest stores it whole (TrainingInfo). A new training
    option is one field here."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    epochs: int = Field(10, description="passes over the training images")
    batch_size: int = Field(128, description="images per step")
    learning_rate: float = Field(1e-3, description="Adam's learning rate")
    lr_schedule: Literal["constant", "cosine"] = Field(
        "constant", description="constant, or cosine (decays to 0 by the last step)"
    )
    kl_weight: float = Field(1.0, description="VAE/CVAE KL weight (1: the ELBO; beta-VAE)")
    kl_anneal: float = Field(
        0.0, description="share of the steps over which kl_weight falls linearly to 1 (0: none)"
    )
    shift_pixels: int = Field(
        0, description="VAEs: each training image moved by up to this many pixels"
    )
    code_critic: float = Field(
        0.0, description="CVAE: weight of an adversary that keeps the class out of codes"
    )
    sample_guide: float = Field(
        0.0, description="CVAE: weight of a reader's verdict on images drawn from the prior"
    )
    clip_grad_norm: float = Field(0.0, description="gradient norm limit per step (0: none)")
    seed: int = Field(0, description="seeds the weights, the shuffling and the augmentations")
    iwae_k: int = Field(
        1000, description="VAE/CVAE: importance samples for the test -log p(x) (0: skip)"
    )
    iwae_images: int = Field(
        100, description="VAE/CVAE: test images the -log p(x) estimate uses (drawn across the set)"
    )

    @model_validator(mode="after")
    def _in_range(self) -> TrainingSettings:
        if min(self.epochs, self.batch_size, self.iwae_images) < 1:
            raise ValueError("epochs, batch_size and iwae_images must be at least 1")
        if self.learning_rate <= 0:
            raise ValueError("learning_rate must be positive")
        if min(self.kl_weight, self.kl_anneal, self.shift_pixels, self.code_critic,
               self.sample_guide, self.clip_grad_norm, self.iwae_k) < 0:  # fmt: skip
            raise ValueError("weights, shifts, limits and iwae_k cannot be negative")
        if self.kl_anneal > 1:
            raise ValueError("kl_anneal is a share of the steps: at most 1")
        return self


class TrainingInfo(TrainingSettings):
    """The settings a version was trained with, and what the run itself recorded."""

    model_config = ConfigDict(extra="forbid", frozen=False)

    @model_validator(mode="after")
    def _in_range(self) -> TrainingInfo:  # a stored record is read as it was written
        return self

    device: str
    processes: int = Field(1, description="processes that trained it together (torchrun)")
    duration_s: float
    history: list[dict[str, float]] = Field(default_factory=list)


class Probe(BaseModel):
    """Output of the model on a fixed seeded input: catches right-format, wrong-model weights."""

    model_config = ConfigDict(extra="forbid")
    seed: int
    batch: int
    norm: float = Field(description="L2 norm of the output")
    projections: list[float] = Field(description="the output dotted with fixed random directions")


class Calibration(BaseModel):
    """How /score's percentiles and threshold were set: the method, and the held-out
    in-distribution split (never trained on) it was calibrated and then checked on."""

    model_config = ConfigDict(extra="forbid")
    method: str
    reference: str = Field(description="the images each term is standardised by")
    split: str = Field(description="where the held-out images come from")
    size: int = Field(ge=1, description="images whose sorted scores serving reads")
    default_fpr: float = Field(gt=0, lt=1, description="the rate `threshold` is set for")
    threshold: float | None = Field(
        description="outlier above this score at `default_fpr`; None: too few images for it"
    )
    check_size: int = Field(ge=0, description="further held-out images the rate was checked on")
    observed_fpr: float | None = Field(
        None, description="share of the check images above `threshold`"
    )


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[1] = SCHEMA_VERSION
    name: str
    version: int = Field(ge=1)
    family: str
    config: dict[str, Any]
    input: InputSpec
    latent_size: int | None = None
    latent_activity: list[float] | None = Field(
        None,
        description="per code dimension, the variance of its code over the held-out images "
        "(a VAE's posterior mean); near 0: a dimension the model does not use. None: "
        "published before it was recorded, or not an autoencoder",
    )
    class_names: list[str] = Field(default_factory=list)
    attribute_names: list[str] = Field(default_factory=list)
    dataset: DatasetInfo
    training: TrainingInfo
    metrics: dict[str, float] = Field(default_factory=dict)
    evaluated_with: dict[str, str] = Field(
        default_factory=dict, description="artifacts an evaluation used, e.g. the classifier"
    )
    probe: Probe | None = None
    calibration: Calibration | None = Field(
        None, description="/score's calibration; None: published before scores were served"
    )
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    code_version: str
    torch_version: str
    files: dict[str, str] = Field(default_factory=dict, description="relative path -> sha256")

    @field_validator("files")
    @classmethod
    def _safe_paths(cls, files: dict[str, str]) -> dict[str, str]:
        for path, digest in files.items():
            if not _FILE_PATH.fullmatch(path) or ".." in path or path == MANIFEST_FILE:
                raise ValueError(f"unsafe file path in manifest: {path!r}")
            if not re.fullmatch(r"[0-9a-f]{64}", digest):
                raise ValueError(f"not a sha256 digest for {path!r}")
        return files
