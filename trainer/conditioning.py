"""A CVAE's helpers in training only, which make its label, not its code, decide the class
of what it draws: an adversary on the code (CodeCritic) and a reader of digits drawn from
the prior (SampleGuide). Neither is part of the published model."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from autoencoders import ModelConfig


class _ReverseGradient(torch.autograd.Function):
    """Identity forward; backward multiplies the gradient by -weight (Ganin and Lempitsky,
    2015, https://arxiv.org/abs/1409.7495)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: float) -> torch.Tensor:  # type: ignore[override]
        ctx.weight = weight
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        return -ctx.weight * grad, None


class CodeCritic(nn.Module):
    """A CVAE's adversary in training only: it learns to read the class from the code (the
    posterior mean) while the encoder, through the reversed gradient, learns to leave the
    class out. What the class decides, the label then decides, and a code drawn from the
    prior becomes any digit asked for. Its term is its cross-entropy: it adds to the loss
    the critic minimises, and the encoder sees it negated and `weight` times as strong."""

    def __init__(self, latent_dim: int, num_classes: int, weight: float) -> None:
        super().__init__()
        self.weight = weight
        self.net = nn.Sequential(nn.Linear(latent_dim, 256), nn.ReLU(), nn.Linear(256, num_classes))

    def forward(self, mu: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(self.net(_ReverseGradient.apply(mu, self.weight)), labels)


class SampleGuide(nn.Module):
    """A CVAE's other helper in training only: a small reader learns the classes from the
    training images, and the decoder learns to draw, from codes of the prior, images that
    reader names as the class asked for (the auxiliary classifier of AC-GAN, Odena et al.,
    2017, https://arxiv.org/abs/1610.09585, read on the VAE's prior samples). The ELBO only
    ever decodes a code with its own image's label; this term covers what the ELBO leaves
    free and /cvae-sample relies on: any code of the prior drawn as any class. Its term is
    the reader's cross-entropy on the real batch (the reader learns; the model does not see
    it) plus `weight` times its cross-entropy on the drawn batch (the decoder learns; the
    reader is held still, so it cannot learn to read the decoder's mistakes as right).

    The reader's weights decay (`decay` times their squares): a pixel that is dark in every
    training digit, at the border, would otherwise keep its random weight, and the decoder
    learns to light it to sway the reader (stray dots at the border of drawn digits, 2.4x
    the ink of real ones there: bench/cvae_quality.py)."""

    decay = 1e-3

    def __init__(self, config: ModelConfig, weight: float, hidden: int = 256) -> None:
        super().__init__()
        self.weight = weight
        pixels = config.channels * config.height * config.width
        self.reader = nn.Sequential(
            nn.Flatten(),
            nn.Linear(pixels, hidden),
            nn.ReLU(),
            nn.Linear(hidden, config.num_classes),
        )

    def reader_loss(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        squares = sum(w.pow(2).sum() for w in self.reader.parameters() if w.dim() > 1)
        return F.cross_entropy(self.reader(x), labels) + self.decay * squares

    def forward(self, model: nn.Module, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        z = model.sample_codes(len(labels))
        drawn = torch.sigmoid(model.decode_logits(z, labels))
        still = {k: v.detach() for k, v in self.reader.named_parameters()}
        read = torch.func.functional_call(self.reader, still, (drawn,))
        return self.reader_loss(x, labels) + self.weight * F.cross_entropy(read, labels)
