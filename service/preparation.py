"""What the batcher knows of each model it serves: its graphs, its row block, its pass times.

- **Graphs.** With AE_GRAPHS=trace each operation is traced on its example inputs
  (`service.graphs.trace`); a graph that fails stays eager, logged.
- **Row block.** Every batch of a model is padded to a multiple of its row block, so a row
  gets the same bits alone or batched (`service.graphs.row_block`). The block is searched
  on the first operation's examples, which run every layer. With `in_background`, a new
  model serves at once with a block of `max_rows` (every pass one fixed shape: the bits the
  searched block gives too, only slower) while one long-lived thread searches the smaller
  block, one model at a time (each search runs `max_rows`-row passes, so its heap is reused
  rather than one per search); a cold start then waits for no search.
- **Pass times.** How long each (model, operation, padded rows) pass took last, which the
  batcher reads to decide whether a lone request may run inline.

Everything here is keyed by `id(model)` and forgotten when the model is collected: an
evicted or replaced model leaves nothing behind.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

import torch

from service.graphs import Operation, Tensors, row_block, trace

log = logging.getLogger("service.batching")


class Preparations:
    def __init__(
        self,
        max_rows: int,
        invariant: bool = True,
        threads: int | None = None,
        in_background: bool = False,
        on_searched: Callable[[], None] | None = None,
    ) -> None:
        self.max_rows, self.invariant, self.threads = max_rows, invariant, threads
        self.in_background = in_background
        self._on_searched = on_searched or (lambda: None)
        self.searches: queue.SimpleQueue[tuple[weakref.ref, Operation, Tensors] | None] = (
            queue.SimpleQueue()
        )
        self.searcher: threading.Thread | None = None
        self._stopped = False
        self.blocks: dict[int, int] = {}  # id(model) -> row block, while the model lives
        self.graphs: dict[tuple[int, Operation], Operation] = {}  # traced operations
        # (id(model), operation, padded rows) -> seconds its last pass took
        self._pass_s: dict[tuple[int, Operation, int], float] = {}

    def prepare(self, model: Any, examples: dict[Operation, Tensors], graphs: bool = True) -> None:
        """Before `model` serves: with `graphs`, trace each operation on its example inputs
        (`max_rows` rows); then find its row block with the first one."""
        started = time.perf_counter()
        key = id(model)
        weakref.finalize(model, self._forget, key)
        with torch.inference_mode():
            for operation, inputs in examples.items() if graphs else ():
                try:
                    self.graphs[(key, operation)] = trace(operation, model, inputs)
                except Exception as exc:  # noqa: BLE001 - eager still works
                    log.warning("%s stays eager for %s: %s", operation.__name__, model, exc)
            if self.invariant and examples:
                operation, inputs = next(iter(examples.items()))
                graph = self.graph(model, operation)
                if self.in_background:
                    self.blocks[key] = self.max_rows  # until the search below ends
                    self.searches.put((weakref.ref(model), graph, inputs))
                    if self.searcher is None:
                        self.searcher = threading.Thread(
                            target=self._search_blocks, daemon=True, name="row-block search"
                        )
                        self.searcher.start()
                else:
                    self.blocks[key] = row_block(graph, model, inputs, self.max_rows)
        log.info("prepared %s: %d graphs, row block %d (%.2fs)", getattr(model, "ref", model),
                 sum(k == key for k, _ in self.graphs), self.blocks.get(key, 1),
                 time.perf_counter() - started)  # fmt: skip

    def stop(self) -> None:
        """Wait for the search under way (well under a second): a process that exits inside
        a torch call on another thread aborts."""
        self._stopped = True
        if self.searcher is not None:
            self.searches.put(None)
            self.searcher.join(10)

    def graph(self, model: Any, operation: Operation) -> Operation:
        return self.graphs.get((id(model), operation), operation)

    def block(self, model: Any) -> int:
        return self.blocks.get(id(model), 1)

    def served(self, model: Any) -> bool:
        """Not forgotten (evicted) yet; with invariance off, nothing is recorded at all."""
        return id(model) in self.blocks or not self.invariant

    def padded(self, model: Any, rows: int) -> int:
        return rows + (-rows % self.block(model))

    def record_pass(self, model: Any, operation: Operation, padded_rows: int, took: float) -> None:
        if self.served(model):
            self._pass_s[(id(model), operation, padded_rows)] = took

    def last_pass_s(self, model: Any, operation: Operation, rows: int) -> float | None:
        """How long the last pass of this size took; None before the first."""
        return self._pass_s.get((id(model), operation, self.padded(model, rows)))

    def _search_blocks(self) -> None:
        """The row-block searches of models already serving with a block of max_rows."""
        if self.threads:
            torch.set_num_threads(self.threads)  # a new thread's OpenMP team: see Batcher._run
        while (item := self.searches.get()) is not None and not self._stopped:
            model_ref, graph, inputs = item
            model = model_ref()
            if model is None:  # evicted before its turn
                continue
            started = time.perf_counter()
            try:
                with torch.inference_mode():
                    block = row_block(graph, model, inputs, self.max_rows)
            except Exception:  # it keeps serving with max_rows
                log.exception("row-block search failed for %s; it keeps %d", model, self.max_rows)
                continue
            if id(model) in self.blocks:  # not forgotten (evicted) meanwhile
                self.blocks[id(model)] = block
            log.info("row block of %s: %d (%.2fs)", getattr(model, "ref", model), block,
                     time.perf_counter() - started)  # fmt: skip
            del model, item, graph, inputs
            self._on_searched()

    def _forget(self, key: int) -> None:
        self.blocks.pop(key, None)
        for timed in [k for k in list(self._pass_s) if k[0] == key]:
            self._pass_s.pop(timed, None)
        for graph_key in [k for k in list(self.graphs) if k[0] == key]:
            self.graphs.pop(graph_key, None)
