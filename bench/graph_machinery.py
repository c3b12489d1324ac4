"""Which graph machinery runs the served operations fastest? (issue: choose it on evidence)

    .venv/bin/python bench/graph_machinery.py [--models mnist-vae,faces-ae-conv] [--calls 200]

For the default models' architectures (random weights; the face models at their 3x45x45 input),
`reconstruct` (the operation that runs every layer) at batch 1, 4 (the padded pass of a lone
digit), 16 and 64 is run four ways:

- **eager**: the Python module under `torch.inference_mode`;
- **trace**: `torch.jit.trace`, what the service runs today (`service.graphs.trace`);
- **compile**: `torch.compile` (Inductor, C++ on this CPU), one compile per batch size;
- **export**: `torch.export.export(...).module()`, the exported graph run as an FX module.

Printed per way: the median time of one call, the time to make it ready (what a model load
would pay; compile and export per batch size), whether its answer is bit for bit the eager
one, and the process's RSS growth over 12 fresh models made ready (what a promote would leave
behind). Each row runs in its own process. One run; medians of `--calls` calls.

What a call costs beside a busy event loop (eager code takes the GIL at every op, a graph
once) is measured on the real service: `bench/serving.py --alt-env AE_GRAPHS=eager`. A busy
thread in this process gave answers that changed tenfold from run to run.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import subprocess
import sys
import time
import warnings
from dataclasses import replace
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from autoencoders import build_model  # noqa: E402
from model_store import LoadedModel, Manifest  # noqa: E402
from service import inference  # noqa: E402
from service.graphs import trace  # noqa: E402
from tests.model_store.conftest import fields  # noqa: E402
from trainer.bootstrap import FACES, MNIST  # noqa: E402

SPECS = {spec.name: spec for spec in (*MNIST, *FACES)}
BATCHES = (1, 4, 16, 64)  # 4: the pass a lone MNIST digit pays (its row block)
WAYS = ("eager", "trace", "compile", "export")


def loaded(name: str) -> LoadedModel:
    config = SPECS[name].config
    if name.startswith("faces"):  # the face models' input, as bootstrap fits it to the data
        config = replace(config, channels=3, height=45, width=45)
    module = build_model(config).eval()
    manifest = Manifest.model_validate(
        {**fields(), "name": name, "version": 1, "family": config.family,
         "config": config.to_dict(), "latent_size": config.latent_dim, "files": {},
         "class_names": [str(i) for i in range(config.num_classes)],
         "torch_version": torch.__version__}
    )  # fmt: skip
    return LoadedModel(manifest, config, module)


def inputs(model: LoadedModel, rows: int) -> tuple:
    return inference.examples(model, rows)[inference.reconstruct]


class _Reconstruct(torch.nn.Module):
    """`inference.reconstruct` as a module of tensors only (what compile and export take)."""

    def __init__(self, model: LoadedModel, labelled: bool) -> None:
        super().__init__()
        self.net, self.model, self.labelled = model.module, model, labelled

    def forward(self, x: torch.Tensor, *labels: torch.Tensor):
        return inference.reconstruct(self.model, x, labels[0] if self.labelled else None)


def make_ready(way: str, model: LoadedModel, rows: int):
    """A callable (x, labels) -> outputs, made ready for `rows` rows."""
    x, labels = inputs(model, rows)
    if way == "eager":
        return lambda x, labels: inference.reconstruct(model, x, labels)
    if way == "trace":
        graph = trace(inference.reconstruct, model, (x, labels))
        return lambda x, labels: graph(model, x, labels)
    wrapped = _Reconstruct(model, labels is not None).eval()
    args = (x,) if labels is None else (x, labels)
    if way == "compile":
        compiled = torch.compile(wrapped, dynamic=False)
        compiled(*args)  # the compile happens at the first call
        return lambda x, labels: compiled(*((x,) if labels is None else (x, labels)))
    program = torch.export.export(wrapped, args).module()
    return lambda x, labels: program(*((x,) if labels is None else (x, labels)))


def timed_calls(run, x, labels, calls: int) -> float:
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        run(x, labels)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1e6


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def row(name: str, way: str, calls: int) -> list[str]:
    model = loaded(name)
    cells = []
    with torch.inference_mode():
        for rows in BATCHES:
            x, labels = inputs(model, rows)
            reference = inference.reconstruct(model, x, labels)
            try:
                started = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    run = make_ready(way, model, rows)
                ready_s = time.perf_counter() - started
            except Exception as exc:  # noqa: BLE001 - a way that fails is a finding
                cells.append(f"fails: {type(exc).__name__}")
                continue
            same = all(torch.equal(a, b) for a, b in zip(run(x, labels), reference, strict=True))
            alone = timed_calls(run, x, labels, calls)
            differ = "" if same else ", bits differ"
            cells.append(f"{alone:,.0f} µs, {ready_s:.2f} s{differ}")
    return cells


def growth(name: str, way: str, models: int = 12) -> float:
    """RSS growth (MiB) over `models` fresh models made ready and dropped, after the first."""
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        make_ready(way, loaded(name), 16)
        gc.collect()
        before = rss_mib()
        for _ in range(models):
            run = make_ready(way, loaded(name), 16)
            run(*inputs(loaded(name), 16))
            del run
            gc.collect()
    return rss_mib() - before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="mnist-vae,mnist-cvae,faces-ae-linear,faces-ae-conv")
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--ways", default=",".join(WAYS))
    parser.add_argument("--one", help=argparse.SUPPRESS)  # model,way: one row, this process
    args = parser.parse_args()
    torch.set_num_threads(1)  # as each serving worker's inference thread runs by default
    if args.one:
        name, way = args.one.split(",")
        cells = row(name, way, args.calls)
        try:
            grown = f"{growth(name, way):+.1f} MiB"
        except Exception as exc:  # noqa: BLE001
            grown = f"fails: {type(exc).__name__}"
        print(f"| {name} | {way} | " + " | ".join(cells) + f" | {grown} |", flush=True)
        return
    print(f"torch {torch.__version__}, 1 thread, reconstruct; cell: median time of a call, "
          f"time to make ready")  # fmt: skip
    batches = " | ".join(f"batch {b}" for b in BATCHES)
    print(f"| model | way | {batches} | RSS growth, 12 loads |")
    print("| --- | --- | " + " | ".join("---" for _ in BATCHES) + " | --- |")
    for name in args.models.split(","):
        for way in args.ways.split(","):  # each in a fresh process: compile leaves state
            one = [sys.executable, __file__, "--one", f"{name},{way}", "--calls", str(args.calls)]
            subprocess.run(one, check=True, stderr=subprocess.DEVNULL)


if __name__ == "__main__":
    main()
