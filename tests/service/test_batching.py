"""The batcher on real models, in-process: the same answer alone or batched, isolation,
a real queue bound, traced graphs that give the eager bits."""

from __future__ import annotations

import asyncio
import threading

import pytest
import torch

from autoencoders import ModelConfig, build_model
from model_store import LoadedModel, Manifest
from service import inference
from service.batching import Batcher
from service.errors import InvalidImage, Overloaded
from service.graphs import row_block, trace
from tests.model_store.conftest import fields

CONV_VAE = ModelConfig(family="vae", backbone="conv", latent_dim=8, hidden=(64,))
CVAE = ModelConfig(family="cvae", backbone="conv", latent_dim=8, hidden=(64,), num_classes=10)


def loaded(config: ModelConfig, seed: int = 0) -> LoadedModel:
    torch.manual_seed(seed)
    module = build_model(config).eval()
    manifest = Manifest.model_validate(
        {**fields(), "name": "m", "version": 1, "family": config.family,
         "config": config.to_dict(), "latent_size": config.latent_dim, "files": {},
         "class_names": [str(i) for i in range(config.num_classes)],
         "torch_version": torch.__version__}
    )  # fmt: skip
    return LoadedModel(manifest, config, module)


@pytest.fixture
def batcher():
    b = Batcher(max_rows=64, max_wait_s=0.05, max_waiting=64, threads=1)
    b.start()
    yield b
    b.stop()


def prepared(batcher: Batcher, model: LoadedModel) -> LoadedModel:
    batcher.prepare_model(model, inference.examples(model, batcher.max_rows))
    return model


async def _submit_all(batcher: Batcher, model: LoadedModel, jobs: list) -> list:
    return await asyncio.gather(
        *(batcher.submit(model, op, rows, prep, lambda out: out) for op, rows, prep in jobs),
        return_exceptions=True,
    )


def run_concurrently(batcher: Batcher, model: LoadedModel, jobs: list) -> list:
    """All jobs submitted while the inference thread is held busy, so they batch."""
    gate = threading.Event()
    blocker = (inference.decode, 1, lambda: (gate.wait(5), torch.zeros(1, 8), None)[1:])

    async def main():
        first = asyncio.ensure_future(_submit_all(batcher, model, [blocker]))
        await asyncio.sleep(0.05)  # the blocker is running
        rest = asyncio.ensure_future(_submit_all(batcher, model, jobs))
        await asyncio.sleep(0.05)  # the rest are queued behind it
        gate.set()
        await first
        return await rest

    return asyncio.run(main())


def test_seeded_samples_are_the_same_bits_alone_and_batched(batcher):
    sizes = []
    batcher._on_batch = lambda op, rows, requests: sizes.append(requests)
    model = prepared(batcher, loaded(CONV_VAE))
    jobs = [(inference.decode, n, lambda n=n, s=s: (inference.prior_codes(model, n, s, 1.0), None))
            for s, n in enumerate([1, 3, 2, 5, 1, 7])]  # fmt: skip
    batched = run_concurrently(batcher, model, jobs)
    assert max(sizes) == len(jobs)  # they really ran as one forward pass
    for job, together in zip(jobs, batched, strict=True):
        (alone,) = asyncio.run(_submit_all(batcher, model, [job]))
        assert torch.equal(alone[0], together[0])


def test_reconstructions_and_codes_are_the_same_alone_and_batched_for_a_cvae(batcher):
    model = prepared(batcher, loaded(CVAE))
    gen = torch.Generator().manual_seed(1)
    xs = [torch.rand(n, 1, 28, 28, generator=gen) for n in (1, 2, 5, 1)]
    for op in (inference.reconstruct, inference.encode):
        jobs = [(op, len(x), lambda x=x: (x, torch.arange(len(x)) % 10)) for x in xs]
        batched = run_concurrently(batcher, model, jobs)
        for job, together in zip(jobs, batched, strict=True):
            (alone,) = asyncio.run(_submit_all(batcher, model, [job]))
            for a, b in zip(alone, together, strict=True):
                assert (a is None and b is None) or torch.equal(a, b)


def test_a_bad_request_fails_alone(batcher):
    model = prepared(batcher, loaded(CONV_VAE))

    def bad():
        raise InvalidImage("not a PNG or JPEG image", ("body", "images", 0))

    good = (inference.reconstruct, 2, lambda: (torch.rand(2, 1, 28, 28), None))
    wrong_shape = (inference.reconstruct, 1, lambda: (torch.rand(1, 1, 5, 5), None))
    results = run_concurrently(
        batcher, model, [good, (inference.reconstruct, 1, bad), good, wrong_shape, good]
    )
    assert isinstance(results[1], InvalidImage)
    assert isinstance(results[3], RuntimeError)  # the forward pass refused it, rerun alone
    assert [r[0].shape for i, r in enumerate(results) if i in (0, 2, 4)] == [(2, 1, 28, 28)] * 3


def test_past_the_bound_requests_are_refused_at_once():
    b = Batcher(max_rows=64, max_wait_s=0, max_waiting=2, threads=1)  # not started: nothing runs
    model = loaded(CONV_VAE)

    async def main():
        waiting = [asyncio.ensure_future(b.submit(model, inference.decode, 1,
                                                  lambda: (torch.zeros(1, 8), None),
                                                  lambda out: out)) for _ in range(2)]  # fmt: skip
        await asyncio.sleep(0)
        with pytest.raises(Overloaded):
            await b.submit(model, inference.decode, 1, lambda: (torch.zeros(1, 8), None), list)
        for w in waiting:
            w.cancel()

    asyncio.run(main())


@pytest.mark.parametrize("config", [CONV_VAE, CVAE], ids=["vae", "cvae"])
def test_traced_graphs_give_the_eager_bits_at_every_batch_size(config):
    model = loaded(config)
    with torch.inference_mode():
        for op, inputs in inference.examples(model, 16).items():
            graph = trace(op, model, inputs)
            for n in (1, 3, 16):
                part = tuple(None if t is None else t[:n] for t in inputs)
                for a, b in zip(graph(model, *part), op(model, *part), strict=True):
                    if a is None or b is None:
                        assert a is None and b is None
                        continue
                    # NaN where both say "absent" (/score's code term, no mixture here)
                    assert torch.equal(a.isnan(), b.isnan())
                    assert torch.equal(a.nan_to_num(0.0), b.nan_to_num(0.0))


def test_row_block_makes_rows_independent_of_the_batch():
    model = loaded(CONV_VAE)
    x = torch.rand(32, 1, 28, 28)
    with torch.inference_mode():
        block = row_block(inference.reconstruct, model, (x, None), 32)
        # Had it fallen back to 32 (every pass one fixed shape), the loop below would check
        # nothing; this machine's kernels give a block of 4 for this model.
        assert block < 32, "no block below max_rows found: the loop would assert nothing"
        reference = inference.reconstruct(model, x, None)[0]
        for n in range(block, 32, block):
            assert torch.equal(inference.reconstruct(model, x[:n], None)[0], reference[:n])


def test_a_model_serves_at_once_and_gives_the_same_bits_before_and_after_its_block_search():
    """With the search in the background (the service's cold start), a model serves from
    the moment it is prepared with a block of max_rows, and its answers are the bits it
    gives once the search has found the smaller block."""
    searched = threading.Event()
    b = Batcher(max_rows=32, max_wait_s=0.05, max_waiting=64, threads=1,
                search_in_background=True, on_searched=searched.set)  # fmt: skip
    b.start()
    try:
        model = loaded(CONV_VAE)
        x = torch.rand(3, 1, 28, 28, generator=torch.Generator().manual_seed(1))
        release = threading.Lock()
        release.acquire()
        # A first item whose "weakref" blocks until released, then reads as evicted: the
        # searcher is held while the model below is prepared and asked.
        b.models.searches.put((lambda: release.acquire() and None, None, None))
        b.prepare_model(model, inference.examples(model, b.max_rows), graphs=False)
        assert b.models.blocks[id(model)] == 32  # serving before its search

        def ask() -> torch.Tensor:
            return asyncio.run(b.submit(model, inference.reconstruct, 3, lambda: (x, None),
                                        lambda out: out[0]))  # fmt: skip

        before = ask()
        release.release()
        assert searched.wait(60)
        assert b.models.blocks[id(model)] < 32  # this machine's kernels: a block of 4 (see above)
        assert torch.equal(ask(), before)
    finally:
        b.stop()
    assert not b.models.searcher.is_alive()  # stop waits for the search: no exit inside torch


def test_a_lone_quick_request_on_an_idle_worker_runs_inline_with_the_same_bits(monkeypatch):
    """Once a pass is known to be quick, a lone request on an idle batcher runs on the
    caller's thread (no hand-off) and gets the bits the inference thread gives; a pass
    known to be slow always goes to the thread."""
    b = Batcher(max_rows=32, max_wait_s=0.05, max_waiting=64, threads=1, inline_when=lambda: alone)
    alone = True
    b.start()
    try:
        model = loaded(CONV_VAE)
        b.prepare_model(model, inference.examples(model, b.max_rows), graphs=False)
        x = torch.rand(1, 1, 28, 28, generator=torch.Generator().manual_seed(3))

        def ask() -> tuple[torch.Tensor, str]:
            def finish(out):
                return out[0], threading.current_thread().name
            return asyncio.run(b.submit(model, inference.reconstruct, 1, lambda: (x, None),
                                        finish))  # fmt: skip

        monkeypatch.setattr("service.batching.INLINE_MAX_S", 1.0)  # however busy this machine
        first, where_first = ask()  # nothing known yet: the inference thread, which times it
        second, where_second = ask()
        assert (where_first, where_second) == ("inference", threading.current_thread().name)
        assert torch.equal(first, second)
        alone = False  # another request in flight in this worker: the thread
        assert ask()[1] == "inference"
        alone = True
        monkeypatch.setattr("service.batching.INLINE_MAX_S", 0.0)  # every pass now "slow"
        assert ask()[1] == "inference"
    finally:
        b.stop()


def test_a_prepared_model_that_nobody_serves_is_freed(batcher):
    """A version swapped out by a promote, or evicted from the cache, must leave memory: its
    traced graphs must not keep it alive."""
    import gc
    import weakref

    refs = []
    for seed in range(3):
        model = prepared(batcher, loaded(CONV_VAE, seed))
        answer = asyncio.run(batcher.submit(model, inference.reconstruct, 1,
                                            lambda: (torch.rand(1, 1, 28, 28), None), lambda o: o))  # fmt: skip
        assert answer[0].shape == (1, 1, 28, 28)
        refs.append((weakref.ref(model), weakref.ref(model.module)))
        del model, answer
    gc.collect()
    assert [r() for pair in refs for r in pair] == [None] * 6
    assert batcher.models.graphs == {} and batcher.models.blocks == {}


def test_with_graphs_off_operations_stay_eager_and_give_the_same_bits():
    """AE_GRAPHS=eager: nothing is traced, and the answers are the traced service's bits."""
    model = loaded(CONV_VAE)
    x = torch.rand(3, 1, 28, 28)
    answers = []
    for graphs in (True, False):
        b = Batcher(max_rows=16, max_wait_s=0.0, threads=1)
        b.start()
        try:
            b.prepare_model(model, inference.examples(model, b.max_rows), graphs)
            assert bool(b.models.graphs) is graphs
            answers.append(asyncio.run(b.submit(model, inference.reconstruct, 3,
                                                lambda: (x, None), lambda o: o)))  # fmt: skip
        finally:
            b.stop()
    assert all(torch.equal(a, b) for a, b in zip(*answers, strict=True))
