"""One training run, end to end: data, model, training, evaluation, report, publish."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

import torch

from autoencoders import ModelConfig, build_model, family_of
from autoencoders.encoding import Encoding
from autoencoders.latent import (
    attribute_directions,
    corrected_attribute_directions,
    fit_gaussian,
    fit_gaussian_mixture,
    gaussian_log_prob,
    mixture_log_prob,
)
from autoencoders.vae import matching_sharpness
from model_store import (
    Manifest,
    Store,
    TrainingInfo,
    TrainingSettings,
    load_model,
    publish_model,
)
from model_store.training import announce, finished
from trainer.calibration import calibrate
from trainer.datasets import Dataset, DatasetError, as_float, spread
from trainer.distributed import LONE, Group
from trainer.evaluation import evaluate, latent_activity
from trainer.provenance import code_version
from trainer.reports import build_report
from trainer.training import pick_device, train

log = logging.getLogger("trainer")
MIXTURE_COMPONENTS = 8
# Training images a VAE's sharpness is matched on (their grey share; about 0.1 s).
SHARPNESS_IMAGES = 2000
# A VAE's fitted mixture: 40 components over three posterior draws per training image. On
# the default mnist-vae its samples, as Bernoulli means, read as digits 85% of the time
# against 68% for its own learned prior, no closer to the training digits than its
# reconstructions of test digits are (bench/sample_readability.py, which also compares fits
# to the posterior means).
POSTERIOR_MIXTURE_COMPONENTS = 40
POSTERIOR_DRAWS = 3
# EM's cost grows faster than the codes; past this many a seeded subset is fitted (40
# components on two cores: 180,000 codes, Fashion-MNIST's 60,000 images x 3 draws, 141 s;
# 30,000 codes 10 s). The shipped models have fewer, so they fit all of theirs.
MAX_MIXTURE_CODES = 30_000


@dataclass(frozen=True)
class TrainSpec:
    """One training job: the model to publish, its architecture and its training settings
    (each a typed object, stored whole in the manifest), and how to publish it."""

    name: str
    config: ModelConfig
    training: TrainingSettings = field(default_factory=TrainingSettings)
    device: str = "auto"
    classifier: str | None = None  # judge for a CVAE's conditional accuracy: name[@version]
    aliases: tuple[str, ...] = field(default_factory=tuple)
    promote_first: bool = True


def config_for(data: Dataset, config: ModelConfig) -> ModelConfig:
    """Fit the config's input shape and classes to the data it trains on."""
    c, h, w = data.input_shape
    family = family_of(config)
    if family.needs_classes and config.multilabel:
        num_classes = len(data.attribute_names)
    elif family.needs_classes:
        num_classes = len(data.class_names)
        if num_classes < 2:
            raise DatasetError(
                f"{config.family} learns classes, and {data.name} has "
                f"{num_classes or 'no'} class{'' if num_classes == 1 else 'es'}: give a folder "
                "one subfolder per class (folder:<dir> with <dir>/<class>/<image>)"
            )
    else:
        num_classes = 0
    return replace(config, channels=c, height=h, width=w, num_classes=num_classes)


@torch.inference_mode()
def sharpened(model: torch.nn.Module, config: ModelConfig, data: Dataset) -> ModelConfig:
    """A VAE's config with the sharpness at which its reconstructions of (up to
    SHARPNESS_IMAGES, drawn across the set) training images hold as much grey as the
    images themselves (`matching_sharpness`); the module draws its images at it from then
    on, in the evaluation, the report and the service alike."""
    part = spread(len(data.train_x), SHARPNESS_IMAGES)
    x = as_float(data.train_x[part])
    labels = data.train_y[part] if family_of(config).conditional else None
    logits = []
    for i in range(0, len(x), 500):  # bounded activations, whatever the image size
        part = None if labels is None else labels[i : i + 500]
        logits.append(model.decode_logits(model.encode(x[i : i + 500], part).z, part))
    config = replace(config, sharpness=matching_sharpness(torch.cat(logits), x))
    model.config = config
    return config


@torch.inference_mode()
def fit_latents(
    model: torch.nn.Module, config: ModelConfig, data: Dataset
) -> dict[str, torch.Tensor]:
    """What an autoencoder stores beside its weights, computed on training codes: for a
    family sampled from a fitted prior, a Gaussian and a mixture to sample from; for data
    with attributes, one edit direction each (a VAE's from its posterior means)."""
    rows = range(0, len(data.train_x), 1000)
    encodings = [model.encode(as_float(data.train_x[i : i + 1000])) for i in rows]
    codes = torch.cat([e.z for e in encodings])
    latents: dict[str, torch.Tensor] = {}
    family = family_of(config)
    if family.fitted_prior:
        fitted, components = codes, MIXTURE_COMPONENTS
        if family.variational:  # ex-post: to what the posterior draws, not only its means
            fitted = posterior_draws(encodings, POSTERIOR_DRAWS)
            components = POSTERIOR_MIXTURE_COMPONENTS
        if len(fitted) > MAX_MIXTURE_CODES:
            fitted = fitted[spread(len(fitted), MAX_MIXTURE_CODES)]
        mean, scale_tril = fit_gaussian(fitted)
        weights, means, trils = fit_gaussian_mixture(fitted, components=components)
        latents = {
            "prior_mean": mean,
            "prior_scale_tril": scale_tril,
            "mixture_weights": weights,
            "mixture_means": means,
            "mixture_scale_trils": trils,
        }
    if data.train_attrs is not None and data.attribute_names:
        plain, counts = attribute_directions(codes, data.train_attrs, *data.attribute_thresholds)
        latents["directions_plain"] = plain
        latents["directions_corrected"] = corrected_attribute_directions(
            codes, data.present(data.train_attrs)
        )
        latents["direction_counts"] = counts
    return latents


def posterior_draws(encodings: list[Encoding], draws: int, seed: int = 0) -> torch.Tensor:
    """`draws` codes per image from each encoding's posterior N(mu, exp(logvar)), seeded."""
    gen = torch.Generator().manual_seed(seed)
    mu = torch.cat([e.mu for e in encodings]).cpu()
    std = torch.exp(0.5 * torch.cat([e.logvar for e in encodings])).cpu()
    noise = torch.randn((draws, *mu.shape), generator=gen)
    return (mu + std * noise).reshape(-1, mu.shape[1])


@torch.inference_mode()
def _prior_fit(
    model: torch.nn.Module, data: Dataset, latents: dict[str, torch.Tensor]
) -> dict[str, float]:
    """Held-out negative log-likelihood per code (nats) of both fitted priors: lower fits better."""
    codes = model.encode(data.test_x).z
    gauss = gaussian_log_prob(codes, latents["prior_mean"], latents["prior_scale_tril"])
    mix = mixture_log_prob(
        codes, latents["mixture_weights"], latents["mixture_means"], latents["mixture_scale_trils"]
    )
    return {
        "prior.gaussian_test_nll": float(-gauss.mean()),
        "prior.mixture_test_nll": float(-mix.mean()),
    }


def run(
    spec: TrainSpec,
    data: Dataset,
    store: Store,
    progress: bool = True,
    group: Group = LONE,
    device: torch.device | None = None,
) -> Manifest | None:
    """Train, evaluate and publish; in a torchrun group only rank 0 evaluates and publishes
    (the others return None)."""
    config = config_for(data, spec.config)
    torch.manual_seed(spec.training.seed)
    model = build_model(config)
    device = device or pick_device(spec.device)
    log.info(
        "training %s (%s) on %s, %d epochs, device %s",
        spec.name,
        config.family,
        data.name,
        spec.training.epochs,
        device,
    )
    started = time.perf_counter()
    with _announced(store, spec.name, spec.training.epochs, group.main) as on_epoch:
        history = train(model, config, data, spec.training, device, progress, on_epoch, group)
        duration = time.perf_counter() - started
        if not group.main:
            return None
        return _publish(spec, config, model, data, store, history, duration, device, group)


@contextlib.contextmanager
def _announced(
    store: Store, name: str, epochs: int, main: bool
) -> Iterator[Callable[[dict[str, float]], None] | None]:
    """While `name` trains into a local store, a record the service reads to answer "being
    trained, epoch n of N" instead of 404 (model_store.training); gone once published."""
    if not main:
        yield None
        return
    began = time.time()
    announce(store, name, 0, epochs, started=began)

    def on_epoch(record: dict[str, float]) -> None:
        announce(store, name, int(record["epoch"]), epochs, started=began)

    try:
        yield on_epoch
    finally:
        finished(store, name)


def _publish(
    spec: TrainSpec,
    config: ModelConfig,
    model: torch.nn.Module,
    data: Dataset,
    store: Store,
    history: list[dict[str, float]],
    duration: float,
    device: torch.device,
    group: Group,
) -> Manifest:
    """Evaluate, calibrate, report and publish a trained model."""
    model = model.cpu().eval()

    judge, evaluated_with = None, {}
    family = family_of(config)
    if family.variational:
        config = sharpened(model, config, data)
        log.info("%s draws its images at sharpness %.2f", spec.name, config.sharpness)
    if family.autoencoder and spec.classifier:
        loaded = load_model(store, spec.classifier)
        if family_of(loaded.config).autoencoder:
            raise ValueError(f"{spec.classifier} is a {loaded.config.family}, not a classifier")
        judge, evaluated_with["classifier"] = loaded.module, loaded.ref
    latents = fit_latents(model, config, data) if family.samples else {}
    metrics = evaluate(model, config, data, judge, latents, spec.training.iwae_k,
                       spec.training.iwae_images)  # fmt: skip
    if "prior_mean" in latents:
        metrics.update(_prior_fit(model, data, latents))
    calibration = None
    if family.autoencoder:
        calibration, calibration_latents = calibrate(model, config, data, latents)
        latents.update(calibration_latents)
    present = data.present(data.test_attrs) if data.test_attrs is not None else None
    report = build_report(
        model, config, data.test_x, data.test_y, history, latents, data.attribute_names, present
    )

    fields = {
        "input": {
            "channels": config.channels,
            "height": config.height,
            "width": config.width,
            "crop": data.crop.model_dump() if data.crop else None,
        },
        "latent_activity": latent_activity(model, data.test_x, data.test_y)
        if family.autoencoder
        else None,
        "class_names": list(data.class_names)
        if config.num_classes and not config.multilabel
        else [],
        "attribute_names": list(data.attribute_names)
        if "directions_plain" in latents or config.multilabel
        else [],
        "dataset": data.info().model_dump(),
        "training": TrainingInfo(
            **spec.training.model_dump(),
            device=str(device),
            processes=group.world,
            duration_s=round(duration, 3),
            history=history,
        ).model_dump(),
        "metrics": metrics,
        "evaluated_with": evaluated_with,
        "calibration": calibration.model_dump() if calibration else None,
        "code_version": code_version(),
    }
    manifest = publish_model(
        store, spec.name, model, config, fields, latents, report, spec.aliases, spec.promote_first
    )
    log.info("published %s@%d: %s", manifest.name, manifest.version, metrics)
    return manifest
