from __future__ import annotations

import pytest

from service.settings import Settings


@pytest.mark.parametrize(
    ("cores", "workers", "threads", "expected"),
    [
        pytest.param(2, None, None, (2, 1), id="one-worker-per-core"),
        pytest.param(1, None, None, (1, 1), id="one-core"),
        pytest.param(32, None, None, (8, 4), id="at-most-8-workers-then-threads"),
        pytest.param(16, 2, None, (2, 8), id="workers-given"),
        pytest.param(4, 1, 2, (1, 2), id="both-given"),
    ],
)
def test_workers_times_threads_fit_the_cores(cores, workers, threads, expected):
    s = Settings(workers=workers, torch_threads=threads).with_cores(cores)
    assert (s.workers, s.torch_threads) == expected
    assert s.workers * s.torch_threads <= max(cores, s.workers * (threads or 1))
