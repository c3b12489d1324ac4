"""Issue 13's CVAE figures and the MNIST bootstrap's time, from one real bootstrap.

    .venv/bin/python bench/cvae_quality.py [--runs 1] [--ablations]

Runs `python -m trainer bootstrap --only mnist`'s code into a fresh temporary store (the
classifier that judges, then mnist-vae, then mnist-cvae, on the embedded sample, with the
same epochs), and prints from the published manifests: both models' test negative ELBO
(the CVAE's goal: lower than the VAE's), the CVAE's conditional accuracy as judged by the
independently trained classifier, with independent and with shared noise (goal: >= 0.97
each), the accuracy of a classifier trained on the CVAE's codes (goal: near chance, 0.10),
the IWAE estimates, and the wall time of the whole group (goal: under 5 minutes).
With --ablations it then trains the default CVAE again with one part of its recipe changed
(the prior, the guide's weight, the code critic, where the class enters, the recipes before
the guide), in the same store, judged by the same classifier.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from unittest import mock

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from model_store import LocalStore, load_model  # noqa: E402
from trainer.bootstrap import MNIST, bootstrap  # noqa: E402
from trainer.conditioning import SampleGuide  # noqa: E402
from trainer.datasets.mnist import load_embedded_sample  # noqa: E402
from trainer.evaluation import draw_per_class  # noqa: E402
from trainer.pipeline import run  # noqa: E402

ABLATIONS = {
    "no guide: the plain ELBO": {"sample_guide": 0.0},
    "the N(0, I) prior instead of the learned mixture": {"prior_components": 0},
    "guide 5": {"sample_guide": 5.0},
    "guide 10": {"sample_guide": 10.0},
    "guide 50": {"sample_guide": 50.0},
    "guide 20, its reader's weights not decayed": {"reader_decay": 0.0},
    "guide 20 and the code critic (weight 5)": {"code_critic": 5.0},
    "class into the first decoder layer only": {"condition_all_layers": False},
    # The recipes before the guide: the code critic and bursts of KL weight, which bought
    # accuracy with likelihood.
    "no guide; critic 5, KL 8 -> 1 over 70% (the previous default)": {
        "sample_guide": 0.0,
        "code_critic": 5.0,
        "kl_weight": 8.0,
        "kl_anneal": 0.7,
    },
    "no guide; critic 5, KL 8 -> 1 over 15% (its nearest to both goals)": {
        "sample_guide": 0.0,
        "code_critic": 5.0,
        "kl_weight": 8.0,
        "kl_anneal": 0.15,
    },
}
CONFIG_KEYS = ("condition_all_layers", "prior_components")  # ModelConfig's, not TrainingSettings'
RING = 2  # pixels: the border where real digits hold almost no ink


def border_ink(images: torch.Tensor) -> float:
    """Mean over images of the ink (summed pixel values) within RING pixels of the border:
    a decoder that learned to sway its guide's reader with stray dots puts more there than
    real digits do."""
    inside = torch.zeros(images.shape[-2:], dtype=torch.bool)
    inside[RING:-RING, RING:-RING] = True
    return float(images.flatten(0, -3)[:, ~inside].sum(1).mean())


def drawn_border_ink(store: LocalStore, name: str) -> float:
    """border_ink of 1,000 digits the CVAE draws from the prior, 100 of each class."""
    model = load_model(store, name).module
    return border_ink(draw_per_class(model, model.config.num_classes, 100, seed=0)[0])


KEYS = (
    "test_negative_elbo_nats",
    "test_iwae_nll_nats",
    "test_iwae_images_negative_elbo_nats",
    "conditional_accuracy",
    "conditional_accuracy_shared_noise",
    "code_class_accuracy",
)


def one_run(ablations: bool) -> tuple[float, dict[str, dict[str, float]]]:
    with tempfile.TemporaryDirectory() as root:
        store = LocalStore(root)
        started = time.perf_counter()
        published = bootstrap(store, progress=False, groups=("mnist",))
        seconds = time.perf_counter() - started
        if ablations:
            data = load_embedded_sample()
            print(f"| real test digits | | | | | {border_ink(data.test_x):.3f} |")
            print(f"| **default** | | | | | {drawn_border_ink(store, 'mnist-cvae'):.3f} |")
            cvae = next(s for s in MNIST if s.name == "mnist-cvae")
            for label, change in ABLATIONS.items():
                change = dict(change)
                shape = {k: change.pop(k) for k in CONFIG_KEYS if k in change}
                config = replace(cvae.config, **shape)
                decay = change.pop("reader_decay", SampleGuide.decay)
                training = cvae.training.model_copy(update={"iwae_k": 0, **change})
                spec = replace(cvae, name="ablation", config=config, training=training)
                with mock.patch.object(SampleGuide, "decay", decay):
                    m = run(spec, data, store, progress=False)
                ink = drawn_border_ink(store, f"ablation@{m.version}")
                print(f"| {label} | {m.metrics['test_negative_elbo_nats']:.2f} | "
                      f"{m.metrics['conditional_accuracy']:.3f} | "
                      f"{m.metrics['conditional_accuracy_shared_noise']:.3f} | "
                      f"{m.metrics['code_class_accuracy']:.3f} | "
                      f"{ink:.3f} |", flush=True)  # fmt: skip
    return seconds, {m.name: {**m.metrics, "train_s": m.training.duration_s} for m in published}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--ablations", action="store_true", help="the CVAE without each trick")
    args = p.parse_args()
    if args.ablations:
        print("| CVAE variant | neg. ELBO nats | accuracy, independent | accuracy, shared | "
              f"code -> class | ink within {RING} px of the border |\n"
              "| --- | --- | --- | --- | --- | --- |")  # fmt: skip
    runs = [one_run(args.ablations) for _ in range(args.runs)]
    print(f"MNIST bootstrap: {statistics.median(s for s, _ in runs):.1f} s "
          f"(runs: {', '.join(f'{s:.1f}' for s, _ in runs)}; goal < 300 s)")  # fmt: skip
    print("\n| model | " + " | ".join(KEYS) + " | train s |")
    print("| --- " * (len(KEYS) + 2) + "|")
    for name in ("mnist-vae", "mnist-cvae"):
        cells = []
        for key in (*KEYS, "train_s"):
            values = [m[name][key] for _, m in runs if key in m[name]]
            cells.append(f"{statistics.median(values):.3f}" if values else "")
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
