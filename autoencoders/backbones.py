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
                stages += [nn.Conv2d(a, b, kernel_size=3, stride=2, padding=1), act()]
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
        widths = [config.latent_dim + condition_dim, *reversed(config.hidden)]
        if self.all_layers:
            widths[0] = config.latent_dim  # ConditionedMLP adds the condition to every layer
        self.stages = nn.ModuleList()
        self.mlp: nn.Module
        if config.effective_backbone == "conv":
            chans = list(config.conv_channels)
            hsz = conv_sizes(config.height, len(chans))
            wsz = conv_sizes(config.width, len(chans))
            self.grid = (chans[-1], hsz[-1], wsz[-1])
            self.mlp = self._mlp([*widths, chans[-1] * hsz[-1] * wsz[-1]], True, config,
                                 condition_dim)  # fmt: skip
            out_chans = [*reversed(chans[:-1]), config.channels]
            in_chans = list(reversed(chans))
            for i, (a, b) in enumerate(zip(in_chans, out_chans, strict=True)):
                # Stage i grows size s -> 2s - 1 + output_padding; pick the padding
                # that lands exactly on the encoder's size at that depth.
                src_h, dst_h = hsz[-1 - i], hsz[-2 - i]
                src_w, dst_w = wsz[-1 - i], wsz[-2 - i]
                pad = (dst_h - (2 * src_h - 1), dst_w - (2 * src_w - 1))
                self.stages.append(
                    nn.ConvTranspose2d(
                        a + condition_dim, b, kernel_size=3, stride=2, padding=1, output_padding=pad
                    )
                )
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
        if self.stages:
            return self.stages[-1]
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
            h = h if self.grid is None else self.act(h)
        else:
            if condition is not None:
                z = torch.cat([z, condition], dim=1)
            h = self.mlp(z)
        if self.grid is None:
            return h.view(-1, *self.shape)
        h = h.view(-1, *self.grid)
        for i, stage in enumerate(self.stages):
            if condition is not None:
                planes = condition[:, :, None, None].expand(-1, -1, *h.shape[2:])
                h = torch.cat([h, planes], dim=1)
            h = stage(h)
            if i < len(self.stages) - 1:
                h = self.act(h)
        return h
