"""Figures for the spine issue, measured side by side in one run on this machine.

    .venv/bin/python bench/mnist_figures.py [--store DIR] [--seconds 20]

1. `python -m trainer bootstrap` wall time into an empty store (skipped with --store).
2. Test negative ELBO of mnist-vae next to an MLP VAE baseline (784-400-20, Adam 1e-3,
   batch 128) trained on the same data for the same epochs.
3. Conditional accuracy of mnist-cvae (from its manifest, judged by mnist-classifier).
4. Seconds from `python -m service` process start to /ready = 200.
5. /reconstruct load: 1 image per request at 16 concurrent clients (requests/s, p50, p99),
   and 64 images per request (images/s).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from autoencoders import ModelConfig, build_model  # noqa: E402
from bench.serving import write_script, wrk  # noqa: E402
from model_store import LocalStore, TrainingSettings, load_model  # noqa: E402
from service.examples import DIGIT_7  # noqa: E402
from trainer.datasets.mnist import load_embedded_sample  # noqa: E402
from trainer.pipeline import config_for  # noqa: E402
from trainer.training import evaluate_loss, train  # noqa: E402


def bootstrap(store: Path) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "trainer", "--store", str(store), "--quiet", "bootstrap"],
                   cwd=ROOT, check=True)  # fmt: skip
    return time.perf_counter() - started


def baseline_elbo(epochs: int) -> tuple[float, float]:
    """The pytorch/examples VAE: 784-400-20 MLP, Adam 1e-3, batch 128, seed 0."""
    import torch

    data = load_embedded_sample()
    config = config_for(
        data, ModelConfig(family="vae", backbone="linear", hidden=(400,), latent_dim=20)
    )
    torch.manual_seed(0)
    model = build_model(config)
    started = time.perf_counter()
    settings = TrainingSettings(epochs=epochs, batch_size=128, learning_rate=1e-3, seed=0)
    train(model, config, data, settings, torch.device("cpu"), progress=False)
    return evaluate_loss(model, config, data.test_x, data.test_y), time.perf_counter() - started


def time_to_ready(store: Path, port: int) -> tuple[subprocess.Popen, float]:
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "service", "--port", str(port), "--store", str(store)],
        cwd=ROOT, env={**os.environ, "AE_LOG_LEVEL": "warning"},
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/ready"
    while True:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return proc, time.perf_counter() - started
        except httpx.TransportError:
            pass
        time.sleep(0.05)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--store", type=Path, help="reuse a bootstrapped store (skips the timing)")
    p.add_argument("--seconds", type=float, default=20.0, help="duration of each load run")
    p.add_argument("--port", type=int, default=8791)
    args = p.parse_args()
    figures: dict[str, object] = {}

    store = args.store or Path(tempfile.mkdtemp(prefix="bench-store-"))
    if args.store is None:
        figures["bootstrap_wall_s"] = round(bootstrap(store), 1)
        print(f"bootstrap: {figures['bootstrap_wall_s']} s", flush=True)

    vae = load_model(LocalStore(store), "mnist-vae").manifest
    epochs = vae.training.epochs
    base, base_s = baseline_elbo(epochs)
    ours = vae.metrics["test_negative_elbo_nats"]
    figures["elbo"] = {
        "epochs": epochs,
        "mnist_vae_nats": round(ours, 2),
        "mlp_baseline_nats": round(base, 2),
        "improvement_pct": round(100 * (base - ours) / base, 2),
        "mnist_vae_train_s": round(vae.training.duration_s, 1),
        "baseline_train_s": round(base_s, 1),
    }
    print("elbo:", figures["elbo"], flush=True)

    cvae = load_model(LocalStore(store), "mnist-cvae").manifest
    clf = load_model(LocalStore(store), "mnist-classifier").manifest
    figures["conditional_accuracy"] = cvae.metrics.get("conditional_accuracy")
    figures["classifier_test_accuracy"] = clf.metrics["test_accuracy"]
    judge = f"{cvae.evaluated_with} (test accuracy {figures['classifier_test_accuracy']})"
    print("conditional accuracy:", figures["conditional_accuracy"], "judged by", judge, flush=True)

    proc, ready_s = time_to_ready(store, args.port)
    figures["start_to_ready_s"] = round(ready_s, 2)
    print(f"process start to /ready: {ready_s:.2f} s", flush=True)
    try:
        url = f"http://127.0.0.1:{args.port}/reconstruct"
        tmp = Path(tempfile.mkdtemp(prefix="mnist-figures-"))
        scripts = {
            n: write_script(tmp, f"digits{n}", json.dumps({"images": [DIGIT_7] * n}).encode(),
                            {"content-type": "application/json"})
            for n in (1, 64)
        }  # fmt: skip
        one = wrk(url, scripts[1], 16, args.seconds)  # wrk: a client that is not the bottleneck
        batch = wrk(url, scripts[64], 4, args.seconds)
        batch["images_per_s"] = batch["rps"] * 64
    finally:
        proc.terminate()
        proc.wait(20)
    figures["reconstruct_1_image_16_clients"] = {k: round(v, 1) for k, v in one.items()}
    figures["reconstruct_64_images_4_clients"] = {k: round(v, 1) for k, v in batch.items()}
    print("reconstruct, 1 image/request, 16 clients:", figures["reconstruct_1_image_16_clients"])
    print("reconstruct, 64 images/request, 4 clients:", figures["reconstruct_64_images_4_clients"])
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
