"""Cross-request dynamic batching: one inference thread per process, one forward pass per batch.

A request becomes a `Job`: how many rows it brings, `prepare` (decode its images or draw
its codes: tensors with one row per item), an operation that is row-wise over any number of
rows (`service.inference`), and `finish` (encode its slice of the outputs into a response).
Jobs for the same model version and operation that are waiting together run as one forward
pass, up to `max_rows`; each job's slice of the outputs goes back to its own request.

- **Adaptive wait.** The thread takes whatever is queued when it is free: a lone request on
  an idle server runs at once. Only when the previous batch held several requests (so the
  server is busy) does it wait up to `max_wait_s` for more to arrive.
- **Inline when idle.** A request alone in its worker (`inline_when`: no other request in
  flight; nothing queued, no batch running) whose forward pass took under INLINE_MAX_S the
  last time runs on the event loop's thread itself: no hand-off to the inference thread and
  back (one connection's usual case). The same code runs it, so the same bits come back; a
  slower pass goes to the thread, and the loop is held only when nobody else waits on it.
- **Isolation.** `prepare` and `finish` run per job: a bad image fails its own request only.
  If a batched forward pass raises, each job is rerun alone so that only its culprit fails.
- **The same answer alone or batched**: batches are padded to each model's row block;
  operations run eagerly, or as traced graphs with AE_GRAPHS=trace. What the batcher knows
  per model (graphs, row block, its search, pass times) is `service.preparation`'s.
- **Bounded.** At most `max_waiting` jobs wait; past that `submit` raises `Overloaded` at
  once (503 with Retry-After) instead of growing a queue. A job whose deadline has passed
  while it waited is dropped without running (its request has had its 504).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from service.errors import Overloaded
from service.graphs import Operation, Tensors, concat_rows, pad_rows, slice_rows
from service.preparation import Preparations

log = logging.getLogger("service.batching")


@dataclass(eq=False)
class Job:
    model: Any  # LoadedModel; only its identity and `module` matter here
    operation: Operation
    rows: int
    prepare: Callable[[], Tensors]
    finish: Callable[[Tensors], Any]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future = field(repr=False)
    deadline: float | None = None  # time.monotonic(); past it the job is not run

    @property
    def key(self) -> tuple[int, Operation]:
        return (id(self.model), self.operation)


INLINE_MAX_S = 0.002  # the longest pass run on the event loop's thread (see "Inline when idle")


class Batcher:
    def __init__(
        self,
        max_rows: int = 64,
        max_wait_s: float = 0.002,
        max_waiting: int = 64,
        invariant: bool = True,
        threads: int | None = None,
        on_batch: Callable[[str, int, int], None] | None = None,
        on_depth: Callable[[int], None] | None = None,
        search_in_background: bool = False,
        on_searched: Callable[[], None] | None = None,
        inline_when: Callable[[], bool] | None = None,
    ) -> None:
        self.max_rows, self.max_wait_s, self.max_waiting = max(max_rows, 1), max_wait_s, max_waiting
        self.threads = threads
        self.models = Preparations(self.max_rows, invariant, threads, search_in_background,
                                   on_searched)  # fmt: skip
        self._queue: collections.deque[Job] = collections.deque()
        self._cond = threading.Condition()
        self._stopped = False
        self._last_requests = 1
        self._on_batch = on_batch or (lambda operation, rows, requests: None)
        self._on_depth = on_depth or (lambda depth: None)
        self._thread: threading.Thread | None = None
        self.inline_when = inline_when  # None: never inline
        self._busy = False  # a batch is running (on the thread, or inline)

    # -- the request side (event loop)

    async def submit(
        self,
        model: Any,
        operation: Operation,
        rows: int,
        prepare: Callable[[], Tensors],
        finish: Callable[[Tensors], Any],
        deadline: float | None = None,
    ) -> Any:
        """The job's `finish` result; Overloaded past the bound, TimeoutError at `deadline`."""
        loop = asyncio.get_running_loop()
        job = Job(model, operation, rows, prepare, finish, loop, loop.create_future(), deadline)
        with self._cond:
            if len(self._queue) >= self.max_waiting:
                raise Overloaded(
                    f"{len(self._queue)} requests are waiting for inference; retry shortly"
                )
            inline = self.inline_when is not None and not self._busy and not self._queue
            if inline and self._quick(job) and self.inline_when():
                self._busy = True
            else:
                inline = False
                self._queue.append(job)
                self._on_depth(len(self._queue))
                self._cond.notify()
        if inline:
            return self._run_inline(job)
        if deadline is None:
            return await job.future
        # On timeout the future is cancelled, so the thread skips or discards the job.
        return await asyncio.wait_for(job.future, max(deadline - time.monotonic(), 0))

    def _quick(self, job: Job) -> bool:
        took = self.models.last_pass_s(job.model, job.operation, job.rows)
        return took is not None and took < INLINE_MAX_S

    def _run_inline(self, job: Job) -> Any:
        """A lone job on the calling thread, by the code the inference thread runs."""
        try:
            [(_, ok, value)] = self._run_batch([job])
        except Exception as exc:  # a bug here must fail this request, not the loop
            log.exception("inline pass failed")
            ok, value = False, exc
        finally:
            with self._cond:
                self._busy = False
                if self._queue:
                    self._cond.notify()
        if not ok:
            raise value
        return value

    # -- the inference thread

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="inference", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(5)
        self.models.stop()

    def prepare_model(
        self, model: Any, examples: dict[Operation, Tensors], graphs: bool = True
    ) -> None:
        """Before `model` serves: its graphs and row block (`Preparations.prepare`)."""
        self.models.prepare(model, examples, graphs)

    def _drop_expired(self) -> None:
        """Jobs past their deadline leave the queue unrun (called holding the condition)."""
        now = time.monotonic()
        if any(job.deadline is not None and job.deadline <= now for job in self._queue):
            self._queue = collections.deque(
                job for job in self._queue if job.deadline is None or job.deadline > now
            )

    def _take(self) -> list[Job] | None:
        """The next batch: the oldest job and every queued job with its key, up to max_rows."""
        with self._cond:
            while True:
                while not self._queue and not self._stopped:
                    self._cond.wait()
                if self._stopped:
                    return None
                self._drop_expired()
                if self._queue:
                    break
            first = self._queue.popleft()
            batch, rows = [first], first.rows
            deadline = time.monotonic() + (self.max_wait_s if self._last_requests > 1 else 0)
            while True:
                kept: collections.deque[Job] = collections.deque()
                while self._queue:
                    job = self._queue.popleft()
                    if job.key == first.key and rows + job.rows <= self.max_rows:
                        batch.append(job)
                        rows += job.rows
                    else:
                        kept.append(job)
                self._queue = kept
                left = deadline - time.monotonic()
                if rows >= self.max_rows or left <= 0:
                    break
                self._cond.wait(left)
            self._on_depth(len(self._queue))
            self._busy = True
        self._last_requests = len(batch)
        return batch

    def _run(self) -> None:
        torch.set_grad_enabled(False)
        if self.threads:
            # OpenMP keeps its thread count per thread: a new thread starts with one per
            # core, whatever the main thread set, and its idle team spins on the cores
            # the other workers need.
            torch.set_num_threads(self.threads)
        while (batch := self._take()) is not None:
            self._serve(batch)
            # Waiting for the next batch must not keep this one's jobs (and so a model that
            # nobody serves any more) alive.
            del batch

    def _serve(self, batch: list[Job]) -> None:
        try:
            done = self._run_batch(batch)
        except Exception as exc:  # a bug here must fail these requests, not the thread
            log.exception("inference thread: a batch failed")
            done = [(job, False, exc) for job in batch]
        with self._cond:  # idle again before any answer wakes its loop (see _quick)
            self._busy = False
        # One wake-up of each event loop for the whole batch.
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[Job, bool, Any]]] = {}
        for job, ok, value in done:
            by_loop.setdefault(job.loop, []).append((job, ok, value))
        for loop, results in by_loop.items():
            try:
                loop.call_soon_threadsafe(_resolve, results)
            except RuntimeError:  # that event loop has closed (shutdown): nobody waits
                continue

    def _run_batch(self, batch: list[Job]) -> list[tuple[Job, bool, Any]]:
        done: list[tuple[Job, bool, Any]] = []
        ready: list[tuple[Job, Tensors]] = []
        for job in batch:
            try:
                ready.append((job, job.prepare()))
            except Exception as exc:  # noqa: BLE001 - handed to that request alone
                done.append((job, False, exc))
        if not ready:
            return done
        jobs = [job for job, _ in ready]
        rows = sum(job.rows for job in jobs)
        first = jobs[0]
        try:
            with torch.inference_mode():
                block = self.models.block(first.model)
                inputs = pad_rows(concat_rows([inputs for _, inputs in ready]), rows, block)
                started = time.perf_counter()
                outputs = self.models.graph(first.model, first.operation)(first.model, *inputs)
                took = time.perf_counter() - started
        except Exception as exc:  # noqa: BLE001
            if len(ready) == 1:
                return [*done, (first, False, exc)]
            log.warning("a batch of %d requests failed (%s); running each alone", len(ready), exc)
            for job, inputs in ready:
                done += self._run_batch([_prepared(job, inputs)])
            return done
        self._on_batch(getattr(first.operation, "__name__", "op"), rows, len(jobs))
        padded = next(t for t in inputs if t is not None).shape[0]
        self.models.record_pass(first.model, first.operation, padded, took)
        start = 0
        for job in jobs:
            try:
                done.append((job, True, job.finish(slice_rows(outputs, start, start + job.rows))))
            except Exception as exc:  # noqa: BLE001
                done.append((job, False, exc))
            start += job.rows
        return done


def _prepared(job: Job, inputs: Tensors) -> Job:
    """The same job with its inputs already prepared (for a rerun alone)."""
    return Job(job.model, job.operation, job.rows, lambda: inputs, job.finish, job.loop,
               job.future, job.deadline)  # fmt: skip


def _resolve(results: list[tuple[Job, bool, Any]]) -> None:
    for job, ok, value in results:
        if job.future.done():  # the request went away (client disconnected)
            continue
        if ok:
            job.future.set_result(value)
        else:
            job.future.set_exception(value)
