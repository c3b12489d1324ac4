"""Test-split metrics that go into the manifest."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from autoencoders import ModelConfig, family_of
from autoencoders.latent import edit_codes, sample_prior
from autoencoders.losses import log_importance_weights, per_image_mse
from trainer.datasets import Dataset, as_float, spread
from trainer.training import evaluate_loss

SAMPLES_PER_CLASS = 100
EVAL_SEED = 1234
READABLE_SAMPLES = 512
READABLE_CONFIDENCE = 0.9


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
def latent_activity(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> list[float]:
    """Per code dimension, the variance over `x` of its code (a VAE's posterior mean): the
    "active units" measure of Burda et al. (2016). Near 0, a dimension the decoder is never
    shown anything in; the playground orders its latent sliders by it."""
    model.eval()
    codes = torch.cat([model.encode(x[s], y[s]).z for s in _batches(len(x))])
    return [round(float(v), 6) for v in codes.double().var(0)]


@torch.inference_mode()
def classifier_accuracy(classifier: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    classifier.eval()
    correct = sum(int((classifier(x[s]).argmax(1) == y[s]).sum()) for s in _batches(len(x)))
    return correct / len(x)


@torch.inference_mode()
def confident_reads(classifier: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per image: whether the classifier names it with probability >= READABLE_CONFIDENCE,
    and the class it names."""
    classifier.eval()
    probs = torch.cat([torch.softmax(classifier(x[s]), 1) for s in _batches(len(x))])
    top, named = probs.max(1)
    return top >= READABLE_CONFIDENCE, named


@torch.inference_mode()
def sample_readability(
    model: nn.Module, classifier: nn.Module, latents: dict[str, torch.Tensor]
) -> dict[str, float]:
    """How many of READABLE_SAMPLES /sample draws (temperature 1) the classifier reads
    confidently, and the smallest and largest share of a class among them."""
    gen = torch.Generator().manual_seed(EVAL_SEED)
    z = sample_prior(model, latents, READABLE_SAMPLES, gen)
    if z is None:
        return {}
    readable, named = confident_reads(classifier, model.decode(z))
    shares = torch.bincount(named, minlength=classifier.config.num_classes) / len(named)
    return {
        "samples.readable": float(readable.float().mean()),
        "samples.class_share_min": float(shares.min()),
        "samples.class_share_max": float(shares.max()),
    }


@torch.inference_mode()
def read_attributes(classifier: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """0/1 attributes a multilabel classifier reads in images."""
    classifier.eval()
    return torch.cat([(classifier(x[s]) > 0).float() for s in _batches(len(x))])


@torch.inference_mode()
def edit_success(
    model: nn.Module,
    judge: nn.Module,
    x: torch.Tensor,
    direction: torch.Tensor,
    attribute: int,
    strength: float = 1.0,
) -> dict[str, float]:
    """Add `strength` x direction to the codes of faces lacking `attribute`, then ask the judge.

    success: share now read as having the attribute. others_kept: share whose other
    attributes read the same as in the unedited reconstruction.
    """
    model.eval()
    z = model.encode(x).z
    before = read_attributes(judge, model.decode(z))
    edited = edit_codes(z, direction[None], torch.tensor([strength]))
    after = read_attributes(judge, model.decode(edited))
    return edit_summary(before, after, attribute)


def edit_summary(before: torch.Tensor, after: torch.Tensor, attribute: int) -> dict[str, float]:
    """success and others_kept (see edit_success) from the judge's 0/1 readings."""
    others = [a for a in range(before.shape[1]) if a != attribute]
    return {
        "success": float(after[:, attribute].mean()),
        "others_kept": float((after[:, others] == before[:, others]).all(1).float().mean()),
    }


EDITED_ATTRIBUTES = ("Smiling", "Eyeglasses")


def attribute_edit_metrics(
    model: nn.Module, judge: nn.Module, data: Dataset, latents: dict[str, torch.Tensor]
) -> dict[str, float]:
    """Edit metrics on held-out faces lacking each attribute, for both kinds of direction."""
    metrics: dict[str, float] = {}
    present = data.present(data.test_attrs)
    for name in EDITED_ATTRIBUTES:
        if name not in data.attribute_names:
            continue
        a = data.attribute_names.index(name)
        lacking = data.test_x[present[:, a] == 0]
        for variant in ("plain", "corrected"):
            result = edit_success(model, judge, lacking, latents[f"directions_{variant}"][a], a)
            for key, value in result.items():
                metrics[f"edit.{name}.{variant}.{key}"] = value
    metrics["edit.heldout_faces"] = float(len(data.test_x))
    return metrics


@torch.inference_mode()
def draw_per_class(
    cvae: nn.Module,
    num_classes: int,
    per_class: int = SAMPLES_PER_CLASS,
    shared_noise: bool = False,
    seed: int = EVAL_SEED,
) -> tuple[torch.Tensor, torch.Tensor]:
    """`per_class` images of every class drawn from the prior, and their labels (class by
    class). With `shared_noise`, every class is drawn from the same `per_class` codes (as
    /cvae-sample's shared_noise does); otherwise each image has its own code."""
    cvae.eval()
    gen = torch.Generator().manual_seed(seed)
    labels = torch.arange(num_classes).repeat_interleave(per_class)
    if shared_noise:
        z = cvae.sample_codes(per_class, gen).repeat(num_classes, 1)
    else:
        z = cvae.sample_codes(len(labels), gen)
    return cvae.decode(z, labels), labels


def conditional_accuracy(
    cvae: nn.Module,
    classifier: nn.Module,
    num_classes: int,
    per_class: int = SAMPLES_PER_CLASS,
    shared_noise: bool = False,
) -> float:
    """Share of digits drawn from the prior per requested class (draw_per_class) that the
    classifier names."""
    images, labels = draw_per_class(cvae, num_classes, per_class, shared_noise)
    return classifier_accuracy(classifier, images, labels)


def code_class_accuracy(cvae: nn.Module, data: Dataset, steps: int = 300) -> float:
    """How much of the class a CVAE's codes still carry: a classifier (one hidden layer
    of 256) trained on the posterior means of the training images, scored on the test
    images' means. Near chance (1 / classes) means the class lives in the label alone."""
    cvae.eval()
    with torch.no_grad():  # not inference_mode: the probe's autograd reads these codes
        train_z = torch.cat([cvae.encode(as_float(data.train_x[s]), data.train_y[s]).mu
                             for s in _batches(len(data.train_x), 4096)])  # fmt: skip
        test_z = cvae.encode(data.test_x, data.test_y).mu
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(EVAL_SEED)
        probe = nn.Sequential(
            nn.Linear(train_z.shape[1], 256), nn.ReLU(), nn.Linear(256, cvae.config.num_classes)
        )
        opt = torch.optim.Adam(probe.parameters(), lr=1e-3)
        for _ in range(steps):  # full batch: every training code at once
            opt.zero_grad()
            F.cross_entropy(probe(train_z), data.train_y).backward()
            opt.step()
    return classifier_accuracy(probe, test_z, data.test_y)


@torch.inference_mode()
def importance_weighted_nll(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, k: int = 1000, chunk: int = 100
) -> float:
    """-log p(x) in nats per image, estimated with k samples of q(z|x) per image (the IWAE
    bound, `log_importance_weights`): the test log-likelihood papers compare. Seeded."""
    model.eval()
    gen = torch.Generator().manual_seed(EVAL_SEED)
    total = 0.0
    for s in _batches(len(x), 10):
        xb, yb = x[s], y[s]
        enc = model.encode(xb, yb)
        weights = []
        for start in range(0, k, chunk):
            n = min(chunk, k - start)
            eps = torch.randn(n, *enc.mu.shape, generator=gen)
            z = (enc.mu + (0.5 * enc.logvar).exp() * eps).flatten(0, 1)
            labels = yb.repeat(n, *[1] * (yb.dim() - 1))
            logits = model.decode_logits(z, labels)
            repeat = (n, *[1] * (xb.dim() - 1))
            lw = log_importance_weights(logits, xb.repeat(repeat), z, enc.mu.repeat(n, 1),
                                        enc.logvar.repeat(n, 1),
                                        model.learned_log_prior(z))  # fmt: skip
            weights.append(lw.view(n, len(xb)))
        log_px = torch.logsumexp(torch.cat(weights), 0) - math.log(k)
        total += float(-log_px.sum())
    return total / len(x)


def evaluate(
    model: nn.Module,
    config: ModelConfig,
    data: Dataset,
    classifier: nn.Module | None = None,
    latents: dict[str, torch.Tensor] | None = None,
    iwae_k: int = 1000,
    iwae_images: int = 100,
) -> dict[str, float]:
    """The manifest's metrics. For VAEs also the IWAE estimate of -log p(x) with `iwae_k`
    samples on `iwae_images` test images drawn across the set (`spread`; 0: skipped;
    k=1000 costs about 0.1 s per image for the conv VAE on two cores)."""
    model = model.cpu().eval()
    x, y = data.test_x, data.test_y
    family = family_of(config)
    if not family.autoencoder and config.multilabel:
        present = data.targets(True, test=True)
        read = read_attributes(model, x)
        metrics = {"test_accuracy": float((read == present).float().mean())}
        for i, name in enumerate(data.attribute_names):
            metrics[f"test_accuracy.{name}"] = float((read[:, i] == present[:, i]).float().mean())
        return metrics
    if not family.autoencoder:
        return {
            "test_accuracy": classifier_accuracy(model, x, y),
            "test_cross_entropy": evaluate_loss(model, config, x, y),
        }
    metrics = {"test_reconstruction_mse": reconstruction_mse(model, x, y)}
    if family.variational:
        metrics["test_negative_elbo_nats"] = evaluate_loss(model, config, x, y)
        if iwae_k > 0 and iwae_images > 0:
            part = spread(len(x), iwae_images)
            xp, yp = x[part], y[part]
            metrics["test_iwae_nll_nats"] = importance_weighted_nll(model, xp, yp, iwae_k)
            # The same images' single-sample ELBO, for a like-for-like gap.
            metrics["test_iwae_images_negative_elbo_nats"] = evaluate_loss(model, config, xp, yp)
            metrics["iwae_k"], metrics["iwae_images"] = float(iwae_k), float(len(part))
    if family.conditional:
        metrics["code_class_accuracy"] = code_class_accuracy(model, data)
    if family.conditional and classifier is not None:
        for shared, key in ((False, "conditional_accuracy"),
                            (True, "conditional_accuracy_shared_noise")):  # fmt: skip
            metrics[key] = conditional_accuracy(
                model, classifier, config.num_classes, shared_noise=shared
            )
    if family.samples and classifier is not None and not data.attribute_names:
        metrics.update(sample_readability(model, classifier, latents or {}))
    if latents and "directions_plain" in latents and classifier is not None:
        metrics.update(attribute_edit_metrics(model, classifier, data, latents))
    return metrics
