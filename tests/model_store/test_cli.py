from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import ROOT, run_cli
from tests.model_store.conftest import publish_tiny


def _cli(store, *args):
    return run_cli("-m", "model_store", "--store", store.location, *args)


def test_cli_lists_promotes_verifies_and_deletes(store):
    publish_tiny(store)
    publish_tiny(store, seed=1)
    assert _cli(store, "list").splitlines() == ["tiny@1  [production]", "tiny@2"]
    assert "1 -> 2" in _cli(store, "promote", "tiny", "2")
    assert json.loads(_cli(store, "show", "tiny"))["version"] == 2
    assert json.loads(_cli(store, "verify", "tiny@production")) == {
        "ok": True,
        "model": "tiny@2",
        "files": 1,
    }
    assert "deleted tiny@1" in _cli(store, "delete", "tiny", "1")
    assert _cli(store, "list").splitlines() == ["tiny@2  [production]"]


def test_cli_reports_store_errors_without_a_traceback(store):
    publish_tiny(store)
    proc = subprocess.run(
        [sys.executable, "-m", "model_store", "--store", store.location, "delete", "tiny", "1"],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 1
    assert proc.stderr.strip() == "error: tiny@1 is still aliased by production"


def test_promote_and_list_do_not_import_torch(store):
    publish_tiny(store)
    code = (
        "import sys; from model_store.__main__ import main; "
        f"main(['--store', {store.location!r}, 'promote', 'tiny', '1']); "
        f"main(['--store', {store.location!r}, 'list']); "
        "print('torch loaded:', 'torch' in sys.modules)"
    )
    out = run_cli("-c", code)
    assert out.strip().endswith("torch loaded: False")  # so a promote takes a fraction of a second
