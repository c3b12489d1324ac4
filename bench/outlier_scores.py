"""Outlier scores, side by side in one run: AUROC of (a) the raw reconstruction error, (b)
the raw negative log-likelihood (negative ELBO at the posterior mean), (c) the score /score
ships (autoencoders.scoring: the three-term score), (d) the code's negative log-density
under the fitted mixture alone, and the two-term score shipped before (the larger of (a)'s
and (b)'s standardised terms), for four cases, each model trained and calibrated here exactly
as the trainer publishes it (trainer.pipeline.run into a temporary store):

- Fashion-MNIST in, MNIST out: a VAE (the default mnist-vae's recipe) on the full
  Fashion-MNIST (Debian's dataset-fashion-mnist); the project's embedded digits are the
  outliers. Raw likelihood is known to fail here (Nalisnick et al., 2019).
- MNIST in, Fashion-MNIST out: the same recipe on the embedded digits.
- leave one digit out: a VAE on nine digits of the embedded sample, the tenth the outlier;
  the mean over the ten digits.
- faces: the default faces-ae-linear recipe on synthetic faces without eyeglasses; test faces
  with eyeglasses are the outliers.

Also: the false-positive rate observed at the 1% threshold on held-out in-distribution
images (the calibration's own check half, and over 200 random re-splits of the Fashion
test scores), the two corrections by compressed size that were tried and not kept, and the
cost of the score per image against /reconstruct's forward pass.

    .venv/bin/python bench/outlier_scores.py [--epochs 10] [--quick]
    .venv/bin/python bench/outlier_scores.py --cost-only [--store models]   # the cost alone
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
import zlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from autoencoders import family_of  # noqa: E402
from autoencoders.scoring import (  # noqa: E402
    THREE_TERMS,
    combine,
    conformal_threshold,
    method_for,
    mixture_of,
    score,
    score_terms,
)
from model_store import LocalStore, TrainingSettings, load_model  # noqa: E402
from trainer.bootstrap import FACES, MNIST_VAE, VAE_RECIPE  # noqa: E402
from trainer.datasets import Dataset, as_float  # noqa: E402
from trainer.datasets.catalog import load_named  # noqa: E402
from trainer.datasets.faces import load_synthetic_faces  # noqa: E402
from trainer.pipeline import TrainSpec, run  # noqa: E402

PARTS = {"(a) reconstruction error": "reconstruction_error",
         "(b) negative log-likelihood": "negative_log_likelihood_nats",
         "(c) shipped score": "score",
         "(d) code density": "code_negative_log_density",
         "two-term score (shipped before)": "two_terms"}  # fmt: skip


def auroc(inliers: torch.Tensor, outliers: torch.Tensor) -> float:
    """P(an outlier scores above an inlier), ties counted half (Mann-Whitney U)."""
    both = torch.cat([inliers, outliers]).double().numpy()
    order = both.argsort(kind="mergesort")
    ranks = np.empty(len(both))
    ranks[order] = np.arange(1, len(both) + 1)
    _, inverse, counts = np.unique(both, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    ranks = (sums / counts)[inverse]  # average ranks for ties
    n_in, n_out = len(inliers), len(outliers)
    return float((ranks[n_in:].sum() - n_out * (n_out + 1) / 2) / (n_in * n_out))


def compressed_bits(x: torch.Tensor) -> torch.Tensor:
    """Bits of each image deflated (8-bit pixels, PNG's Sub filter): Serra et al.'s L(x)."""
    out = []
    for image in (x.clamp(0, 1) * 255).round().to(torch.uint8).numpy():
        rows = image.reshape(-1, image.shape[-1]).astype(np.int16)
        out.append(8 * len(zlib.compress(np.diff(rows, axis=1, prepend=0).astype(np.uint8), 9)))
    return torch.tensor(out, dtype=torch.float64)


def subset(data: Dataset, name: str, keep_train: torch.Tensor, keep_test: torch.Tensor) -> Dataset:
    pick = lambda t, keep: None if t is None else t[keep]  # noqa: E731
    return replace(data, name=name, train_x=data.train_x[keep_train],
                   train_y=data.train_y[keep_train], test_x=data.test_x[keep_test],
                   test_y=data.test_y[keep_test], train_attrs=pick(data.train_attrs, keep_train),
                   test_attrs=pick(data.test_attrs, keep_test))  # fmt: skip


def train_and_score(
    store: LocalStore, spec: TrainSpec, data: Dataset, outliers: torch.Tensor
) -> dict[str, object]:
    """Train and publish as the trainer does, then every part for the in-distribution test
    images and the outliers."""
    started = time.perf_counter()
    manifest = run(spec, data, store, progress=False)
    seconds = time.perf_counter() - started
    model = load_model(store, spec.name)
    classes = model.config.num_classes if family_of(model.config).conditional else 0
    ref = model.latents["score_reference"]
    method = method_for(model.latents)
    assert method is THREE_TERMS and manifest.calibration.method == method.name
    mixture = mixture_of(model.latents, method)
    inside = score(model.module, as_float(data.test_x), classes, ref, mixture=mixture)
    outside = score(model.module, as_float(outliers), classes, ref, mixture=mixture)
    for parts, x in ((inside, data.test_x), (outside, outliers)):
        nll, error = parts["negative_log_likelihood_nats"], parts["reconstruction_error"]
        parts["two_terms"] = combine(nll, error, parts["code_negative_log_density"], ref[:4])[0]
        bits = compressed_bits(as_float(x))
        nll_bits = parts["negative_log_likelihood_nats"].double() / math.log(2)
        parts["serra difference"] = nll_bits - bits
        parts["bits ratio"] = nll_bits / bits
    row: dict[str, object] = {
        name: auroc(inside[key], outside[key]) for name, key in PARTS.items()
    }
    row["tried: NLL bits - compressed bits"] = auroc(inside["serra difference"],
                                                     outside["serra difference"])  # fmt: skip
    row["tried: NLL bits / compressed bits"] = auroc(inside["bits ratio"], outside["bits ratio"])
    row["observed_fpr_check_half"] = manifest.calibration.observed_fpr
    row["check_size"] = manifest.calibration.check_size
    row["train_s"] = round(seconds, 1)
    row["_inside"] = inside["score"]
    return row


def resplit_fpr(scores: torch.Tensor, fpr: float, splits: int = 200) -> tuple[float, float]:
    """Mean and 95th percentile of the rate observed on one half at the conformal threshold
    set on the other, over random halvings."""
    gen = torch.Generator().manual_seed(0)
    rates = []
    for _ in range(splits):
        order = torch.randperm(len(scores), generator=gen)
        half = len(order) // 2
        threshold = conformal_threshold(scores[order[:half]], fpr)
        rates.append(float((scores[order[half:]] > threshold).float().mean()))
    return float(np.mean(rates)), float(np.percentile(rates, 95))


def cost(store: LocalStore, name: str, repeats: int = 20) -> dict[str, float]:
    """Milliseconds per image of the score's forward pass (with the code term when the
    version has a fitted mixture, as a new version is scored) and of /reconstruct's, 64 at
    once, on one thread as each service worker runs."""
    from service.inference import reconstruct

    model = load_model(store, name)
    classes = model.config.num_classes if family_of(model.config).conditional else 0
    mixture = mixture_of(model.latents, method_for(model.latents))
    x = torch.rand(64, *model.config.input_shape, generator=torch.Generator().manual_seed(0))
    ops = {"reconstruct": lambda: reconstruct(model, x, None),
           "score": lambda: score_terms(model.module, x, classes, mixture)}  # fmt: skip
    out = {}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with torch.inference_mode():
        for label, op in ops.items():
            op()
            times = []
            for _ in range(repeats):
                started = time.perf_counter()
                op()
                times.append(time.perf_counter() - started)
            out[label] = 1000 * float(np.median(times)) / len(x)
    torch.set_num_threads(threads)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--epochs", type=int, default=10, help="VAE epochs (the bootstrap recipe's: 70)")
    p.add_argument("--quick", action="store_true", help="3 epochs, 3 left-out digits")
    p.add_argument("--cost-only", action="store_true",
                   help="only the cost per image, of the models in --store")  # fmt: skip
    p.add_argument("--store", type=Path, default=ROOT / "models")
    args = p.parse_args()
    if args.cost_only:
        for name in ("mnist-vae", "faces-ae-linear", "faces-ae-conv"):
            c = cost(LocalStore(args.store), name)
            print(f"cost per image, 64 at once, one thread, {name}: score {c['score']:.3f} ms, "
                  f"reconstruct {c['reconstruct']:.3f} ms ({c['score'] / c['reconstruct']:.2f}x)")
        return
    epochs = 3 if args.quick else args.epochs
    torch.set_num_threads(max(1, torch.get_num_threads()))
    store = LocalStore(Path(tempfile.mkdtemp(prefix="bench-outliers-")))
    recipe = TrainingSettings(**{**VAE_RECIPE, "epochs": epochs, "iwae_k": 0})
    vae = TrainSpec(name="vae", config=MNIST_VAE, training=recipe)
    mnist, fashion = load_named("mnist-sample"), load_named("fashion-mnist")
    rows: dict[str, dict[str, object]] = {}

    rows["Fashion-MNIST in, MNIST out"] = train_and_score(
        store, replace(vae, name="fashion-vae"), fashion, mnist.test_x)
    print("fashion done", file=sys.stderr, flush=True)
    rows["MNIST in, Fashion-MNIST out"] = train_and_score(
        store, replace(vae, name="mnist-vae"), mnist, fashion.test_x)
    print("mnist done", file=sys.stderr, flush=True)

    digits = range(3) if args.quick else range(10)
    per_digit = []
    for d in digits:
        nine = subset(mnist, f"mnist-sample-without-{d}", mnist.train_y != d, mnist.test_y != d)
        held = torch.cat([mnist.train_x[mnist.train_y == d], mnist.test_x[mnist.test_y == d]])
        per_digit.append(train_and_score(store, replace(vae, name=f"vae-no-{d}"), nine, held))
        print(f"without {d} done", file=sys.stderr, flush=True)
    rows[f"leave one digit out (mean of {len(per_digit)})"] = {
        k: float(np.mean([r[k] for r in per_digit]))
        for k in per_digit[0] if not k.startswith("_")
    }  # fmt: skip

    faces = load_synthetic_faces(train=6000 if args.quick else 12000, test=2000)
    glasses = faces.attribute_names.index("Eyeglasses")
    has = faces.present(faces.train_attrs)[:, glasses] > 0
    has_test = faces.present(faces.test_attrs)[:, glasses] > 0
    plain = subset(faces, "synthetic-faces-without-eyeglasses", ~has, ~has_test)
    linear = next(s for s in FACES if s.name == "faces-ae-linear")
    face_training = linear.training.model_copy(update={"epochs": 5 if args.quick else 15})
    face_spec = replace(linear, name="faces-no-glasses", classifier=None, training=face_training)
    rows["faces: eyeglasses never seen"] = train_and_score(
        store, face_spec, plain, faces.test_x[has_test])

    fashion_row = rows["Fashion-MNIST in, MNIST out"]
    mean_fpr, p95_fpr = resplit_fpr(fashion_row["_inside"], 0.01)  # type: ignore[arg-type]
    costs = {"VAE": cost(store, "mnist-vae"), "linear AE (faces)": cost(store, "faces-no-glasses")}

    names = [*PARTS, "tried: NLL bits - compressed bits", "tried: NLL bits / compressed bits"]
    print(f"\nAUROC (outlier scores above inlier), VAEs {epochs} epochs, one run\n")
    print("| case | " + " | ".join(names) + " | FPR at 1% (check half) | train s |")
    print("| --- " * (len(names) + 3) + "|")
    for case, row in rows.items():
        fpr = row["observed_fpr_check_half"]
        print(f"| {case} | " + " | ".join(f"{row[n]:.3f}" for n in names)
              + f" | {100 * fpr:.2f}% of {row['check_size']:.0f} | {row['train_s']:.0f} |")  # type: ignore[operator]  # fmt: skip
    print(f"\nFashion-MNIST test scores, 200 random halvings: observed FPR at the 1% threshold "
          f"mean {100 * mean_fpr:.2f}%, 95th percentile {100 * p95_fpr:.2f}%")  # fmt: skip
    for model, c in costs.items():
        print(f"cost per image, 64 at once, {model}: score {c['score']:.3f} ms, reconstruct "
              f"{c['reconstruct']:.3f} ms ({c['score'] / c['reconstruct']:.2f}x)")  # fmt: skip
    clean = {case: {k: v for k, v in row.items() if not k.startswith("_")}
             for case, row in rows.items()}  # fmt: skip
    print(json.dumps({"auroc": clean, "resplit_fpr": [mean_fpr, p95_fpr], "cost_ms": costs,
                      "epochs": epochs}))  # fmt: skip


if __name__ == "__main__":
    main()
