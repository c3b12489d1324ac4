"""Variational autoencoder (Kingma & Welling, 2013, https://arxiv.org/abs/1312.6114).

Four short methods in the manner of pytorch/examples' vae/main.py: encode,
reparameterize, decode, forward. The backbone (fully connected or conv) is
configuration.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from autoencoders.backbones import DecoderBody, EncoderBody
from autoencoders.config import ModelConfig
from autoencoders.encoding import Encoding, Reconstruction


class VAE(nn.Module):
    conditional = False
    variational = True

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        cond = self.condition_dim
        self.encoder = EncoderBody(config, condition_dim=cond)
        self.to_mu = nn.Linear(self.encoder.out_features, config.latent_dim)
        self.to_logvar = nn.Linear(self.encoder.out_features, config.latent_dim)
        self.decoder = DecoderBody(config, condition_dim=cond)

    @property
    def condition_dim(self) -> int:
        return 0

    def condition(self, labels: torch.Tensor | None) -> torch.Tensor | None:
        return None

    def encode(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> Encoding:
        h = self.encoder(x, self.condition(labels))
        mu, logvar = self.to_mu(h), self.to_logvar(h)
        return Encoding(z=mu, mu=mu, logvar=logvar)

    @staticmethod
    def reparameterize(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        std = torch.exp(0.5 * logvar)
        return mu + std * torch.randn_like(std)

    def decode_logits(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.decoder(z, self.condition(labels))

    def decode(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return torch.sigmoid(self.decode_logits(z, labels))

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> Reconstruction:
        enc = self.encode(x, labels)
        z = self.reparameterize(enc.mu, enc.logvar) if self.training else enc.mu
        return Reconstruction(self.decode_logits(z, labels), enc)


class CVAE(VAE):
    """Conditional VAE (Sohn et al., 2015): the class, one-hot, enters encoder and decoder."""

    conditional = True

    @property
    def condition_dim(self) -> int:
        return self.config.num_classes

    def condition(self, labels: torch.Tensor | None) -> torch.Tensor:
        if labels is None:
            raise ValueError("a conditional VAE needs labels")
        return F.one_hot(labels.long(), self.config.num_classes).float()
