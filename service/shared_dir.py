"""The directory the worker processes of one `python -m service` share.

Each worker keeps three kinds of file there, named after its process id:

- prometheus_client's multiprocess values (`*_<pid>.db`): `/metrics`, whichever worker
  answers it, adds them up (`service.metrics`);
- a readiness marker (`ready_<pid>`): `/ready` counts the live workers that have one
  (`service.workers`);
- an open-connection counter (`conns_<pid>`, memory-mapped): the least-connections accept
  reads its siblings' (`service.accept`).

`python -m service` owns it (`SharedDir.for_run`): it makes a fresh temporary directory, or
takes the one it was given and clears what an earlier run left there (values would add up,
dead workers would count as ready); it hands the path to the workers through their settings
(`AE_SHARED_DIR`) and to prometheus_client under the variable that library reads; and it
removes a directory it made when it exits. A lone in-process app (tests) has none.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

READY = "ready_"
CONNECTIONS = "conns_"
PROMETHEUS_ENV = "PROMETHEUS_MULTIPROC_DIR"  # prometheus_client reads this name at import


@dataclass(frozen=True)
class SharedDir:
    path: Path

    @classmethod
    def of(cls, path: str | None) -> SharedDir | None:
        """The directory a worker's settings name (`AE_SHARED_DIR`), or None: a lone process."""
        return cls(Path(path)) if path else None

    def file(self, kind: str, pid: int | None = None) -> Path:
        """This process's (or `pid`'s) file of `kind` (READY or CONNECTIONS)."""
        return self.path / f"{kind}{os.getpid() if pid is None else pid}"

    def pids(self, kind: str) -> list[int]:
        """The processes that have a file of `kind`, live or not."""
        names = (p.name[len(kind) :] for p in self.path.glob(f"{kind}*"))
        return [int(n) for n in names if n.isdigit()]

    def clear(self) -> None:
        """Forget an earlier run: its metric values, readiness markers and counters."""
        for pattern in ("*.db", f"{READY}*", f"{CONNECTIONS}*"):
            for stale in self.path.glob(pattern):
                stale.unlink(missing_ok=True)

    @classmethod
    @contextlib.contextmanager
    def for_run(cls, given: str | Path | None) -> Iterator[SharedDir]:
        """The directory for one run of the service: `given` (made if missing, cleared of
        an earlier run's files, kept at exit), or a fresh temporary one (removed at exit)."""
        if given:
            shared = cls(Path(given))
            shared.path.mkdir(parents=True, exist_ok=True)
            shared.clear()
            yield shared
            return
        shared = cls(Path(tempfile.mkdtemp(prefix="ae-workers-")))
        try:
            yield shared
        finally:
            shutil.rmtree(shared.path, ignore_errors=True)
