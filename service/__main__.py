"""python -m service: serve the API with uvicorn, configured from AE_* environment variables.

Several worker processes by default (one per core, at most 8; --workers sets it), each with its
own event loop, inference thread, copy of the models and alias watcher. uvicorn's own
supervisor starts them on one listening socket and restarts any that dies; gunicorn would
do the same with one more dependency and its own configuration to learn.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import signal
import typing
from pathlib import Path

import uvicorn
from pydantic import ValidationError

from model_store.location import is_url
from service.settings import Settings
from service.shared_dir import PROMETHEUS_ENV, SharedDir


def available_cores() -> int:
    """Cores this process may use: its CPU affinity, capped by a cgroup v2 CPU quota (what
    `docker run --cpus` and compose's `cpus` set)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if quota != "max":
            cores = min(cores or 1, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return cores or 1


def _metavar(name: str, annotation: object) -> str:
    """What a flag takes, in the words of its value: N, SECONDS, true|false, a JSON list."""
    text = str(annotation)
    if typing.get_origin(annotation) is typing.Literal:  # the choices themselves
        return "|".join(map(str, typing.get_args(annotation)))
    if "bool" in text:
        return "true|false"
    if "list" in text:
        return "JSON-LIST"
    if name.endswith("_s"):
        return "SECONDS"
    if name.endswith("_ms"):
        return "MS"
    if "int" in text or "float" in text:
        return "N"
    return name.split("_")[-1].upper()


def parse_args(argv: list[str] | None = None) -> Settings:
    """Settings from AE_* variables, overridden by flags: one flag per setting, named after
    it (`--log-level` for AE_LOG_LEVEL; `--store` is short for `--store-dir`), so flags and
    settings cannot drift apart. Values are parsed as the variables are (lists as JSON)."""
    p = argparse.ArgumentParser(prog="python -m service", description=__doc__)
    for name, field in Settings.model_fields.items():
        flags = [f"--{name.replace('_', '-')}"] + (["--store"] if name == "store_dir" else [])
        default = field.get_default(call_default_factory=True)
        about = f"{field.description or name} (AE_{name.upper()}; default {default})"
        p.add_argument(*flags, dest=name, metavar=_metavar(name, field.annotation), help=about)
    args = p.parse_args(argv)
    # Into the environment, where the worker processes read their settings too.
    os.environ.update({f"AE_{k.upper()}": v for k, v in vars(args).items() if v is not None})
    try:
        return Settings()
    except ValidationError as exc:
        p.error("; ".join(f"{e['loc'][0]}: {e['msg']}" for e in exc.errors()))


def fork_workers() -> None:
    """Have uvicorn fork its worker processes from this one instead of spawning fresh
    interpreters. A spawned worker imported torch again and held about 350 MB of it
    privately (relocated library pages, the interpreter's objects); a forked one shares this
    process's pages copy-on-write until it writes them (bench/worker_memory.py). This process
    imports the app's modules first and runs no torch operation, so no OpenMP pool or other
    thread exists to be lost in the fork. uvicorn makes its workers in one place,
    `uvicorn._subprocess.get_subprocess`, from the context named `spawn` there;
    tests/service/test_main.py fails if an upgrade moves it."""
    import uvicorn._subprocess

    uvicorn._subprocess.spawn = multiprocessing.get_context("fork")  # type: ignore[assignment]


def _exit_by_signal(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def main() -> None:
    settings = parse_args()
    settings = settings.with_cores(available_cores())
    # Workers are new processes that read their settings from the environment.
    os.environ.update(
        AE_HOST=settings.host,
        AE_PORT=str(settings.port),
        AE_STORE_DIR=settings.store_dir
        if is_url(settings.store_dir)
        else str(Path(settings.store_dir).resolve()),
        AE_WORKERS=str(settings.workers),
        AE_TORCH_THREADS=str(settings.torch_threads),
        # Read by OpenMP and MKL when they start, for every thread of every worker.
        OMP_NUM_THREADS=str(settings.torch_threads),
        MKL_NUM_THREADS=str(settings.torch_threads),
    )
    # The workers share one listening socket. By default libuv (under uvloop) accepts every
    # pending connection at once, so the first worker to wake took all four of four new
    # connections in two runs out of three, and the other core idled. service.accept takes
    # over accepting (least connections first); with AE_BALANCE_CONNECTIONS=false, one
    # accept per turn at least spreads them a little (libuv's own switch).
    os.environ.setdefault("UV_TCP_SINGLE_ACCEPT", "1")
    # The directory the workers share (service.shared_dir), to the workers through their
    # settings and to prometheus_client (multiprocess mode) before any worker imports it.
    given = settings.shared_dir or os.environ.get(PROMETHEUS_ENV)
    # uvicorn answers SIGTERM with a graceful shutdown and then raises the signal again, to
    # exit as killed by it. Under the default action that skipped the `finally` below, and
    # every stop of a one-worker service left its directory in /tmp. Raised as SystemExit,
    # it unwinds first; the exit status is the same (143).
    signal.signal(signal.SIGTERM, _exit_by_signal)
    with SharedDir.for_run(given) as shared:
        os.environ.update({"AE_SHARED_DIR": str(shared.path), PROMETHEUS_ENV: str(shared.path)})
        if settings.workers > 1 and settings.fork_workers:
            import service.app  # noqa: F401 - imported once here, shared by every worker

            fork_workers()
        uvicorn.run(
            "service.app:create_app_from_env",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            # Several workers share the socket: accept least-connections first (service.accept).
            loop="service.accept:new_event_loop"
            if settings.workers > 1 and settings.balance_connections
            else "auto",
            # Bounds on header size, head time and open connections (service.connections).
            http="service.connections:GuardedHttpProtocol",
            timeout_keep_alive=max(1, round(settings.keep_alive_s)),
            log_level=settings.log_level,
            access_log=settings.access_log,
            timeout_graceful_shutdown=max(1, round(settings.drain_s)),
        )


if __name__ == "__main__":
    main()
