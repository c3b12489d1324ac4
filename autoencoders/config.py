"""The one constructor argument of every model: a small frozen config.

A model is rebuilt from its config alone (the config is stored in the
artifact's manifest), so everything that shapes the weights lives here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

BACKBONES = ("linear", "conv")
ACTIVATIONS = ("relu", "silu")
NORMS = ("none", "batch")
UPSAMPLES = ("transposed", "nearest")
MAX_SHARPNESS = 8.0


def _setting(default: Any, about: str, choices: tuple[str, ...] = (), fitted: bool = False):
    """A config field with what `python -m trainer train --help` says of it; `fitted` fields
    are set from the data, not by a flag."""
    return field(default=default, metadata={"help": about, "choices": choices, "fitted": fitted})


@dataclass(frozen=True)
class ModelConfig:
    # One of autoencoders.families.FAMILY_TABLE's rows (the table says what each can do).
    family: str = field(metadata={"help": "what to train", "choices": (), "fitted": False})
    channels: int = _setting(1, "input channels", fitted=True)
    height: int = _setting(28, "input height", fitted=True)
    width: int = _setting(28, "input width", fitted=True)
    latent_dim: int = _setting(20, "latent size")
    hidden: tuple[int, ...] = _setting(
        (256,), "fully connected widths between the input (or conv feature map) and the code"
    )
    # A wider, shallower encoder than decoder infers codes that hold up on images it was
    # not trained on (bench/vae_quality.py).
    decoder_hidden: tuple[int, ...] = _setting(
        (), "the decoder's fully connected widths from the code out (empty: hidden mirrored)"
    )
    conv_channels: tuple[int, ...] = _setting((32, 64), "channels of the stride-2 conv stages")
    # VAE and CVAE pick their backbone; "linear-ae" and "conv-ae" imply theirs.
    backbone: str = _setting("conv", "VAE/CVAE body", BACKBONES)
    num_classes: int = _setting(0, "classes (CVAE, classifier)", fitted=True)
    dropout: float = _setting(0.0, "dropout rate")
    multilabel: bool = _setting(False, "classifier: independent yes/no outputs (attributes)")
    activation: str = _setting("relu", "the autoencoders' activation", ACTIVATIONS)
    condition_all_layers: bool = _setting(
        False, "CVAE: the class enters every decoder layer, not only the first"
    )
    norm: str = _setting("none", "conv stages' normalisation (batch: BatchNorm)", NORMS)
    # Nearest-neighbour upsampling then a 3x3 conv has no checkerboard (Odena et al., 2016).
    upsample: str = _setting("transposed", "how a conv decoder stage doubles the size", UPSAMPLES)
    decoder_channels: tuple[int, ...] = _setting(
        (), "conv decoder: grid width, then each stage's; a full-size conv makes the image "
        "(empty: the encoder mirrored)"
    )
    prior_components: int = _setting(
        0, "VAE/CVAE: learn a mixture of this many Gaussians as the prior (0: N(0, I))"
    )
    # A Bernoulli decoder's mean of grey pixels is greyer than the images it learned, and so
    # blurred; its images are drawn sharper, as grey as the training images (set at publish,
    # autoencoders.vae.matching_sharpness). 1: the mean itself (versions published before).
    sharpness: float = _setting(
        1.0, "VAE/CVAE: images are sigmoid(sharpness x decoder logits)", fitted=True
    )

    def __post_init__(self) -> None:
        from autoencoders.families import FAMILY_TABLE  # the table imports the modules

        if self.family not in FAMILY_TABLE:
            raise ValueError(f"unknown family {self.family!r}; known: {', '.join(FAMILY_TABLE)}")
        family = FAMILY_TABLE[self.family]
        if self.backbone not in BACKBONES:
            raise ValueError(f"unknown backbone {self.backbone!r}; known: {', '.join(BACKBONES)}")
        for name, known in (("activation", ACTIVATIONS), ("norm", NORMS),
                            ("upsample", UPSAMPLES)):  # fmt: skip
            value = getattr(self, name)
            if value not in known:
                raise ValueError(f"unknown {name} {value!r}; known: {', '.join(known)}")
        if self.decoder_channels and (
            len(self.decoder_channels) != len(self.conv_channels) + 1
            or min(self.decoder_channels) < 1
        ):
            raise ValueError(
                "decoder_channels needs the grid's width and one per conv stage, all positive "
                f"({len(self.conv_channels) + 1}), got {list(self.decoder_channels)}"
            )
        if min(self.hidden + self.decoder_hidden, default=1) < 1:
            raise ValueError("hidden and decoder_hidden widths must be positive")
        if self.prior_components < 0:
            raise ValueError(f"prior_components must be 0 or more, got {self.prior_components}")
        if not 1.0 <= self.sharpness <= MAX_SHARPNESS:
            raise ValueError(f"sharpness must be 1 to {MAX_SHARPNESS}, got {self.sharpness}")
        if self.sharpness != 1.0 and not family.variational:
            raise ValueError("sharpness is for the variational families (vae, cvae)")
        if self.prior_components and not family.variational:
            raise ValueError("prior_components is for the variational families (vae, cvae)")
        if min(self.channels, self.height, self.width, self.latent_dim) < 1:
            raise ValueError("channels, height, width and latent_dim must be positive")
        if family.needs_classes and self.num_classes < 2:
            raise ValueError(f"{self.family} needs num_classes >= 2")

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (self.channels, self.height, self.width)

    @property
    def effective_backbone(self) -> str:
        from autoencoders.families import FAMILY_TABLE

        return FAMILY_TABLE[self.family].backbone or self.backbone

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown config keys: {sorted(unknown)}")
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return cls(**values)
