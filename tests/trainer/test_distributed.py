"""torchrun: two CPU processes (gloo) train one model together and publish it once."""

from __future__ import annotations

import json
import time

import pytest
import torch

from tests.conftest import run_cli
from trainer.distributed import Group

ARGS = ["--quiet", "train", "--family", "vae", "--epochs", "2", "--limit-train", "1000",
        "--limit-test", "200", "--iwae-images", "20", "--batch-size", "64", "--seed", "3"]  # fmt: skip


def test_the_ranks_shards_cover_each_global_batch_once():
    batch = torch.arange(10, 75)
    shards = [Group(rank, 3).shard(batch) for rank in range(3)]
    assert sorted(torch.cat(shards).tolist()) == batch.tolist()
    assert max(len(s) for s in shards) - min(len(s) for s in shards) <= 1


def _show(store, name: str) -> dict:
    return json.loads(run_cli("-m", "model_store", "--store", str(store), "show", name))


@pytest.mark.slow
def test_two_processes_publish_once_what_one_process_would_train(tmp_path):
    store = tmp_path / "store"
    torchrun = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    timings = {}
    for name, launcher in (("one", []), ("two", torchrun), ("two-again", torchrun)):
        started = time.perf_counter()
        out = run_cli(*launcher, "-m", "trainer", "--store", str(store), *ARGS, "--name", name,
                      env={"TMPDIR": str(tmp_path)})  # torchrun leaves its logs there  # fmt: skip
        timings[name] = time.perf_counter() - started
        assert out.count("published") == 1, out  # rank 0 only
    one, two, again = (_show(store, n) for n in ("one", "two", "two-again"))
    assert run_cli("-m", "model_store", "--store", str(store), "list").splitlines() == [
        "one@1  [production]", "two@1  [production]", "two-again@1  [production]",
    ]  # fmt: skip
    assert (one["training"]["processes"], two["training"]["processes"]) == (1, 2)
    # The same seed gives the same model, bit for bit, on two processes.
    assert two["files"]["weights.safetensors"] == again["files"]["weights.safetensors"]
    elbo_one = one["metrics"]["test_negative_elbo_nats"]
    elbo_two = two["metrics"]["test_negative_elbo_nats"]
    assert abs(elbo_two - elbo_one) / elbo_one < 0.05, (elbo_one, elbo_two)
    print(
        f"\none process: {timings['one']:.1f} s wall, neg. ELBO {elbo_one:.2f} nats; "
        f"two (torchrun, gloo): {timings['two']:.1f} s wall, {elbo_two:.2f} nats"
    )
