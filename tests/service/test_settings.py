from __future__ import annotations

import os
import subprocess
import sys

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


def test_every_setting_is_a_flag_of_python_m_service_and_flags_win_over_variables():
    script = (
        "from service.__main__ import parse_args; "
        "s = parse_args(['--log-level', 'debug', '--max-requests', '7', '--store', 'elsewhere',"
        " '--cors-origins', '[\"https://a.example\"]']); "
        "print(s.log_level, s.max_requests, s.store_dir, s.cors_origins, s.port)"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env={**os.environ, "AE_LOG_LEVEL": "info", "AE_PORT": "9001"},
                         check=True).stdout  # fmt: skip
    assert out.split() == ["debug", "7", "elsewhere", "['https://a.example']", "9001"]
    usage = subprocess.run([sys.executable, "-m", "service", "--help"], capture_output=True,
                           text=True, check=True).stdout  # fmt: skip
    for name in Settings.model_fields:
        assert f"--{name.replace('_', '-')}" in usage, name
    bad = subprocess.run([sys.executable, "-m", "service", "--max-requests", "many"],
                         capture_output=True, text=True)  # fmt: skip
    assert bad.returncode == 2 and "max_requests" in bad.stderr
