"""The settings of one `python -m trainer train` run, and the command line made from them.

Three typed objects hold every setting, each field written once:

- `ModelConfig` (autoencoders): the architecture, stored in the manifest as `config`;
- `TrainingSettings` (model_store): the optimisation, stored whole as `training`;
- `DataSettings` and `JobSettings` (here): where the images come from, and what to publish.

`add_flags` makes one flag per field (`--batch-size` for `batch_size`, the field's default
and description in `--help`), so a new option is one field and the parser cannot drift from
what `train()` takes and the manifest stores.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from autoencoders import FAMILIES, ModelConfig, family_of
from model_store import TrainingSettings

# Short spellings kept from earlier versions of the CLI.
SHORT_FLAGS = {"learning_rate": "--lr", "latent_dim": "--latent"}


class DataSettings(BaseModel):
    """Where the training images come from and how they are prepared."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    dataset: str = Field("mnist-sample", description="what to train on (the list above)")
    data_dir: str = Field("data", description="where `mnist` and `lfw-download` download to")
    class_names: tuple[str, ...] = Field((), description="comma-separated, for idx:<dir>")
    limit_train: int | None = Field(None, ge=1, description="train on an evenly spread subset")
    limit_test: int | None = Field(None, ge=1, description="evaluate on an evenly spread subset")
    image_size: tuple[int, ...] = Field(
        (), description="folders: HEIGHT,WIDTH (or one SIDE) to resize to (default: from the data)"
    )
    channels: int | None = Field(
        None, ge=1, le=3, description="folders: 1 (grey) or 3 (RGB) (default: from the data)"
    )
    crop: str | None = Field(
        None, description="folders: LEFT,TOP,RIGHT,BOTTOM@WIDTH,HEIGHT cut before resizing, "
        "scaled to each image (e.g. 40,40,210,210@250,250)",
    )  # fmt: skip
    test_fraction: float = Field(0.1, gt=0, lt=1, description="folders: share held out, per class")
    max_bad_fraction: float = Field(
        0.01, ge=0, le=1, description="folders: refuse to train past this share of bad files"
    )
    cache_dir: str = Field(
        ".cache/ae-datasets", description="folders: where decoded images are cached"
    )


class JobSettings(BaseModel):
    """What the run publishes, and where it computes."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(description="model name in the store, e.g. mnist-vae")
    device: str = Field("auto", description="auto (GPU when present), cpu, cuda, cuda:1")
    classifier: str | None = Field(
        None, description="classifier ref that judges a CVAE's conditional accuracy"
    )
    alias: tuple[str, ...] = Field((), description="aliases to point at the new version")
    no_promote: bool = Field(False, description="do not make a first version production")


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from None


def _strings(text: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in text.split(",") if v.strip())


def _flag(parser: argparse._ActionsContainer, name: str, kind: Any, default: Any, about: str,
          choices: tuple[str, ...] = (), required: bool = False) -> None:  # fmt: skip
    flags = [f"--{name.replace('_', '-')}"] + ([SHORT_FLAGS[name]] if name in SHORT_FLAGS else [])
    origin = typing.get_origin(kind)
    args = [a for a in typing.get_args(kind) if a is not type(None)]
    if origin in (typing.Union, types.UnionType) and len(args) == 1:  # X | None
        kind, origin, args = args[0], typing.get_origin(args[0]), typing.get_args(args[0])
    if origin is Literal:
        kind, choices = str, tuple(args)
    shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
    shown = "none" if shown in ("", None) else shown
    help_text = about if required or kind is bool else f"{about} (default: {shown})"
    common: dict[str, Any] = {"dest": name, "help": help_text, "default": default}
    if kind is bool:
        parser.add_argument(*flags, action="store_true", **common)
        return
    if name == "alias":
        parser.add_argument(*flags, action="append", type=str, metavar="ALIAS",
                            **{**common, "default": []})  # fmt: skip
        return
    if origin is tuple:
        convert, metavar = (_ints, "N,N,...") if args[0] is int else (_strings, "A,B,...")
    else:
        convert = kind
        metavar = {int: "N", float: "X"}.get(kind, name.split("_")[-1].upper())
    parser.add_argument(*flags, type=convert, metavar=None if choices else metavar,
                        choices=choices or None, required=required, **common)  # fmt: skip


def add_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per field of the four settings objects, in groups."""
    job = parser.add_argument_group("what to publish")
    for name, f in JobSettings.model_fields.items():
        default = None if f.is_required() else f.get_default(call_default_factory=True)
        _flag(job, name, f.annotation, default, f.description or name, required=f.is_required())
    arch = parser.add_argument_group("architecture (stored as the manifest's config)")
    hints = typing.get_type_hints(ModelConfig)
    for f in dataclasses.fields(ModelConfig):
        if f.metadata.get("fitted"):
            continue
        required = f.default is dataclasses.MISSING
        choices = FAMILIES if f.name == "family" else f.metadata.get("choices", ())
        _flag(arch, f.name, hints[f.name], None if required else f.default, f.metadata["help"],
              choices, required)  # fmt: skip
    for title, model in (("training (stored as the manifest's training)", TrainingSettings),
                         ("data", DataSettings)):  # fmt: skip
        group = parser.add_argument_group(title)
        for name, f in model.model_fields.items():
            _flag(group, name, f.annotation, f.get_default(call_default_factory=True),
                  f.description or name)  # fmt: skip


def _pick(args: argparse.Namespace, names) -> dict[str, Any]:
    return {n: getattr(args, n) for n in names if hasattr(args, n)}


def settings_from_args(
    args: argparse.Namespace,
) -> tuple[JobSettings, ModelConfig, TrainingSettings, DataSettings]:
    """The four settings objects a parsed `train` command line describes. The config's input
    shape and class count are placeholders, fitted to the data when the run starts."""
    values = _pick(args, (f.name for f in dataclasses.fields(ModelConfig)
                          if not f.metadata.get("fitted")))  # fmt: skip
    needs_classes = family_of(values["family"]).needs_classes
    config = ModelConfig(**values, num_classes=2 if needs_classes else 0)
    return (
        JobSettings(**_pick(args, JobSettings.model_fields)),
        config,
        TrainingSettings(**_pick(args, TrainingSettings.model_fields)),
        DataSettings(**_pick(args, DataSettings.model_fields)),
    )
