"""A small convnet that names the class of an image.

Not an autoencoder: it is the judge that makes a CVAE's "draw me a 7"
measurable (conditional accuracy), published as its own artifact so every
evaluation can name the exact classifier it used.
"""

from __future__ import annotations

from itertools import pairwise

import torch
from torch import nn

from autoencoders.config import ModelConfig


class Classifier(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        chans = [config.channels, *config.conv_channels]
        layers: list[nn.Module] = []
        h, w = config.height, config.width
        for a, b in pairwise(chans):
            layers += [nn.Conv2d(a, b, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
            h, w = h // 2, w // 2
        self.features = nn.Sequential(*layers)
        width = config.hidden[-1] if config.hidden else 128
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(chans[-1] * h * w, width),
            nn.ReLU(),
            nn.Dropout(config.dropout),
            nn.Linear(width, config.num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))
