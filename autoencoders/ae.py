"""Plain autoencoders: fully connected ("linear") or convolutional, by config."""

from __future__ import annotations

import torch
from torch import nn

from autoencoders.backbones import DecoderBody, EncoderBody
from autoencoders.config import ModelConfig
from autoencoders.encoding import Encoding, Reconstruction


class Autoencoder(nn.Module):
    conditional = False
    variational = False

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = EncoderBody(config)
        self.to_code = nn.Linear(self.encoder.out_features, config.latent_dim)
        self.decoder = DecoderBody(config)

    def encode(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> Encoding:
        z = self.to_code(self.encoder(x))
        return Encoding(z=z, mu=z, logvar=None)

    def decode_logits(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.decoder(z)

    def decode(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return torch.sigmoid(self.decode_logits(z, labels))

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> Reconstruction:
        enc = self.encode(x, labels)
        return Reconstruction(self.decode_logits(enc.z, labels), enc)
