"""Shapes of what the service says about its models and itself: /models, /health, /ready.
(The inference routes' shapes and the problem+json body are in `service.schemas`.)"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class VersionSummary(BaseModel):
    version: int
    aliases: list[str]
    family: str
    created_at: str
    latent_size: int | None
    latent_activity: list[float] | None = Field(
        None,
        description="per code dimension, the variance of its code over held-out images; "
        "near 0: a dimension the model does not use (None: not recorded)",
    )
    input: dict[str, Any]
    metrics: dict[str, float]
    class_names: list[str]
    attribute_names: list[str]
    dataset: dict[str, Any] = Field(
        default_factory=dict,
        description="what it was trained on: name, train_size, test_size, fingerprint; for a "
        "folder also test_fraction, skipped and the first skipped_files",
    )
    capabilities: list[str]
    evaluated_with: dict[str, str]
    calibration: dict[str, Any] | None = Field(
        None, description="/score's calibration: method, the held-out split's size, the "
        "threshold for default_fpr and the rate observed on further held-out images",
    )  # fmt: skip
    report: list[str] = Field(description="report images published with the version")
    report_urls: list[str] = Field(
        default_factory=list, description="where to GET each report image (PNG), in order"
    )


class ModelSummary(BaseModel):
    name: str
    versions: list[int]
    aliases: dict[str, int]
    loaded: list[int] = Field(description="versions in this process's memory")
    problem: str | None = Field(
        None,
        description="what cannot be read, if anything (an unreadable aliases file: its "
        "aliases do not resolve; numbered versions and latest still do)",
    )


class ModelDetail(ModelSummary):
    details: list[VersionSummary]
    damaged: list[int] = Field(
        default_factory=list,
        description="versions that are not served: a manifest missing or unreadable, or "
        "files that failed their integrity checks when this worker loaded them",
    )


class TrainingStatus(BaseModel):
    name: str
    epoch: int = Field(description="epochs done")
    epochs: int
    queued: bool = Field(description="waiting for the models before it to finish")
    eta_s: float | None = Field(description="seconds left at the pace so far")
    detail: str


class ModelList(BaseModel):
    models: list[ModelSummary]
    training: list[TrainingStatus] = Field(
        default_factory=list,
        description="models a trainer is training into this store, not yet published",
    )


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    loaded: list[str]
    training: list[str] = Field(
        default_factory=list, description="models still being trained (GET /models: progress)"
    )
    error: str | None = None
    problems: dict[str, str] = Field(
        default_factory=dict,
        description="what is wrong but does not stop serving: an alias whose new version "
        "was refused (the previous one serves on), the alias watcher's last error",
    )
