"""Versioned, immutable model artifacts on a local directory (DESIGN §3)."""

from model_store.artifact import LoadedModel, load_model, load_version, publish_model
from model_store.errors import (
    CorruptArtifact,
    InvalidName,
    ModelNotFound,
    StoreError,
    VersionInUse,
    VersionNotFound,
)
from model_store.local import LocalStore, VersionContent
from model_store.manifest import DatasetInfo, InputSpec, Manifest, TrainingInfo
from model_store.refs import DEFAULT_ALIAS, ModelRef, parse_ref, validate_name

__all__ = [
    "DEFAULT_ALIAS",
    "CorruptArtifact",
    "DatasetInfo",
    "InputSpec",
    "InvalidName",
    "LoadedModel",
    "LocalStore",
    "Manifest",
    "ModelNotFound",
    "ModelRef",
    "StoreError",
    "TrainingInfo",
    "VersionContent",
    "VersionInUse",
    "VersionNotFound",
    "load_model",
    "load_version",
    "parse_ref",
    "publish_model",
    "validate_name",
]
