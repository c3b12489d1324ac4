"""Autoencoder modules and their latent math. No files, no HTTP: tensors in, tensors out."""

from __future__ import annotations

from torch import nn

from autoencoders.ae import Autoencoder
from autoencoders.classifier import Classifier
from autoencoders.config import ACTIVATIONS, NORMS, UPSAMPLES, ModelConfig
from autoencoders.encoding import Encoding, Reconstruction
from autoencoders.families import FAMILY_TABLE, Family, family_of
from autoencoders.vae import CVAE, VAE

FAMILIES = tuple(FAMILY_TABLE)


def build_model(config: ModelConfig) -> nn.Module:
    """Rebuild a model from its config alone (weights are loaded separately)."""
    return family_of(config).module(config)


__all__ = [
    "ACTIVATIONS",
    "FAMILIES",
    "NORMS",
    "UPSAMPLES",
    "CVAE",
    "VAE",
    "Autoencoder",
    "Classifier",
    "Encoding",
    "FAMILY_TABLE",
    "Family",
    "ModelConfig",
    "Reconstruction",
    "build_model",
    "family_of",
]
