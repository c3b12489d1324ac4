"""Variational autoencoder (Kingma & Welling, 2013, https://arxiv.org/abs/1312.6114).

Four short methods in the manner of pytorch/examples' vae/main.py: encode,
reparameterize, decode, forward. The backbone (fully connected or conv) is
configuration.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from autoencoders.backbones import DecoderBody, EncoderBody
from autoencoders.config import MAX_SHARPNESS, ModelConfig
from autoencoders.encoding import Encoding, Reconstruction
from autoencoders.latent import sample_mixture


class MixturePrior(nn.Module):
    """A learned prior: a mixture of K diagonal Gaussians over the code, trained with the
    rest of the model on the ELBO (the mixture-of-Gaussians prior Tomczak and Welling, 2018,
    compare with their VampPrior). It moves the prior to where the codes are, which the
    standard normal cannot; the KL term is then estimated from the sampled code."""

    def __init__(self, components: int, dim: int) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(0)
        self.logits = nn.Parameter(torch.zeros(components))
        self.means = nn.Parameter(torch.randn(components, dim, generator=gen))
        self.logvars = nn.Parameter(torch.zeros(components, dim))

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z) per row, in nats."""
        # The squared distance expanded into matrix products: (z - m)^2 / v summed over the
        # code is z^2 . 1/v - 2 z . m/v + m^2 . 1/v, with no (N, K, D) tensor.
        precision = torch.exp(-self.logvars)  # (K, D)
        scaled_means = self.means * precision
        distance = (
            z.pow(2) @ precision.T - 2 * z @ scaled_means.T + (self.means * scaled_means).sum(1)
        )  # (N, K)
        constant = self.logvars.sum(1) + self.means.shape[1] * math.log(2 * math.pi)
        log_components = -0.5 * (distance + constant) + torch.log_softmax(self.logits, 0)
        return torch.logsumexp(log_components, dim=1)

    def sample(
        self, count: int, generator: torch.Generator | None = None, temperature: float = 1.0
    ) -> torch.Tensor:
        """Pick a component by weight, then draw from it; temperature scales its spread.
        The fitted mixtures' sampler (`latent.sample_mixture`), with diagonal spreads."""
        device = self.logits.device
        where = generator.device if generator is not None else device
        weights = torch.softmax(self.logits.detach(), 0).to(where)
        scale_trils = torch.diag_embed(torch.exp(0.5 * self.logvars.detach())).to(where)
        means = self.means.detach().to(where)
        return sample_mixture(weights, means, scale_trils, count, generator, temperature).to(device)


def _standard_normal(
    shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device
) -> torch.Tensor:
    """N(0, I) noise drawn by `generator` (wherever it lives), returned on `device`."""
    where = generator.device if generator is not None else device
    return torch.randn(shape, generator=generator, device=where).to(device)


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
        components = config.prior_components
        self.prior = MixturePrior(components, config.latent_dim) if components else None

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

    def sample_codes(
        self, count: int, generator: torch.Generator | None = None, temperature: float = 1.0
    ) -> torch.Tensor:
        """`count` codes from the prior: the learned mixture, else N(0, I); temperature
        scales the spread (1 is the prior)."""
        if self.prior is not None:
            return self.prior.sample(count, generator, temperature)
        shape = (count, self.config.latent_dim)
        return temperature * _standard_normal(shape, generator, self.to_mu.weight.device)

    def learned_log_prior(self, z: torch.Tensor) -> torch.Tensor | None:
        """log p(z) per row under the learned mixture; None with the N(0, I) prior, whose
        terms the losses write in closed form."""
        return None if self.prior is None else self.prior.log_prob(z)

    def decode_logits(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.decoder(z, self.condition(labels))

    def decode(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """The images: the decoder's Bernoulli means, drawn at the config's sharpness (1: the
        means themselves). The likelihood, and so every score, reads `decode_logits`."""
        logits = self.decode_logits(z, labels)
        sharpness = self.config.sharpness
        return torch.sigmoid(logits if sharpness == 1.0 else logits * sharpness)

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


def matching_sharpness(logits: torch.Tensor, images: torch.Tensor) -> float:
    """The sharpness s (1 to MAX_SHARPNESS) at which the images sigmoid(s x logits) hold as
    much grey as `images` do, grey measured as the mean of min(p, 1 - p) per pixel: a
    Bernoulli decoder's means of the images (their reconstructions) are greyer, so blurred.
    Their grey, mean(sigmoid(-s |logits|)), falls as s grows: found by bisection. 1 when
    the means are no greyer than the images."""
    target = float(torch.minimum(images, 1 - images).mean())
    magnitude = logits.abs().flatten()

    def grey(s: float) -> float:
        return float(torch.sigmoid(-s * magnitude).mean())

    if grey(1.0) <= target:
        return 1.0
    if grey(MAX_SHARPNESS) >= target:
        return MAX_SHARPNESS
    low, high = 1.0, MAX_SHARPNESS
    for _ in range(30):
        mid = (low + high) / 2
        low, high = (mid, high) if grey(mid) > target else (low, mid)
    return round((low + high) / 2, 3)
