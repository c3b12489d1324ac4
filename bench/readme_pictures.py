"""Pictures for the README, from published versions' report images.

    .venv/bin/python bench/readme_pictures.py [--mnist STORE] [--faces STORE]

Copies report images into docs/images/ and, for face models published before reports
carried one, draws the smile edit grid the same way training does. Beside mnist-vae's
samples (drawn at its published sharpness), the same codes as the decoder's Bernoulli means
(sharpness 1: what versions before it served).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from dataclasses import replace
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from model_store import LocalStore, load_model  # noqa: E402
from trainer.datasets.faces import ATTRIBUTES, generate  # noqa: E402
from trainer.reports import edit_grid, sample_grid  # noqa: E402

OUT = ROOT / "docs" / "images"


def copy_report(store: LocalStore, name: str, image: str, target: str) -> None:
    m = load_model(store, name).manifest
    shutil.copy(store.root / name / str(m.version) / "report" / image, OUT / target)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--mnist", type=Path, help="a store with mnist-vae and mnist-cvae")
    p.add_argument("--faces", type=Path, help="a store with faces-ae-linear and faces-ae-conv")
    args = p.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    if args.mnist:
        mnist = LocalStore(args.mnist)
        copy_report(mnist, "mnist-vae", "samples.png", "mnist-vae-samples.png")
        copy_report(mnist, "mnist-vae", "reconstructions.png", "mnist-vae-reconstructions.png")
        copy_report(mnist, "mnist-cvae", "samples.png", "mnist-cvae-every-digit.png")
        vae = load_model(mnist, "mnist-vae")
        vae.module.config = replace(vae.config, sharpness=1.0)
        with torch.inference_mode():
            means = sample_grid(vae.module, vae.module.config, vae.latents)
        (OUT / "mnist-vae-samples-means.png").write_bytes(means)
    if args.faces:
        faces = LocalStore(args.faces)
        images, attrs = generate(2000, 10_000)  # the held-out faces
        a = ATTRIBUTES.index("Smiling")
        lacking = torch.from_numpy(images[attrs[:, a] == 0][:8])
        for name in ("faces-ae-linear", "faces-ae-conv"):
            copy_report(faces, name, "reconstructions.png", f"{name}-reconstructions.png")
            m = load_model(faces, name)
            variants = {k: m.latents[f"directions_{k}"] for k in ("plain", "corrected")}
            (OUT / f"{name}-smile.png").write_bytes(edit_grid(m.module, lacking, variants, a))
    print("\n".join(sorted(p.name for p in OUT.iterdir())))


if __name__ == "__main__":
    main()
