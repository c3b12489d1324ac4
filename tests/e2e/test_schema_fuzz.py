"""Schema fuzzing with schemathesis's CLI against a real server: no 500, no response that
breaks its own schema, every returned status documented."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow  # hundreds of generated requests

CONFIG = Path(__file__).with_name("schemathesis.toml")


def test_schemathesis_finds_no_failures(server, tmp_path):
    proc = subprocess.run(
        [
            sys.executable, "-m", "schemathesis.cli", "--config-file", str(CONFIG), "run",
            f"{server.url}/openapi.json", "--workers", "2", "--max-examples", "40",
            "--seed", "1", "--no-color",
        ],
        capture_output=True, text=True, timeout=600,
        cwd=tmp_path,  # its .schemathesis/ cache goes there, not into the checkout
    )  # fmt: skip
    tail = proc.stdout[-6000:] + proc.stderr[-2000:]
    assert proc.returncode == 0, tail
    spec = httpx.get(f"{server.url}/openapi.json").json()
    operations = sum(len(ops) for ops in spec["paths"].values())
    assert operations >= 11
    assert f"Tested: {operations}" in proc.stdout, tail  # every operation was exercised
