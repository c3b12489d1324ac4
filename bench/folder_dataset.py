"""Your own images at full size: Fashion-MNIST's 70,000 images as a `folder:` tree of PNG files.

Prints, from one run:
1. the first pass over the folder (find, fingerprint, check, decode into the cache): seconds and
   images/s; then a second pass that reuses the cache;
2. seconds per training epoch of the same model trained through the real CLI from the cache and
   from the `fashion-mnist` IDX dataset (Debian's dataset-fashion-mnist), and their ratio
   (goal: at most 1.2x);
3. each trainer's peak RSS against the cache's size on disk;
4. the held-out negative ELBO of both runs (the same images, split differently).

    apt-get install dataset-fashion-mnist
    .venv/bin/python bench/folder_dataset.py [--epochs 3] [--work /tmp/fashion-folder]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from trainer.datasets.catalog import load  # noqa: E402
from trainer.datasets.mnist import DEBIAN_FASHION_DIR, FASHION, _find, read_idx  # noqa: E402
from trainer.settings import DataSettings  # noqa: E402

MODEL = ["--family", "vae", "--backbone", "linear", "--hidden", "512", "--latent", "20",
         "--batch-size", "128", "--iwae-k", "0"]  # fmt: skip


def write_tree(folder: Path) -> int:
    """Every train and test image as <folder>/<class>/<split>-<n>.png."""
    if (folder / ".complete").exists():
        return sum(1 for _ in folder.rglob("*.png"))
    shutil.rmtree(folder, ignore_errors=True)
    for name in FASHION:
        (folder / name.replace("/", "-")).mkdir(parents=True)
    n = 0
    for split in ("train", "t10k"):
        images = read_idx(_find(DEBIAN_FASHION_DIR, f"{split}-images-idx3-ubyte"))
        labels = read_idx(_find(DEBIAN_FASHION_DIR, f"{split}-labels-idx1-ubyte"))
        for i, (pixels, label) in enumerate(zip(images, labels, strict=True)):
            Image.fromarray(np.asarray(pixels)).save(
                folder / FASHION[label].replace("/", "-") / f"{split}-{i:05d}.png")  # fmt: skip
            n += 1
    (folder / ".complete").touch()
    return n


def train(store: Path, name: str, dataset: str, epochs: int, cache: Path) -> tuple[dict, int]:
    """The real CLI in its own process: its manifest and its peak RSS in bytes."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "trainer", "--store", str(store), "--quiet", "train", "--name",
         name, "--dataset", dataset, "--epochs", str(epochs), "--cache-dir", str(cache), *MODEL],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit(f"training {name} failed:\n{proc.stderr.read().decode()[-2000:]}")
    manifest = json.loads((store / name / "1" / "manifest.json").read_text())
    return manifest, usage.ru_maxrss * 1024


def per_epoch(manifest: dict) -> float:
    """Median seconds per epoch after the first (which warms up)."""
    times = [0.0] + [h["elapsed_s"] for h in manifest["training"]["history"]]
    steps = [b - a for a, b in itertools.pairwise(times)]
    return statistics.median(steps[1:] if len(steps) > 1 else steps)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--work", type=Path, default=Path("/tmp/fashion-folder"))
    args = p.parse_args()
    if not DEBIAN_FASHION_DIR.is_dir():
        raise SystemExit("needs Debian's dataset-fashion-mnist (apt-get install it)")
    tree, cache, store = args.work / "images", args.work / "cache", args.work / "store"
    started = time.perf_counter()
    count = write_tree(tree)
    print(f"folder: {count} PNG files in {tree} (written in {time.perf_counter() - started:.0f}s)")
    shutil.rmtree(cache, ignore_errors=True)
    shutil.rmtree(store, ignore_errors=True)

    wanted = DataSettings(dataset=f"folder:{tree}", cache_dir=str(cache))
    started = time.perf_counter()
    data = load(wanted, progress=False)
    first = time.perf_counter() - started
    started = time.perf_counter()
    load(wanted, progress=False)
    second = time.perf_counter() - started
    size = sum(f.stat().st_size for f in cache.rglob("*") if f.is_file())
    print(f"first pass (find, fingerprint, check, decode, cache): {first:.1f}s, "
          f"{count / first:,.0f} images/s; again with the cache: {second:.1f}s")
    print(f"cache: {size / 2**20:.1f} MiB for {len(data.train_x) + len(data.test_x)} images")

    folder_m, folder_rss = train(store, "from-folder", f"folder:{tree}", args.epochs, cache)
    idx_m, idx_rss = train(store, "from-idx", "fashion-mnist", args.epochs, cache)
    f_epoch, i_epoch = per_epoch(folder_m), per_epoch(idx_m)
    print("\n| | folder: (cache) | fashion-mnist (IDX) | ratio |\n| --- | --- | --- | --- |")
    print(f"| seconds per epoch (median after the first) | {f_epoch:.2f} | {i_epoch:.2f} | "
          f"{f_epoch / i_epoch:.2f}x |")
    print(f"| trainer peak RSS | {folder_rss / 2**20:.0f} MiB | {idx_rss / 2**20:.0f} MiB | "
          f"{folder_rss / idx_rss:.2f}x |")
    print(f"| held-out negative ELBO (nats) | "
          f"{folder_m['metrics']['test_negative_elbo_nats']:.2f} | "
          f"{idx_m['metrics']['test_negative_elbo_nats']:.2f} | |")
    print(f"| train / test images | {folder_m['dataset']['train_size']} / "
          f"{folder_m['dataset']['test_size']} | {idx_m['dataset']['train_size']} / "
          f"{idx_m['dataset']['test_size']} | |")
    print(f"\ncache size {size / 2**20:.1f} MiB; {args.epochs} epochs each, one run")


if __name__ == "__main__":
    main()
