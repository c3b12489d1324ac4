"""Issue 29's figures: how many /sample digits a classifier reads, and what it costs.

    .venv/bin/python bench/sample_readability.py [--store DIR] [--faces-store models]

Trains the MNIST bootstrap group (`trainer bootstrap --only mnist`'s code: the classifier
that reads, mnist-vae, mnist-cvae) into a fresh temporary store, unless --store names one
that has them, then draws from mnist-vae with each way of sampling and prints one table:

- readable: share of the samples (temperature 1, 4 seeds x 512) that mnist-classifier names
  with probability >= 0.9; the same classifier on real test digits and on the VAE's
  reconstructions of them is the reference (what the decoder can draw at best);
- class balance: the smallest and largest share of one digit among the samples (goal:
  each between 6% and 14%);
- nearest training digit: the median pixel distance (L2, 0-1 pixels) from a sample to its
  nearest training digit. Samples closer than real test digits are could be copies; a
  decoder's mean image is smoother than a real digit, so its reconstructions of held-out
  test digits are the like-for-like reference;
- nearer a training digit: the share of images whose nearest neighbour among 500 training
  digits is nearer than their nearest among 500 held-out test digits (half the test set,
  drawn at random; the rows of real and reconstructed test digits use the other half). The
  test of copying that does not depend on how smooth an image is: about half for images
  that are new, near all for copies of training digits.

Images are drawn at the sharpness the version was published with (its reconstructions of
training images as grey as the images: `autoencoders.vae.matching_sharpness`); rows at
sharpness 1 are the decoder's Bernoulli means, what versions before it served, and rows at 2
and 3 show what sharper still would give. The way of sampling and drawing changes nothing
in the model: its negative ELBO, IWAE and training time (printed once) are the same for
every row. Then the CVAE per asked digit, and the face
models' samples read by faces-attributes (from --faces-store, when it has them).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from autoencoders.latent import fit_gaussian_mixture, sample_mixture  # noqa: E402
from model_store import LocalStore, load_model  # noqa: E402
from trainer.bootstrap import bootstrap  # noqa: E402
from trainer.datasets import as_float  # noqa: E402
from trainer.datasets.faces import load_synthetic_faces  # noqa: E402
from trainer.datasets.mnist import load_embedded_sample  # noqa: E402
from trainer.evaluation import READABLE_CONFIDENCE, confident_reads, draw_per_class  # noqa: E402
from trainer.pipeline import POSTERIOR_DRAWS, posterior_draws  # noqa: E402

SEEDS = 4
COUNT = 512
Sampler = Callable[[torch.Generator], torch.Tensor]


def nearest(x: torch.Tensor, train: torch.Tensor) -> float:
    """Median L2 distance from each image to its nearest training image."""
    return float(torch.cdist(x.flatten(1), train.flatten(1)).min(1).values.median())


def nearer_training(x: torch.Tensor, train_part: torch.Tensor, held_out: torch.Tensor) -> float:
    """Share of images nearer to one of `train_part` than to any of `held_out` (one size)."""
    to_train = torch.cdist(x.flatten(1), train_part.flatten(1)).min(1).values
    to_held_out = torch.cdist(x.flatten(1), held_out.flatten(1)).min(1).values
    return float((to_train < to_held_out).float().mean())


def row(name: str, readable: list[float], shares: list[torch.Tensor], dist: list[float],
        copies: list[float]) -> str:  # fmt: skip
    share = torch.stack(shares)
    spread = f" ({min(readable):.1%}-{max(readable):.1%})" if len(readable) > 1 else ""
    return (f"| {name} | {statistics.mean(readable):.1%}{spread} | "
            f"{float(share.min()):.1%}-{float(share.max()):.1%} | "
            f"{statistics.mean(dist):.2f} | {statistics.mean(copies):.1%} |")  # fmt: skip


@torch.inference_mode()
def mnist_table(store: LocalStore) -> None:
    vae = load_model(store, "mnist-vae")
    reader = load_model(store, "mnist-classifier").module.eval()
    model = vae.module.eval()
    data = load_embedded_sample()
    train, test = as_float(data.train_x), as_float(data.test_x)
    half = len(test) // 2  # the test set is in class order: halves drawn at random
    gen = torch.Generator().manual_seed(0)
    order = torch.randperm(len(test), generator=gen)
    test, held_out = test[order[:half]], test[order[half:]]
    train_part = train[torch.randperm(len(train), generator=gen)[: len(held_out)]]

    def measure(name: str, images: list[torch.Tensor]) -> None:
        readable, shares, dist, copies = [], [], [], []
        for x in images:
            ok, named = confident_reads(reader, x)
            readable.append(float(ok.float().mean()))
            shares.append(torch.bincount(named, minlength=10) / len(named))
            dist.append(nearest(x, train))
            copies.append(nearer_training(x, train_part, held_out))
        print(row(name, readable, shares, dist, copies), flush=True)

    def means(z: torch.Tensor) -> torch.Tensor:
        """The decoder's Bernoulli means: the images at sharpness 1 (versions before it)."""
        return torch.sigmoid(model.decode_logits(z))

    def sampled(name: str, sampler: Sampler, render: Callable = model.decode) -> None:
        gens = [torch.Generator().manual_seed(seed) for seed in range(SEEDS)]
        measure(name, [render(sampler(g)) for g in gens])

    m = vae.manifest
    print(f"\nmnist-vae@{m.version}: negative ELBO {m.metrics['test_negative_elbo_nats']:.2f} "
          f"nats, IWAE {m.metrics['test_iwae_nll_nats']:.2f} nats, trained in "
          f"{m.training.duration_s:.0f} s; published readable share "
          f"{m.metrics.get('samples.readable', float('nan')):.1%}; draws its images at "
          f"sharpness {vae.config.sharpness:g}\n")  # fmt: skip
    print("| mnist-vae samples | readable (>= 0.9) | class shares | nearest training digit "
          "| nearer a training digit than a held-out one |\n"
          "| --- | --- | --- | --- | --- |")  # fmt: skip
    measure(f"real test digits (half of them, {half})", [test])
    codes = model.encode(test).mu
    measure("its reconstructions of the test digits", [model.decode(codes)])
    measure("its reconstructions, Bernoulli means (sharpness 1: before)", [means(codes)])
    sampled("its own learned prior (before)", lambda g: model.sample_codes(COUNT, g))
    if "mixture_weights" in vae.latents:
        w, mu, tril = (vae.latents[k] for k in
                       ("mixture_weights", "mixture_means", "mixture_scale_trils"))  # fmt: skip
        sampled(f"**shipped**: the published mixture ({len(w)} components), sharpness "
                f"{vae.config.sharpness:g}", lambda g: sample_mixture(w, mu, tril, COUNT, g))
        sampled("the published mixture, Bernoulli means (sharpness 1: before)",
                lambda g: sample_mixture(w, mu, tril, COUNT, g), means)
        for sharp in (2.0, 3.0):
            sampled(f"the published mixture at sharpness {sharp:g}",
                    lambda g: sample_mixture(w, mu, tril, COUNT, g),
                    lambda z, sharp=sharp: torch.sigmoid(sharp * model.decode_logits(z)))
    encodings = [model.encode(train[i : i + 1000]) for i in range(0, len(train), 1000)]
    means = torch.cat([e.mu for e in encodings])
    draws = posterior_draws(encodings, POSTERIOR_DRAWS)
    for label, codes in (("posterior means", means),
                         (f"{POSTERIOR_DRAWS} posterior draws per digit", draws)):  # fmt: skip
        for k in (10, 20, 40, 64):
            started = time.perf_counter()
            w, mu, tril = fit_gaussian_mixture(codes, components=k)
            took = time.perf_counter() - started
            sampled(f"mixture of {k} fitted to {label} ({took:.1f} s)",
                    lambda g, w=w, mu=mu, tril=tril: sample_mixture(w, mu, tril, COUNT, g))
    for t in (0.8, 0.6):
        sampled(f"its own prior at temperature {t}", lambda g, t=t: model.sample_codes(COUNT, g, t))

    cvae = load_model(store, "mnist-cvae").module.eval()
    shipped = cvae.config
    for config in (shipped, replace(shipped, sharpness=1.0)):
        cvae.config = config
        images, labels = draw_per_class(cvae, 10, per_class=COUNT // 4)
        ok, named = confident_reads(reader, images)
        hits = ok & (named == labels)
        per_digit = [float(hits[labels == d].float().mean()) for d in range(10)]
        copies = nearer_training(images, train_part, held_out)
        print(f"\nmnist-cvae at sharpness {config.sharpness:g}, {COUNT // 4} per asked digit: "
              f"read confidently as the digit asked {float(hits.float().mean()):.1%} (by digit "
              f"{', '.join(f'{d}: {v:.0%}' for d, v in enumerate(per_digit))}); "
              f"nearest training digit {nearest(images, train):.2f}; nearer a training digit "
              f"than a held-out one {copies:.1%}")  # fmt: skip


@torch.inference_mode()
def faces_table(store: LocalStore) -> None:
    """Share of face samples whose every attribute the reader calls with probability
    >= 0.9 either way (a face it recognises, not an in-between blur), beside real faces."""
    names = {n for n in store.names()}
    if not {"faces-attributes", "faces-ae-linear", "faces-ae-conv"} <= names:
        print(f"\n(no face models in {store.root}: the faces rows are skipped)")
        return
    reader = load_model(store, "faces-attributes").module.eval()

    def sure(x: torch.Tensor) -> float:
        p = torch.sigmoid(reader(x))
        calls = (p >= READABLE_CONFIDENCE) | (p <= 1 - READABLE_CONFIDENCE)
        return float(calls.all(1).float().mean())

    real = load_synthetic_faces(train=1, test=COUNT).test_x
    print(f"\nfaces, read by faces-attributes (every attribute called with p >= 0.9 either "
          f"way): real held-out faces {sure(real):.1%}", end="")  # fmt: skip
    for name in ("faces-ae-linear", "faces-ae-conv"):
        face = load_model(store, name)
        w, mu, tril = (face.latents[k] for k in
                       ("mixture_weights", "mixture_means", "mixture_scale_trils"))  # fmt: skip
        shares = [sure(face.module.decode(sample_mixture(w, mu, tril, COUNT,
                  torch.Generator().manual_seed(s)))) for s in range(SEEDS)]  # fmt: skip
        print(f"; {name} samples {statistics.mean(shares):.1%}", end="")
    print(" (the face models' sampling is unchanged by this issue: before = after)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--store", type=Path, help="a store with the MNIST group (default: train)")
    p.add_argument("--faces-store", type=Path, default=ROOT / "models")
    args = p.parse_args()
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        store = LocalStore(args.store or Path(tmp) / "store")
        if args.store is None:
            started = time.perf_counter()
            bootstrap(store, progress=False, groups=("mnist",))
            print(f"MNIST bootstrap: {time.perf_counter() - started:.1f} s (goal < 180 s)")
        mnist_table(store)
    if args.faces_store.is_dir():
        faces_table(LocalStore(args.faces_store))


if __name__ == "__main__":
    main()
