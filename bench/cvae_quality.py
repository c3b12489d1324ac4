"""Issue 13's CVAE figures and the MNIST bootstrap's time, from one real bootstrap.

    .venv/bin/python bench/cvae_quality.py [--runs 1]

Runs `python -m trainer bootstrap --only mnist`'s code into a fresh temporary store (the
classifier that judges, then mnist-vae, then mnist-cvae, on the embedded sample, with the
same epochs), and prints from the published manifests: both models' test negative ELBO
(the CVAE's goal: lower than the VAE's), the CVAE's conditional accuracy as judged by the
independently trained classifier, with independent and with shared noise (goal: >= 0.97
each), the accuracy of a classifier trained on the CVAE's codes (goal: near chance, 0.10),
the IWAE estimates, and the wall time of the whole group (goal: under 5 minutes).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from model_store import LocalStore  # noqa: E402
from trainer.bootstrap import bootstrap  # noqa: E402

KEYS = (
    "test_negative_elbo_nats",
    "test_iwae_nll_nats",
    "conditional_accuracy",
    "conditional_accuracy_shared_noise",
    "code_class_accuracy",
)


def one_run() -> tuple[float, dict[str, dict[str, float]]]:
    with tempfile.TemporaryDirectory() as root:
        started = time.perf_counter()
        published = bootstrap(LocalStore(root), progress=False, groups=("mnist",))
        seconds = time.perf_counter() - started
    return seconds, {m.name: {**m.metrics, "train_s": m.training.duration_s} for m in published}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--runs", type=int, default=1)
    args = p.parse_args()
    runs = [one_run() for _ in range(args.runs)]
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
