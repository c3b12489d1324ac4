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
    fingerprint: str = Field(description="sha256 over the training and test tensors")


class TrainingInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")
    epochs: int
    batch_size: int
    learning_rate: float
    kl_weight: float = Field(1.0, description="VAE KL weight in training (1: the ELBO)")
    lr_schedule: str = Field("constant", description="constant, or cosine (decays to 0)")
    kl_anneal: float = Field(
        0.0, description="share of the steps over which kl_weight fell linearly to 1 (0: none)"
    )
    shift_pixels: int = Field(0, description="each training image moved by up to this many pixels")
    code_critic: float = Field(0.0, description="CVAE: weight of the adversary on the code")
    sample_guide: float = Field(
        0.0, description="CVAE: weight of a reader's verdict on digits drawn from the prior"
    )
    clip_grad_norm: float = Field(0.0, description="gradient norm limit per step (0: none)")
    seed: int
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


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[1] = SCHEMA_VERSION
    name: str
    version: int = Field(ge=1)
    family: str
    config: dict[str, Any]
    input: InputSpec
    latent_size: int | None = None
    class_names: list[str] = Field(default_factory=list)
    attribute_names: list[str] = Field(default_factory=list)
    dataset: DatasetInfo
    training: TrainingInfo
    metrics: dict[str, float] = Field(default_factory=dict)
    evaluated_with: dict[str, str] = Field(
        default_factory=dict, description="artifacts an evaluation used, e.g. the classifier"
    )
    probe: Probe | None = None
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
