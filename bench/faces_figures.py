"""Figures for the faces issue: linear vs convolutional autoencoder, and attribute edits.

    .venv/bin/python bench/faces_figures.py [--store DIR]

Without --store, trains the face defaults (`bootstrap --only faces`) into a new store and
reports its wall time. Then, for faces-ae-linear and faces-ae-conv (same latent size):
held-out reconstruction MSE, parameters and training time; how often the judge reads
each attribute of a plain reconstruction right (the ceiling of any edit); and for Smiling and
Eyeglasses, on held-out faces lacking the attribute, the share the faces-attributes
classifier reads as having it after the edit (success) and the share whose other
attributes it reads as before (others kept), for the plain and the bias-corrected
directions, at strengths 1 (the default), 1.5 and 2, with which other attribute the default
edit changes; and the smile taken away from held-out smiling faces at strengths -1 and -1.5
(the share still read as smiling). Last, issue 13's goals for the conv model against the
linear one trained in the same run: MSE ratio (<= 1), training-time ratio (<= 1.5) and the
default (corrected) edits at strength 1 (>= 0.95 success and others kept).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from model_store import LocalStore, Manifest, load_model  # noqa: E402
from trainer.datasets.faces import ATTRIBUTES, generate  # noqa: E402
from trainer.evaluation import edit_summary, read_attributes  # noqa: E402

WRITE_UP = {"linear": 0.0043, "conv": 0.0054}  # validation MSE on real LFW, 45x45, latent 100


# Per attribute: (faces with it?, strengths); the smile is also taken away from smiling faces.
EDITS = {
    "Smiling": [(False, (1.0, 1.5, 2.0)), (True, (-1.0, -1.5))],
    "Eyeglasses": [(False, (1.0, 1.5, 2.0))],
}


@torch.inference_mode()
def edit_figures(model, judge, x, present, latents) -> dict[str, object]:
    """Judge readings of each edit, against one reading of the unedited reconstructions."""
    row: dict[str, object] = {}
    for attribute, groups in EDITS.items():
        a = ATTRIBUTES.index(attribute)
        for having, strengths in groups:
            z = model.encode(x[present[:, a] == float(having)]).z
            before = read_attributes(judge, model.decode(z))
            for variant in ("plain", "corrected"):
                direction = latents[f"directions_{variant}"][a]
                for strength in strengths:
                    after = read_attributes(judge, model.decode(z + strength * direction))
                    r = edit_summary(before, after, a)
                    key = f"{attribute}/{variant}/x{strength:g}"
                    label = "still smiling" if having else "success"
                    row[key] = f"{label} {r['success']:.3f}, others kept {r['others_kept']:.3f}"
                    if strength == 1.0:  # which other attribute the edit changes, how often
                        row[f"{key}/changed"] = {
                            name: round(float((after[:, i] != before[:, i]).float().mean()), 3)
                            for i, name in enumerate(ATTRIBUTES)
                            if i != a
                        }
    return row


def goals(lin: Manifest, conv: Manifest) -> dict[str, object]:
    """Issue 13's goals for the conv model, from the two manifests of one run."""
    key = "test_reconstruction_mse"
    edits = {
        f"{a}: success / others kept": [
            round(conv.metrics[f"edit.{a}.corrected.{k}"], 3) for k in ("success", "others_kept")
        ]
        for a in EDITS
    }
    return {
        "conv / linear held-out MSE (goal <= 1)": round(conv.metrics[key] / lin.metrics[key], 3),
        "conv / linear training time (goal <= 1.5)": round(
            conv.training.duration_s / lin.training.duration_s, 2
        ),
        "conv edits, corrected, strength 1 (goal >= 0.95 / 0.95)": edits,
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--store", type=Path)
    args = p.parse_args()
    figures: dict[str, object] = {}
    store_dir = args.store
    if store_dir is None:
        store_dir = Path(tempfile.mkdtemp(prefix="bench-faces-"))
        started = time.perf_counter()
        cmd = [sys.executable, "-m", "trainer", "--store", str(store_dir), "--quiet",
               "bootstrap", "--only", "faces"]  # fmt: skip
        subprocess.run(cmd, cwd=ROOT, check=True, stdout=sys.stderr)  # stdout is the figures
        figures["bootstrap_faces_wall_s"] = round(time.perf_counter() - started, 1)
    store = LocalStore(store_dir)
    judge = load_model(store, "faces-attributes")
    figures["classifier_test_accuracy"] = judge.manifest.metrics

    images, attrs = generate(2000, 10_000)  # the held-out split bootstrap evaluates on
    x, present = torch.from_numpy(images), torch.from_numpy(attrs)
    table, manifests = {}, {}
    for name in ("faces-ae-linear", "faces-ae-conv"):
        m = load_model(store, name)
        manifests[name] = m.manifest
        row = {
            "latent": m.config.latent_dim,
            "parameters": sum(t.numel() for t in m.module.parameters()),
            "epochs": m.manifest.training.epochs,
            "train_s": m.manifest.training.duration_s,
            "test_mse": round(m.manifest.metrics["test_reconstruction_mse"], 5),
        }
        # The ceiling of any edit: how often the judge reads a plain reconstruction right.
        with torch.inference_mode():
            read = read_attributes(judge.module, m.module.decode(m.module.encode(x).z))
        for i, attribute in enumerate(ATTRIBUTES):
            row[f"judge_right_on_reconstructions/{attribute}"] = round(
                float((read[:, i] == present[:, i]).float().mean()), 3
            )
        row.update(edit_figures(m.module.eval(), judge.module, x, present, m.latents))
        table[name] = row
    figures["models"] = table
    figures["goals"] = goals(manifests["faces-ae-linear"], manifests["faces-ae-conv"])
    figures["write_up_lfw_mse"] = WRITE_UP
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
