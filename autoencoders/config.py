"""The one constructor argument of every model: a small frozen config.

A model is rebuilt from its config alone (the config is stored in the
artifact's manifest), so everything that shapes the weights lives here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

FAMILIES = ("linear-ae", "conv-ae", "vae", "cvae", "classifier")
BACKBONES = ("linear", "conv")
ACTIVATIONS = ("relu", "silu")
NORMS = ("none", "batch")
UPSAMPLES = ("transposed", "nearest")


@dataclass(frozen=True)
class ModelConfig:
    family: str
    channels: int = 1
    height: int = 28
    width: int = 28
    latent_dim: int = 20
    # Widths of the fully connected layers between the input (or the conv
    # feature map) and the code; the decoder mirrors them.
    hidden: tuple[int, ...] = (400,)
    # The decoder's fully connected widths, from the code outward; empty mirrors `hidden`.
    # A wider, shallower encoder than decoder infers codes that hold up on images it was
    # not trained on (bench/vae_quality.py).
    decoder_hidden: tuple[int, ...] = ()
    # Channels of the stride-2 conv stages; used by "conv" backbones.
    conv_channels: tuple[int, ...] = (32, 64)
    # VAE and CVAE pick their backbone; "linear-ae" and "conv-ae" imply theirs.
    backbone: str = "conv"
    num_classes: int = 0
    dropout: float = 0.0
    # Classifier only: independent yes/no outputs (face attributes) instead of one class.
    multilabel: bool = False
    # Of the autoencoders' fully connected and conv layers (classifiers keep ReLU).
    activation: str = "relu"
    # Conditional families: the one-hot class enters every fully connected decoder layer,
    # not only the first (conv stages always receive it).
    condition_all_layers: bool = False
    # Conv bodies: "batch" normalises every conv stage but the decoder's last (BatchNorm).
    norm: str = "none"
    # How a conv decoder stage doubles the size: a stride-2 transposed conv, or
    # nearest-neighbour upsampling then a 3x3 conv (no checkerboard; Odena et al., 2016).
    upsample: str = "transposed"
    # Conv decoders: the width of the grid the code is mapped to, then of each stage's
    # output, then a 3x3 conv to the image at full size; empty mirrors conv_channels (the
    # last stage outputs the image).
    decoder_channels: tuple[int, ...] = ()
    # VAEs: 0 keeps the standard normal prior; K > 0 learns a mixture of K diagonal
    # Gaussians as the prior (autoencoders.vae.MixturePrior).
    prior_components: int = 0

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"unknown family {self.family!r}; known: {', '.join(FAMILIES)}")
        if self.backbone not in BACKBONES:
            raise ValueError(f"unknown backbone {self.backbone!r}; known: {', '.join(BACKBONES)}")
        for field, known in (("activation", ACTIVATIONS), ("norm", NORMS),
                             ("upsample", UPSAMPLES)):  # fmt: skip
            value = getattr(self, field)
            if value not in known:
                raise ValueError(f"unknown {field} {value!r}; known: {', '.join(known)}")
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
        if self.prior_components and self.family not in ("vae", "cvae"):
            raise ValueError("prior_components is for the vae and cvae families")
        if min(self.channels, self.height, self.width, self.latent_dim) < 1:
            raise ValueError("channels, height, width and latent_dim must be positive")
        if self.family in ("cvae", "classifier") and self.num_classes < 2:
            raise ValueError(f"{self.family} needs num_classes >= 2")

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (self.channels, self.height, self.width)

    @property
    def effective_backbone(self) -> str:
        if self.family == "linear-ae":
            return "linear"
        if self.family in ("conv-ae", "classifier"):
            return "conv"
        return self.backbone

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
