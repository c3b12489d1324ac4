"""Encoder and decoder bodies shared by every family.

An encoder body maps images (and optionally a one-hot condition) to a
feature vector; a decoder body maps a code (and optionally a condition) to
pixel logits of exactly the configured shape. Heads (a code, or a mean and a
log-variance) belong to the families.
"""

from __future__ import annotations

import math
from itertools import pairwise

import torch
import torch.nn.functional as F
from torch import nn

from autoencoders.config import ModelConfig

_ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "silu": nn.SiLU}


def _mlp(
    widths: list[int], dropout: float = 0.0, last_activation: bool = True, activation: str = "relu"
) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(pairwise(widths)):
        layers.append(nn.Linear(a, b))
        if i < len(widths) - 2 or last_activation:
            layers.append(_ACTIVATIONS[activation]())
            if dropout:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


class ConditionedMLP(nn.Module):
    """A decoder MLP whose every layer also reads the condition (a one-hot class): the
    label stays within reach of the output, so the decoder has no reason to look for the
    class in the code. widths[0] is the code alone; the condition is added to every input."""

    def __init__(self, widths: list[int], condition_dim: int, activation: str) -> None:
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(a + condition_dim, b) for a, b in pairwise(widths))
        self.act = _ACTIVATIONS[activation]()

    def forward(self, h: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            h = layer(torch.cat([h, condition], dim=1))
            if i < len(self.layers) - 1:
                h = self.act(h)
        return h


def _norm(kind: str, channels: int) -> nn.Module:
    return nn.BatchNorm2d(channels) if kind == "batch" else nn.Identity()


def conv_sizes(size: int, stages: int) -> list[int]:
    """Spatial sizes after each stride-2 stage: 28 -> [28, 14, 7], 45 -> [45, 23, 12]."""
    sizes = [size]
    for _ in range(stages):
        sizes.append(math.ceil(sizes[-1] / 2))
    return sizes


class EncoderBody(nn.Module):
    def __init__(self, config: ModelConfig, condition_dim: int = 0) -> None:
        super().__init__()
        self.conv: nn.Module
        act = _ACTIVATIONS[config.activation]
        if config.effective_backbone == "conv":
            chans = [config.channels, *config.conv_channels]
            stages: list[nn.Module] = []
            for a, b in pairwise(chans):
                stages.append(nn.Conv2d(a, b, kernel_size=3, stride=2, padding=1))
                if config.norm != "none":  # no module at all: older weights keep their keys
                    stages.append(_norm(config.norm, b))
                stages.append(act())
            self.conv = nn.Sequential(*stages)
            hs = conv_sizes(config.height, len(config.conv_channels))[-1]
            ws = conv_sizes(config.width, len(config.conv_channels))[-1]
            flat = chans[-1] * hs * ws
        else:
            self.conv = nn.Identity()
            flat = config.channels * config.height * config.width
        self.mlp = _mlp([flat + condition_dim, *config.hidden], config.dropout,
                        activation=config.activation)  # fmt: skip
        self.out_features = config.hidden[-1] if config.hidden else flat + condition_dim

    def forward(self, x: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        h = self.conv(x).flatten(1)
        if condition is not None:
            h = torch.cat([h, condition], dim=1)
        return self.mlp(h)


def _with_planes(h: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
    """The condition appended to a feature map as constant planes."""
    return torch.cat([h, condition[:, :, None, None].expand(-1, -1, *h.shape[2:])], dim=1)


class UpsampleStage(nn.Module):
    """A decoder stage without a transposed conv: normalise and activate the input (at the
    small size, where it is cheap), add the condition planes, upsample it to `size` by
    repeating pixels (None: keep the size), then a 3x3 conv."""

    def __init__(
        self, a: int, b: int, condition_dim: int, size: tuple[int, int] | None, config: ModelConfig
    ) -> None:
        super().__init__()
        self.norm = _norm(config.norm, a)
        self.act = _ACTIVATIONS[config.activation]()
        self.conv = nn.Conv2d(a + condition_dim, b, kernel_size=3, padding=1)
        self.size = size

    def forward(self, h: torch.Tensor, condition: torch.Tensor | None) -> torch.Tensor:
        h = self.act(self.norm(h))
        if condition is not None:
            h = _with_planes(h, condition)
        if self.size is not None:
            h = F.interpolate(h, size=self.size, mode="nearest")
        return self.conv(h)


class DecoderBody(nn.Module):
    """Code (plus condition) to pixel logits of shape (channels, height, width).

    A condition (a one-hot class) enters the first layer and, in the conv body, every
    upsampling stage as constant planes: a label reachable everywhere is one the decoder
    cannot learn to ignore in favour of class hints leaked into the code.
    """

    def __init__(self, config: ModelConfig, condition_dim: int = 0) -> None:
        super().__init__()
        self.shape = config.input_shape
        self.act = _ACTIVATIONS[config.activation]()
        self.all_layers = bool(condition_dim) and config.condition_all_layers
        self.nearest = config.upsample == "nearest"
        widths = [config.latent_dim + condition_dim,
                  *(config.decoder_hidden or reversed(config.hidden))]  # fmt: skip
        if self.all_layers:
            widths[0] = config.latent_dim  # ConditionedMLP adds the condition to every layer
        self.stages = nn.ModuleList()
        self.norms = nn.ModuleList()  # transposed stages' (none for "none": no new keys)
        self.head: UpsampleStage | None = None
        self.mlp: nn.Module
        if config.effective_backbone == "conv":
            hsz = conv_sizes(config.height, len(config.conv_channels))
            wsz = conv_sizes(config.width, len(config.conv_channels))
            widths_c = list(config.decoder_channels)
            if widths_c:  # the stages end at the last width; a full-size conv makes the image
                in_chans, out_chans = widths_c[:-1], widths_c[1:]
                self.head = UpsampleStage(widths_c[-1], config.channels, condition_dim, None,
                                          config)  # fmt: skip
            else:
                in_chans = list(reversed(config.conv_channels))
                out_chans = [*in_chans[1:], config.channels]
            self.grid = (in_chans[0], hsz[-1], wsz[-1])
            # An upsampling stage activates its own input, so the grid comes out linear.
            self.mlp = self._mlp([*widths, math.prod(self.grid)], not self.nearest, config,
                                 condition_dim)  # fmt: skip
            for i, (a, b) in enumerate(zip(in_chans, out_chans, strict=True)):
                src_h, dst_h = hsz[-1 - i], hsz[-2 - i]
                src_w, dst_w = wsz[-1 - i], wsz[-2 - i]
                if self.nearest:
                    self.stages.append(UpsampleStage(a, b, condition_dim, (dst_h, dst_w), config))
                    continue
                # Stage i grows size s -> 2s - 1 + output_padding; pick the padding
                # that lands exactly on the encoder's size at that depth.
                pad = (dst_h - (2 * src_h - 1), dst_w - (2 * src_w - 1))
                self.stages.append(
                    nn.ConvTranspose2d(
                        a + condition_dim, b, kernel_size=3, stride=2, padding=1, output_padding=pad
                    )
                )
                if config.norm != "none" and i < len(in_chans) - 1:  # head: its own
                    self.norms.append(_norm(config.norm, b))
        else:
            self.grid = None
            self.mlp = self._mlp([*widths, math.prod(config.input_shape)], False, config,
                                 condition_dim)  # fmt: skip

    def _mlp(
        self, widths: list[int], last_activation: bool, config: ModelConfig, condition_dim: int
    ) -> nn.Module:
        if self.all_layers:  # its last activation, if any, is applied in forward
            return ConditionedMLP(widths, condition_dim, config.activation)
        return _mlp(widths, last_activation=last_activation, activation=config.activation)

    def output_layer(self) -> nn.Module:
        """The layer whose bias is the logit every pixel starts from."""
        if self.head is not None:
            return self.head.conv
        if self.stages:
            return self.stages[-1].conv if self.nearest else self.stages[-1]
        return self.mlp.layers[-1] if self.all_layers else self.mlp[-1]

    @torch.no_grad()
    def init_output_bias(self, mean_image: torch.Tensor) -> None:
        """Start the decoder at the data's mean image (its logit per pixel, or per channel
        for a conv body) instead of grey: the first steps then learn digits, not the
        background."""
        p = mean_image.clamp(1e-3, 1 - 1e-3)
        if self.stages:
            p = p.flatten(1).mean(1)
        self.output_layer().bias.copy_(torch.log(p / (1 - p)).flatten())

    def forward(self, z: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        if self.all_layers:
            if condition is None:
                raise ValueError("this decoder needs its condition")
            h = self.mlp(z, condition)
            h = self.act(h) if self.grid is not None and not self.nearest else h
        else:
            if condition is not None:
                z = torch.cat([z, condition], dim=1)
            h = self.mlp(z)
        if self.grid is None:
            return h.view(-1, *self.shape)
        h = h.view(-1, *self.grid)
        for i, stage in enumerate(self.stages):
            if self.nearest:
                h = stage(h, condition)
                continue
            h = stage(h if condition is None else _with_planes(h, condition))
            if i < len(self.stages) - 1:
                h = self.act(self.norms[i](h) if self.norms else h)
        return h if self.head is None else self.head(h, condition)
