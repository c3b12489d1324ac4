"""Models as artifacts: torch modules to files (safetensors, never pickle) and back.

Loading is defensive: checksums first (in `Store.read`, any backend), then a
safetensors parse, then exact keys, shapes, dtypes and finite values, then a
probe (a fixed input's output recorded at publish) so that weights of another
model or seed are refused before anything serves them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import safetensors.torch
import torch
from safetensors import SafetensorError
from torch import nn

from autoencoders import ModelConfig, build_model, family_of
from model_store.errors import CorruptArtifact
from model_store.manifest import LATENTS_FILE, WEIGHTS_FILE, Manifest, Probe
from model_store.refs import ModelRef, parse_ref
from model_store.store import Store

PROBE_SEED = 20240917
PROBE_BATCH = 4
PROBE_PROJECTIONS = 8
PROBE_TOLERANCE = 1e-3  # relative to the output's norm: float noise passes, other weights do not


@dataclass
class LoadedModel:
    """One model ready to run: its manifest, its module (eval mode, CPU) and latents."""

    manifest: Manifest
    config: ModelConfig
    module: nn.Module
    latents: dict[str, torch.Tensor] = field(default_factory=dict)

    @property
    def ref(self) -> str:
        return f"{self.manifest.name}@{self.manifest.version}"


def _probe_output(module: nn.Module, config: ModelConfig) -> torch.Tensor:
    gen = torch.Generator().manual_seed(PROBE_SEED)
    x = torch.rand(PROBE_BATCH, *config.input_shape, generator=gen)
    with torch.inference_mode():
        if not family_of(config).autoencoder:
            return module(x)
        labels = torch.arange(PROBE_BATCH) % max(config.num_classes, 1)
        enc = module.encode(x, labels)
        return module.decode(enc.z, labels)


def _fingerprint(module: nn.Module, config: ModelConfig) -> tuple[float, list[float]]:
    out = _probe_output(module, config).double().flatten()
    gen = torch.Generator().manual_seed(PROBE_SEED + 1)
    directions = torch.randn(PROBE_PROJECTIONS, out.numel(), generator=gen, dtype=torch.float64)
    directions /= directions.norm(dim=1, keepdim=True)
    return float(out.norm()), (directions @ out).tolist()


def compute_probe(module: nn.Module, config: ModelConfig) -> Probe:
    was_training = module.training
    module.eval()
    norm, projections = _fingerprint(module.cpu(), config)
    module.train(was_training)
    return Probe(seed=PROBE_SEED, batch=PROBE_BATCH, norm=norm, projections=projections)


def _check_probe(module: nn.Module, config: ModelConfig, probe: Probe, where: str) -> None:
    norm, projections = _fingerprint(module, config)
    if len(probe.projections) != len(projections):
        raise CorruptArtifact(
            f"the manifest's probe has {len(probe.projections)} projections, not "
            f"{len(projections)}: it was not written by this code's publish",
            where,
        )
    tolerance = PROBE_TOLERANCE * max(probe.norm, 1.0)
    values = zip([norm, *projections], [probe.norm, *probe.projections], strict=True)
    if any(abs(got - want) > tolerance for got, want in values):
        raise CorruptArtifact(
            "probe output differs from the one recorded at publish: these weights are "
            "not the model the manifest describes",
            where,
        )


def _load_tensors(data: bytes, what: str) -> dict[str, torch.Tensor]:
    try:
        return safetensors.torch.load(data)
    except (SafetensorError, ValueError, RuntimeError, OverflowError) as exc:
        raise CorruptArtifact(f"not a valid safetensors file ({exc})", what) from exc


def _map_tensors(path: str, what: str) -> dict[str, torch.Tensor]:
    """A safetensors file's tensors on a private (copy-on-write) mapping of the file:
    safetensors' own reader checks the header, no byte is copied."""
    try:
        with safetensors.safe_open(path, framework="pt") as f:
            return {key: f.get_tensor(key) for key in f.keys()}
    except (SafetensorError, ValueError, RuntimeError, OverflowError, OSError) as exc:
        raise CorruptArtifact(f"not a valid safetensors file ({exc})", what) from exc


def _check_state(tensors: Mapping[str, torch.Tensor], module: nn.Module, what: str) -> None:
    expected = module.state_dict()
    missing, extra = set(expected) - set(tensors), set(tensors) - set(expected)
    if missing or extra:
        raise CorruptArtifact(
            f"weights do not fit the architecture (missing {sorted(missing)[:5]}, "
            f"unexpected {sorted(extra)[:5]})",
            what,
        )
    for key, want in expected.items():
        got = tensors[key]
        if got.shape != want.shape or got.dtype != want.dtype:
            raise CorruptArtifact(
                f"{key}: {got.dtype}{list(got.shape)} where {want.dtype}{list(want.shape)} "
                "is expected",
                what,
            )
        if got.is_floating_point() and not torch.isfinite(got).all():
            raise CorruptArtifact(f"{key}: contains NaN or infinite values", what)


def serialize(module: nn.Module, latents: Mapping[str, torch.Tensor] | None) -> dict[str, bytes]:
    state = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    files = {WEIGHTS_FILE: safetensors.torch.save(state)}
    if latents:
        files[LATENTS_FILE] = safetensors.torch.save(
            {k: v.detach().cpu().contiguous() for k, v in latents.items()}
        )
    return files


def publish_model(
    store: Store,
    name: str,
    module: nn.Module,
    config: ModelConfig,
    fields: dict[str, Any],
    latents: Mapping[str, torch.Tensor] | None = None,
    report: Mapping[str, bytes] | None = None,
    aliases: tuple[str, ...] = (),
    promote_first: bool = True,
) -> Manifest:
    """Publish a trained module as the next version of `name`."""
    files = serialize(module, latents)
    files.update({f"report/{k}": v for k, v in (report or {}).items()})
    fields = {
        **fields,
        "family": config.family,
        "config": config.to_dict(),
        "latent_size": config.latent_dim if family_of(config).autoencoder else None,
        "probe": compute_probe(module, config).model_dump(),
        "torch_version": torch.__version__,
    }
    return store.publish(name, fields, files, aliases=aliases, promote_first=promote_first)


def load_version(store: Store, name: str, version: int) -> LoadedModel:
    """A version ready to run, every file checked. On a local store the weights are mapped
    from their file, not copied: processes that load the same version share its pages."""
    content = store.read(name, version, leave=(WEIGHTS_FILE,))
    manifest = content.manifest
    where = f"{name}/{version}/{WEIGHTS_FILE}"
    try:
        config = ModelConfig.from_dict(manifest.config)
    except (TypeError, ValueError) as exc:
        raise CorruptArtifact(f"invalid architecture config: {exc}", f"{name}/{version}") from exc
    digest = manifest.files.get(WEIGHTS_FILE)
    if digest is None:
        raise CorruptArtifact("no weights listed in the manifest", where)
    module = build_model(config)
    with store.mapped_file(name, version, WEIGHTS_FILE, digest) as path:
        if path is not None:
            tensors = _map_tensors(path, where)
        else:
            tensors = _load_tensors(store.read_file(name, version, WEIGHTS_FILE), where)
    _check_state(tensors, module, where)
    # assign: the module's parameters become these tensors (mapped pages) rather than
    # copies of them in memory of its own.
    module.load_state_dict(tensors, strict=True, assign=True)
    module.eval()
    if manifest.probe is not None:
        _check_probe(module, config, manifest.probe, where)
    latents: dict[str, torch.Tensor] = {}
    if LATENTS_FILE in content.files:
        latents_where = f"{name}/{version}/{LATENTS_FILE}"
        latents = _load_tensors(content.files[LATENTS_FILE], latents_where)
        for key, t in latents.items():
            if t.is_floating_point() and not torch.isfinite(t).all():
                raise CorruptArtifact(f"{key}: contains NaN or infinite values", latents_where)
        _check_latents(latents, config, manifest, latents_where)
    return LoadedModel(manifest, config, module, latents)


def _check_latents(
    latents: Mapping[str, torch.Tensor], config: ModelConfig, manifest: Manifest, where: str
) -> None:
    """Latents are checked like weights: the keys that belong together are all there, with
    float dtypes and the shapes the latent size and attribute list imply."""
    d, a = config.latent_dim, len(manifest.attribute_names)
    k = latents["mixture_weights"].shape[0] if "mixture_weights" in latents else 0
    groups = {
        "prior_mean": {"prior_mean": (d,), "prior_scale_tril": (d, d)},
        "mixture_weights": {
            "mixture_weights": (k,), "mixture_means": (k, d), "mixture_scale_trils": (k, d, d),
        },
        "directions_plain": {"directions_plain": (a, d), "directions_corrected": (a, d)},
    }  # fmt: skip
    scores = latents.get("calibration_scores")
    if scores is not None:
        size = manifest.calibration.size if manifest.calibration else None
        if not scores.is_floating_point() or tuple(scores.shape) != (size,):
            raise CorruptArtifact(f"calibration_scores: expected float ({size},) as the "
                                  f"manifest's calibration says, found {scores.dtype} "
                                  f"{tuple(scores.shape)}", where)  # fmt: skip
        if len(scores) > 1 and bool((scores[1:] < scores[:-1]).any()):
            raise CorruptArtifact("calibration_scores are not sorted", where)
    ref = latents.get("score_reference")
    if scores is not None and (ref is None or tuple(ref.shape) not in ((4,), (6,))):
        raise CorruptArtifact(
            "calibration_scores without a score_reference of 4 or 6 numbers (a mean and a "
            "standard deviation per term)", where
        )
    required = {"directions_plain"} if a else set()
    for lead, shapes in groups.items():
        if lead not in latents and not (shapes.keys() & latents.keys()) and lead not in required:
            continue
        for key, shape in shapes.items():
            t = latents.get(key)
            if t is None:
                raise CorruptArtifact(f"latents lack {key!r}", where)
            if not t.is_floating_point() or tuple(t.shape) != shape:
                raise CorruptArtifact(
                    f"{key}: expected float {shape}, found {t.dtype} {tuple(t.shape)}", where
                )


def load_model(store: Store, ref: ModelRef | str) -> LoadedModel:
    """Resolve `name`, `name@alias` or `name@N` and load it, verified."""
    ref = parse_ref(ref) if isinstance(ref, str) else ref
    return load_version(store, ref.name, store.resolve(ref))
