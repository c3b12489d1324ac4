"""Readiness across worker processes: each ready worker leaves a marker file in a directory
the workers share, so `/ready`, whichever worker answers it, says whether all of them are.

A load balancer that sees `/ready` green then sends no request to a worker still loading;
a worker that died and came back turns `/ready` red until it has loaded its models again.
"""

from __future__ import annotations

import os
from pathlib import Path

from model_store.disk import pid_alive

PREFIX = "ready_"


class Workers:
    def __init__(self, directory: Path | None, expected: int) -> None:
        self.directory, self.expected = directory, max(expected, 1)

    def _marker(self) -> Path | None:
        return None if self.directory is None else self.directory / f"{PREFIX}{os.getpid()}"

    def mark_ready(self) -> None:
        marker = self._marker()
        if marker is not None:
            marker.touch()

    def leave(self) -> None:
        marker = self._marker()
        if marker is not None:
            marker.unlink(missing_ok=True)

    def ready(self) -> int:
        """How many live workers have loaded their models (1 for a lone process)."""
        if self.directory is None:
            return self.expected
        pids = [int(p.name[len(PREFIX) :]) for p in self.directory.glob(f"{PREFIX}*")]
        return sum(pid_alive(pid) for pid in pids)

    def all_ready(self) -> bool:
        return self.ready() >= self.expected
