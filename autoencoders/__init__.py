"""Autoencoder modules and their latent math. No files, no HTTP: tensors in, tensors out."""

from __future__ import annotations

from torch import nn

from autoencoders.ae import Autoencoder
from autoencoders.classifier import Classifier
from autoencoders.config import ACTIVATIONS, FAMILIES, NORMS, UPSAMPLES, ModelConfig
from autoencoders.encoding import Encoding, Reconstruction
from autoencoders.vae import CVAE, VAE

_FAMILY_CLASSES: dict[str, type[nn.Module]] = {
    "linear-ae": Autoencoder,
    "conv-ae": Autoencoder,
    "vae": VAE,
    "cvae": CVAE,
    "classifier": Classifier,
}


def build_model(config: ModelConfig) -> nn.Module:
    """Rebuild a model from its config alone (weights are loaded separately)."""
    return _FAMILY_CLASSES[config.family](config)


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
    "ModelConfig",
    "Reconstruction",
    "build_model",
]
