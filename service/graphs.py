"""A model's operations made ready to batch: row blocks, and optionally traced graphs.

- **Eager by default; TorchScript graphs on request** (AE_GRAPHS=trace). `trace` turns an
  operation into one TorchScript graph whose forward pass takes the GIL once instead of at
  every op. It was chosen when an eager pass beside a busy event loop waited for the GIL at
  each op; measured again on evidence (bench/graph_machinery.py for one call,
  bench/serving.py --alt-env AE_GRAPHS=eager for the service), eager now serves as many
  requests at 1 to 64 connections (0.96-1.05x) and 64-digit batches (1.02-1.05x), while
  tracing costs 0.03-0.12 s an operation at every load, keeps 1.5-2.5 MiB a load that a
  promote never gives back, and is deprecated upstream. torch.compile (2-10 s to compile,
  other bits) and torch.export (run as Python, slower at batch 1) lose. A graph that does
  not give the eager bits is not used.
- **The same answer alone or batched.** Matrix kernels pick their algorithm by the number of
  rows, so a row's float result can change in the last bit with the batch around it (and a
  pixel by one grey level). `row_block` finds, per model and on this machine, the smallest
  block of rows P for which every multiple of P gives each row the same bits; the batcher
  pads batches to a multiple of P (repeating their last row), so an answer never depends on
  what it was batched with. The padding costs a lone request on an idle server (P rows
  computed for one); the batcher's `invariant=False` skips it, and answers may then differ
  in the last bit.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

Tensors = tuple[torch.Tensor | None, ...]
Operation = Callable[..., Tensors]
CANDIDATE_BLOCKS = (1, 2, 4, 8, 16, 32)


class _Traced(nn.Module):
    """What `trace` traces: `operation` on `model`, None inputs and outputs left out."""

    def __init__(self, operation: Operation, model: Any, none_in: list[bool]) -> None:
        super().__init__()
        self.net = model.module  # its parameters become the graph's
        self.call: tuple[Operation, Any, list[bool]] | None = (operation, model, none_in)

    def forward(self, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
        assert self.call is not None, "traced once, then run as a graph"
        operation, model, none_in = self.call
        given = iter(tensors)
        args = [None if none else next(given) for none in none_in]
        return tuple(t for t in operation(model, *args) if t is not None)


def trace(operation: Operation, model: Any, inputs: Tensors) -> Operation:
    """`operation` on `model` as one TorchScript graph, with the same signature (None inputs
    and outputs kept in place). Raises ValueError if the graph's answer on `inputs` is not
    bit for bit the eager one."""
    none_in = [t is None for t in inputs]
    eager = operation(model, *inputs)
    none_out = [t is None for t in eager]
    traced = _Traced(operation, model, none_in)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TracerWarnings about Python values baked in
        graph = torch.jit.trace(traced, tuple(t for t in inputs if t is not None),
                                check_trace=False)  # fmt: skip
    # The graph runs in C++ from now on: it keeps the weights, never the Python model, so a
    # version nobody serves any more is freed (a class made per trace closed over the model,
    # and since classes live in reference cycles, a model was freed only by a full garbage
    # collection, and never once gc.freeze had been called after its load).
    traced.call = None

    def run(_model: Any, *args: torch.Tensor | None) -> Tensors:
        out = iter(graph(*(a for a in args if a is not None)))
        return tuple(None if none else next(out) for none in none_out)

    if not _same(run(model, *inputs), eager, 0, len(inputs[0])):
        raise ValueError("the traced graph's answer differs from the eager one")
    run.__name__ = getattr(operation, "__name__", "op")
    return run


def row_block(operation: Operation, model: Any, inputs: Tensors, max_rows: int) -> int:
    """The smallest P (from 1, 2, 4, ... 32) such that running any multiple of P rows, up to
    `max_rows`, gives each row exactly the bits it gets inside a batch of `max_rows`; else
    `max_rows` (every forward pass then has one fixed shape)."""
    reference = operation(model, *inputs)
    for block in (b for b in CANDIDATE_BLOCKS if b < max_rows):
        sizes = sorted({block, 2 * block, 3 * block, *range(block, max_rows, 4 * block)})
        if all(
            _same(operation(model, *slice_rows(inputs, start, start + m)), reference, start, m)
            for m in sizes
            if m < max_rows
            for start in (0, max_rows - m)
        ):
            return block
    return max_rows


def concat_rows(parts: Sequence[Tensors]) -> Tensors:
    """Inputs of several jobs, position by position; None stays None."""
    out = []
    for column in zip(*parts, strict=True):
        out.append(None if column[0] is None else torch.cat(column))
    return tuple(out)


def pad_rows(inputs: Tensors, rows: int, block: int) -> Tensors:
    """`rows` rows padded to a multiple of `block` with copies of the last row."""
    extra = -rows % block
    if not extra:
        return inputs
    return tuple(
        None if t is None else torch.cat([t, t[-1:].expand(extra, *t.shape[1:])]) for t in inputs
    )


def slice_rows(inputs: Tensors, start: int, stop: int) -> Tensors:
    return tuple(None if t is None else t[start:stop] for t in inputs)


def _same(got: Tensors, reference: Tensors, start: int, rows: int) -> bool:
    return all(
        (a is None and b is None) or _equal(a, b[start : start + rows])
        for a, b in zip(got, reference, strict=True)
    )


def _equal(a: torch.Tensor, b: torch.Tensor) -> bool:
    """torch.equal, with NaN equal to NaN (an output that says "absent", as /score's code
    term for a model scored without it)."""
    if a.shape != b.shape:
        return False
    if not a.is_floating_point():
        return torch.equal(a, b)
    return bool(((a == b) | (a.isnan() & b.isnan())).all())
