"""The layers as a test: the import contracts in pyproject.toml hold."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_hold():
    lint_imports = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert lint_imports, "import-linter is a dev dependency"
    proc = subprocess.run([lint_imports], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:]
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    names = [c["name"] for c in contracts["contracts"]]
    assert names  # every contract the project declares was checked, and kept
    for name in names:
        assert f"{name} KEPT" in proc.stdout, name


def test_the_command_lines_do_not_import_torchvision():
    """torchvision pulls in torch._dynamo: 1.4 s more for every trainer command and test."""
    code = ("import sys, trainer.__main__, service.__main__, model_store.__main__; "
            "print(sorted(m for m in sys.modules if m.startswith('torchvision')))")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.stdout.strip() == "[]", out.stderr[-2000:]
