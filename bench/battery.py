"""The reliability battery's figures (issue 10): what was sent, what came back, the worst
/health latency and the server's memory, for each item, from one run of its tests.

    .venv/bin/python bench/battery.py             # every item, the soak for AE_SOAK_S (600 s)
    AE_SOAK_S=60 .venv/bin/python bench/battery.py

The tests in tests/e2e/test_battery.py and tests/e2e/test_errors.py start real servers, send
the load (tests/loadgen.py: raw keep-alive connections on one asyncio loop) and print one
line of figures each; this runs them with output on and prints those lines, then the time.
Figures from a two-core machine shared by client and server: read them as orders of size.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS = [
    "tests/e2e/test_errors.py::test_oversized_body_gets_413_with_or_without_content_length",
    "tests/e2e/test_errors.py::test_a_body_of_a_million_wrong_numbers_is_refused_fast_and_small",
    "tests/e2e/test_battery.py",
]
FIGURES = ("20 bodies", "8 MB of", "burst of", "capacity,", "overload at", "soak", "killed",
           "publishes killed", "hot swap")  # fmt: skip


def main() -> int:
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-s", "-q", "-m", "", "-p", "no:cacheprovider", *TESTS],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    for line in proc.stdout.splitlines():
        line = line.lstrip(".FEs")
        if any(figure in line for figure in FIGURES):
            print(line)
    print(proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr[-2000:])
    print(f"battery: {time.monotonic() - started:.0f} s")
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
