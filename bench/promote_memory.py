"""Memory across promotes: does a version that nobody serves any more leave the workers?

    .venv/bin/python bench/promote_memory.py [--promotes 12] [--source DIR]

Publishes a conv VAE (50 MiB of weights) as several versions into a fresh store, starts the
service on it (`python -m service`, one worker, polling aliases every 0.2 s), then promotes
one version after another (each load prepares the model: eager by default, AE_GRAPHS),
waits until a request is answered by the promoted version and one second more, and prints
the worker's USS and RSS after each.
The cache holds `AE_MAX_LOADED_MODELS` (2 here) versions: with nothing leaking, memory levels
off after the first promotes. `--source` serves another checkout (a `git worktree` of an
older commit) for the before row, as `bench/edges.py` does.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from autoencoders import ModelConfig, build_model  # noqa: E402
from bench.serving import free_port, memory, wait_ready  # noqa: E402
from model_store import LocalStore, publish_model  # noqa: E402
from service.examples import DIGIT_7  # noqa: E402
from tests.model_store.conftest import fields  # noqa: E402

HEAVY = ModelConfig(
    family="vae", backbone="conv", latent_dim=20, hidden=(1024,), conv_channels=(64, 128)
)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--promotes", type=int, default=12)
    p.add_argument("--versions", type=int, default=4, help="distinct versions, promoted in turn")
    p.add_argument("--source", type=Path, default=ROOT, help="the checkout whose code serves")
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-promote-"))
    store = LocalStore(tmp / "store")
    for seed in range(args.versions):
        torch.manual_seed(seed)
        publish_model(store, "digits", build_model(HEAVY), HEAVY, fields(),
                      promote_first=seed == 0)  # fmt: skip
    weights = (tmp / "store" / "digits" / "1" / "weights.safetensors").stat().st_size
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "AE_WORKERS": "1", "AE_ALIAS_POLL_S": "0.2",
           "AE_MAX_LOADED_MODELS": "2", "AE_DEFAULT_MODEL": "digits", "AE_CVAE_MODEL": "digits",
           "AE_LOG_LEVEL": "warning"}  # fmt: skip
    cmd = [sys.executable, "-m", "service", "--port", str(port), "--store", str(tmp / "store")]
    proc = subprocess.Popen(cmd, cwd=args.source, stdout=(tmp / "log").open("w"),
                            stderr=subprocess.STDOUT, env=env)  # fmt: skip
    rows = []
    try:
        wait_ready(url, proc)
        body = {"images": [DIGIT_7]}

        def worker() -> dict:  # one worker: uvicorn serves in its main process
            found = memory(proc.pid)
            return next((m for m in found if m["role"] == "worker"), found[0])

        rows.append((0, 1, worker()))
        for i in range(1, args.promotes + 1):
            version = 1 + i % args.versions
            store.set_alias("digits", "production", version)
            deadline = time.monotonic() + 60
            while httpx.post(url + "/reconstruct", json=body).json().get("version") != version:
                if time.monotonic() > deadline:
                    raise SystemExit(f"version {version} was not served within 60 s")
                time.sleep(0.05)
            time.sleep(1)  # a few alias polls: what the worker does after a swap has run
            rows.append((i, version, worker()))
    finally:
        proc.terminate()
        proc.wait(30)
    print(f"\nserving {args.source}; weights of one version {weights / 2**20:.1f} MiB; "
          f"cache of 2 versions\n")  # fmt: skip
    print("| promotes | serving version | worker USS MiB | worker RSS MiB |")
    print("| --- | --- | --- | --- |")
    for i, version, m in rows:
        print(f"| {i} | {version} | {m['uss_mib']} | {m['rss_mib']} |")
    first, last = rows[1][2]["uss_mib"], rows[-1][2]["uss_mib"]
    print(f"\nUSS growth from the first promote to the last: {last - first:+.1f} MiB "
          f"over {len(rows) - 2} more promotes")  # fmt: skip


if __name__ == "__main__":
    main()
