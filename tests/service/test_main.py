"""`python -m service`'s own parts: how uvicorn makes its workers."""

from __future__ import annotations

import multiprocessing.context

import uvicorn
import uvicorn._subprocess
from uvicorn.supervisors import multiprocess

from service.__main__ import fork_workers


def test_uvicorn_makes_forked_workers_where_fork_workers_says(monkeypatch):
    """fork_workers replaces the context uvicorn's get_subprocess spawns from; if an upgrade
    moves where uvicorn makes its workers, this fails instead of memory quietly growing."""
    monkeypatch.setattr(uvicorn._subprocess, "spawn", uvicorn._subprocess.spawn)
    assert multiprocess.get_subprocess is uvicorn._subprocess.get_subprocess
    config = uvicorn.Config("service.app:create_app_from_env", factory=True)
    before = uvicorn._subprocess.get_subprocess(config, lambda sockets: None, [])
    assert isinstance(before, multiprocessing.context.SpawnProcess)
    fork_workers()
    after = uvicorn._subprocess.get_subprocess(config, lambda sockets: None, [])
    assert isinstance(after, multiprocessing.context.ForkProcess)
