"""Test-split metrics that go into the manifest."""

from __future__ import annotations

import torch
from torch import nn

from autoencoders import ModelConfig
from autoencoders.losses import per_image_mse
from trainer.datasets import Dataset
from trainer.training import evaluate_loss

SAMPLES_PER_CLASS = 100
EVAL_SEED = 1234


def _batches(n: int, size: int = 500):
    for i in range(0, n, size):
        yield slice(i, i + size)


@torch.inference_mode()
def reconstruction_mse(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Mean squared error per pixel of the deterministic reconstruction (posterior mean)."""
    model.eval()
    total = 0.0
    for s in _batches(len(x)):
        xb, yb = x[s], y[s]
        rec = model.decode(model.encode(xb, yb).z, yb)
        total += float(per_image_mse(rec, xb).sum())
    return total / len(x)


@torch.inference_mode()
def classifier_accuracy(classifier: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    classifier.eval()
    correct = sum(int((classifier(x[s]).argmax(1) == y[s]).sum()) for s in _batches(len(x)))
    return correct / len(x)


@torch.inference_mode()
def conditional_accuracy(
    cvae: nn.Module, classifier: nn.Module, num_classes: int, per_class: int = SAMPLES_PER_CLASS
) -> float:
    """Share of digits drawn from the prior per requested class that the classifier names."""
    cvae.eval()
    gen = torch.Generator().manual_seed(EVAL_SEED)
    labels = torch.arange(num_classes).repeat_interleave(per_class)
    z = torch.randn(len(labels), cvae.config.latent_dim, generator=gen)
    images = cvae.decode(z, labels)
    return classifier_accuracy(classifier, images, labels)


def evaluate(
    model: nn.Module, config: ModelConfig, data: Dataset, classifier: nn.Module | None = None
) -> dict[str, float]:
    model = model.cpu().eval()
    x, y = data.test_x, data.test_y
    if config.family == "classifier":
        return {
            "test_accuracy": classifier_accuracy(model, x, y),
            "test_cross_entropy": evaluate_loss(model, config, x, y),
        }
    metrics = {"test_reconstruction_mse": reconstruction_mse(model, x, y)}
    if config.family in ("vae", "cvae"):
        metrics["test_negative_elbo_nats"] = evaluate_loss(model, config, x, y)
    if config.family == "cvae" and classifier is not None:
        metrics["conditional_accuracy"] = conditional_accuracy(
            model, classifier, config.num_classes
        )
    return metrics
