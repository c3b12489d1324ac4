"""Versioned, immutable model artifacts on a local directory or an S3-compatible bucket
(the README's "Where models live" and "Scaling out")."""

from model_store.errors import (
    CorruptArtifact,
    InvalidName,
    ModelNotFound,
    StoreError,
    VersionInUse,
    VersionNotFound,
    WriteRefused,
)
from model_store.local import LocalStore
from model_store.location import open_store
from model_store.manifest import (
    Calibration,
    Crop,
    DatasetInfo,
    InputSpec,
    Manifest,
    TrainingInfo,
    TrainingSettings,
)
from model_store.refs import DEFAULT_ALIAS, ModelRef, parse_ref, validate_name
from model_store.store import Store, VersionContent

# Loading and publishing models needs torch; the rest of the store (and its CLI's list,
# show, promote, delete, clean) does not, so those names are imported on first use.
_NEEDS_TORCH = {"LoadedModel", "load_model", "load_version", "publish_model"}


def __getattr__(name: str) -> object:
    if name in _NEEDS_TORCH:
        from model_store import artifact

        return getattr(artifact, name)
    raise AttributeError(f"module 'model_store' has no attribute {name!r}")


__all__ = [
    "DEFAULT_ALIAS",
    "Calibration",
    "CorruptArtifact",
    "Crop",
    "DatasetInfo",
    "InputSpec",
    "InvalidName",
    "LoadedModel",
    "LocalStore",
    "Manifest",
    "ModelNotFound",
    "ModelRef",
    "Store",
    "StoreError",
    "TrainingInfo",
    "TrainingSettings",
    "VersionContent",
    "VersionInUse",
    "VersionNotFound",
    "WriteRefused",
    "load_model",
    "load_version",
    "open_store",
    "parse_ref",
    "publish_model",
    "validate_name",
]
