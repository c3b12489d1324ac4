"""python -m trainer train ... | bootstrap ..."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time

from autoencoders import ACTIVATIONS, FAMILIES, NORMS, UPSAMPLES, ModelConfig
from model_store import StoreError, open_store
from model_store.location import HELP as STORE_HELP
from trainer import distributed
from trainer.bootstrap import GROUPS, bootstrap
from trainer.datasets.catalog import HELP as DATASETS_HELP
from trainer.datasets.catalog import load
from trainer.datasets.mnist import DatasetError
from trainer.pipeline import TrainSpec, run
from trainer.training import LR_SCHEDULES


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in text.split(",") if v)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m trainer", description="Train and publish autoencoders."
    )
    p.add_argument(
        "--store",
        default=os.environ.get("AE_STORE_DIR", "models"),
        help=f"the model store: {STORE_HELP} (default: $AE_STORE_DIR or ./models)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train one model and publish it as a new version")
    t.add_argument("--family", required=True, choices=FAMILIES)
    t.add_argument("--name", required=True, help="model name in the store, e.g. mnist-vae")
    t.add_argument("--dataset", default="mnist-sample", help=DATASETS_HELP)
    t.add_argument("--data-dir", default="data", help="where `mnist` downloads to")
    t.add_argument("--class-names", help="comma-separated, for idx:<dir> datasets")
    t.add_argument("--epochs", type=int, default=10)
    t.add_argument("--latent", type=int, default=20, help="latent size")
    t.add_argument("--backbone", choices=("linear", "conv"), default="conv", help="VAE/CVAE body")
    t.add_argument(
        "--hidden", type=_ints, default=(256,), help="fully connected widths, e.g. 512,256"
    )
    t.add_argument(
        "--decoder-hidden",
        type=_ints,
        default=(),
        help="the decoder's fully connected widths from the code out (default: --hidden mirrored)",
    )
    t.add_argument(
        "--prior-components",
        type=int,
        default=0,
        help="VAE/CVAE: learn a mixture of this many Gaussians as the prior (0: N(0, I))",
    )
    t.add_argument("--conv-channels", type=_ints, default=(32, 64), help="e.g. 32,64")
    t.add_argument("--norm", choices=NORMS, default="none", help="conv stages' normalisation")
    t.add_argument(
        "--upsample", choices=UPSAMPLES, default="transposed", help="conv decoder stages"
    )
    t.add_argument(
        "--decoder-channels",
        type=_ints,
        default=(),
        help="conv decoder: grid width, then each stage's; a full-size conv makes the image "
        "(default: the encoder mirrored)",
    )
    t.add_argument("--dropout", type=float, default=0.0)
    t.add_argument("--batch-size", type=int, default=128)
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument(
        "--lr-schedule", choices=LR_SCHEDULES, default="constant", help="cosine: anneal to 0"
    )
    t.add_argument(
        "--iwae-k",
        type=int,
        default=1000,
        help="VAE/CVAE: importance samples for the test -log p(x) (0: skip)",
    )
    t.add_argument(
        "--iwae-images",
        type=int,
        default=100,
        help="VAE/CVAE: test images the -log p(x) estimate uses",
    )
    t.add_argument("--kl-weight", type=float, default=1.0, help="VAE/CVAE KL weight (beta-VAE)")
    t.add_argument(
        "--kl-anneal",
        type=float,
        default=0.0,
        help="share of the steps over which --kl-weight falls linearly to 1 (0: constant)",
    )
    t.add_argument("--shift-pixels", type=int, default=0, help="VAEs: random shift per image")
    t.add_argument(
        "--code-critic", type=float, default=0.0, help="CVAE: adversary keeping the class out"
    )
    t.add_argument(
        "--sample-guide",
        type=float,
        default=0.0,
        help="CVAE: weight of a reader's verdict on digits drawn from the prior",
    )
    t.add_argument("--clip-grad-norm", type=float, default=0.0, help="0: no limit")
    t.add_argument("--activation", choices=ACTIVATIONS, default="relu")
    t.add_argument(
        "--condition-all-layers",
        action="store_true",
        help="CVAE: the class enters every decoder layer",
    )
    t.add_argument("--multilabel", action="store_true", help="classifier of face attributes")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--device", default="auto", help="auto (GPU when present), cpu, cuda, cuda:1")
    t.add_argument("--classifier", help="classifier ref that judges a CVAE's conditional accuracy")
    t.add_argument("--alias", action="append", default=[], help="alias to point at the new version")
    t.add_argument(
        "--no-promote", action="store_true", help="do not make a first version production"
    )
    t.add_argument("--limit-train", type=int, help="train on an evenly spread subset")
    t.add_argument("--limit-test", type=int, help="evaluate on an evenly spread subset")

    about = (
        "train the default models into the store: mnist (classifier, VAE, CVAE) and faces "
        "(attribute classifier, linear and conv autoencoders); --only picks a group"
    )
    b = sub.add_parser("bootstrap", help=about, description=about)
    b.add_argument("--force", action="store_true", help="publish new versions even if present")
    quick = os.environ.get("AE_BOOTSTRAP_EPOCHS")
    b.add_argument(
        "--epochs",
        type=int,
        default=int(quick) if quick else None,
        help="override every default's epochs for quick runs (default: $AE_BOOTSTRAP_EPOCHS)",
    )
    b.add_argument("--only", choices=tuple(GROUPS), action="append", help="train one group")
    return p


def spec_from_args(args: argparse.Namespace) -> TrainSpec:
    """The TrainSpec a `train` command line describes (its config's input shape and class
    count are fitted to the data when it runs)."""
    config = ModelConfig(
        family=args.family,
        latent_dim=args.latent,
        backbone=args.backbone,
        hidden=args.hidden,
        decoder_hidden=args.decoder_hidden,
        conv_channels=args.conv_channels,
        norm=args.norm,
        upsample=args.upsample,
        decoder_channels=args.decoder_channels,
        dropout=args.dropout,
        num_classes=2 if args.family in ("cvae", "classifier") else 0,  # fitted to the data
        multilabel=args.multilabel,
        activation=args.activation,
        condition_all_layers=args.condition_all_layers,
        prior_components=args.prior_components,
    )
    return TrainSpec(
        name=args.name,
        config=config,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        kl_weight=args.kl_weight,
        lr_schedule=args.lr_schedule,
        kl_anneal=args.kl_anneal,
        shift_pixels=args.shift_pixels,
        code_critic=args.code_critic,
        sample_guide=args.sample_guide,
        clip_grad_norm=args.clip_grad_norm,
        seed=args.seed,
        device=args.device,
        classifier=args.classifier,
        aliases=tuple(args.alias),
        promote_first=not args.no_promote,
        iwae_k=args.iwae_k,
        iwae_images=args.iwae_images,
    )


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    store = open_store(args.store)
    started = time.perf_counter()
    try:
        if args.command == "bootstrap":
            if int(os.environ.get("WORLD_SIZE", "1")) > 1:
                raise ValueError("bootstrap trains in one process; use torchrun with `train`")
            groups = tuple(args.only or GROUPS)
            published = bootstrap(store, not args.force, args.epochs, not args.quiet, groups)
            for m in published:
                print(f"published {m.name}@{m.version} {m.metrics}")
        else:
            names = tuple(args.class_names.split(",")) if args.class_names else None
            data = load(args.dataset, args.data_dir, names).limited(
                args.limit_train, args.limit_test
            )
            spec = spec_from_args(args)
            group, device = distributed.start(args.device)
            try:
                m = run(spec, data, store, not args.quiet, group, device)
            finally:
                distributed.stop()
            if m is None:
                return 0  # a torchrun rank other than 0: rank 0 published
            print(f"published {m.name}@{m.version} {m.metrics}")
    except (StoreError, DatasetError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"done in {time.perf_counter() - started:.1f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
