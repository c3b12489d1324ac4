"""python -m trainer train ... | bootstrap ..."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time

from pydantic import ValidationError

from model_store import StoreError, open_store
from model_store.location import DEFAULT_STORE, default_store
from model_store.location import HELP as STORE_HELP
from trainer import distributed
from trainer.bootstrap import GROUPS, bootstrap
from trainer.datasets import DatasetError
from trainer.datasets.catalog import HELP as DATASETS_HELP
from trainer.datasets.catalog import load
from trainer.pipeline import TrainSpec, run
from trainer.settings import DataSettings, add_flags, settings_from_args


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m trainer", description="Train and publish autoencoders."
    )
    p.add_argument(
        "--store",
        default=default_store(os.environ),
        help=f"the model store: {STORE_HELP} (default: $AE_STORE_DIR or ./{DEFAULT_STORE})",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser(
        "train",
        help="train one model and publish it as a new version",
        description="Train one model and publish it as a new version. Datasets: " + DATASETS_HELP,
    )
    add_flags(t)

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


def spec_from_args(args: argparse.Namespace) -> tuple[TrainSpec, DataSettings]:
    """The TrainSpec and data a `train` command line describes (its config's input shape
    and class count are fitted to the data when it runs)."""
    job, config, training, data = settings_from_args(args)
    spec = TrainSpec(name=job.name, config=config, training=training, device=job.device,
                     classifier=job.classifier, aliases=job.alias,
                     promote_first=not job.no_promote)  # fmt: skip
    return spec, data


def _problem(error: dict) -> str:
    where = ".".join(str(part) for part in error["loc"])
    return f"--{where.replace('_', '-')}: {error['msg']}" if where else error["msg"]


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
            spec, wanted = spec_from_args(args)
            data = load(wanted, seed=spec.training.seed, progress=not args.quiet)
            group, device = distributed.start(os.environ, spec.device)
            try:
                m = run(spec, data, store, not args.quiet, group, device)
            finally:
                distributed.stop()
            if m is None:
                return 0  # a torchrun rank other than 0: rank 0 published
            print(f"published {m.name}@{m.version} {m.metrics}")
    except ValidationError as exc:
        print(f"error: {'; '.join(_problem(e) for e in exc.errors())}", file=sys.stderr)
        return 2
    except (StoreError, DatasetError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"done in {time.perf_counter() - started:.1f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
