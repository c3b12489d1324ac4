"""Readiness across worker processes: each ready worker leaves a marker file in a directory
the workers share, so `/ready`, whichever worker answers it, says whether all of them are.

A load balancer that sees `/ready` green then sends no request to a worker still loading;
a worker that died and came back turns `/ready` red until it has loaded its models again.
"""

from __future__ import annotations

from pathlib import Path

from model_store.disk import pid_alive
from service.shared_dir import READY, SharedDir


class Workers:
    def __init__(self, shared: SharedDir | None, expected: int) -> None:
        self.shared, self.expected = shared, max(expected, 1)

    def _marker(self) -> Path | None:
        return None if self.shared is None else self.shared.file(READY)

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
        if self.shared is None:
            return self.expected
        return sum(pid_alive(pid) for pid in self.shared.pids(READY))

    def all_ready(self) -> bool:
        return self.ready() >= self.expected
