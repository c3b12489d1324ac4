"""Memory of the serving process tree, and its cold start, with the six default models loaded.

    .venv/bin/python bench/worker_memory.py [--store models] [--workers 1,2,4]

For each worker count, `python -m service` is started twice on the same store: with its
workers forked from the main process (the default, AE_FORK_WORKERS=true) and spawned fresh
(false, as uvicorn does by itself). Each run loads all six default models at start
(AE_PRELOAD), times start to `/ready`, waits SETTLE_S for the row-block searches that run
after it, sends a few requests of each kind so every worker has served, then reads each
process's USS (private memory) and PSS (its share of what it shares) from
/proc/<pid>/smaps_rollup. One run each, side by side.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.serving import free_port, memory, start_ours  # noqa: E402
from service.examples import DIGIT_7, SERIOUS_FACE  # noqa: E402

SETTLE_S = 2.0
SIX = ["mnist-classifier", "faces-attributes", "faces-ae-linear", "faces-ae-conv"]
REQUESTS = [
    ("/reconstruct", {"images": [DIGIT_7]}),
    ("/sample", {"count": 4}),
    ("/cvae-sample", {"labels": [3]}),
    ("/edit-attribute", {"model": "faces-ae-conv", "images": [SERIOUS_FACE],
                         "edits": {"Smiling": 1.0}}),
    ("/reconstruct", {"model": "faces-ae-linear", "images": [SERIOUS_FACE]}),
]


def one(store: Path, workers: int, fork: bool, logs: Path) -> dict:
    port = free_port()
    env = {"AE_WORKERS": str(workers), "AE_FORK_WORKERS": str(fork).lower(),
           "AE_PRELOAD": json.dumps(SIX)}  # fmt: skip
    started = time.monotonic()
    proc = start_ours(store, port, logs / f"w{workers}-{'fork' if fork else 'spawn'}.log", env)
    ready_s = time.monotonic() - started
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            loaded = client.get("/ready").json()
            # Models serve from /ready on while their row blocks are searched (under a second
            # for the six): memory is read once they serve as they will from then on.
            time.sleep(SETTLE_S)
            for _ in range(10 * workers):
                for path, body in REQUESTS:
                    client.post(path, json=body).raise_for_status()
        mem = memory(proc.pid)
    finally:
        proc.terminate()
        proc.wait(30)
    return {"ready_s": ready_s, "memory": mem, "loaded": loaded.get("loaded", [])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", type=Path, default=ROOT / "models")
    parser.add_argument("--workers", default="1,2,4")
    args = parser.parse_args()
    logs = Path("/tmp") / f"bench-worker-memory-{int(time.time())}"
    logs.mkdir()
    print("| workers | start | ready after | worker USS, MiB | worker PSS | main USS / PSS "
          "| whole tree PSS |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for workers in map(int, args.workers.split(",")):
        for fork in (True, False) if workers > 1 else (True,):
            got = one(args.store.resolve(), workers, fork, logs)
            mem = got["memory"]
            main_ = next(m for m in mem if m["role"] == "main")
            kids = [m for m in mem if m["role"] == "worker"] or [main_]
            total = sum(m["pss_mib"] for m in mem)
            how = "fork" if fork else "spawn"
            how = how if workers > 1 else "one process"
            uss = ", ".join(f"{k['uss_mib']:.0f}" for k in kids)
            pss = ", ".join(f"{k['pss_mib']:.0f}" for k in kids)
            print(f"| {workers} | {how} | {got['ready_s']:.1f} s | {uss} | {pss} "
                  f"| {main_['uss_mib']:.0f} / {main_['pss_mib']:.0f} | {total:.0f} |", flush=True)
    print(f"\nlogs: {logs}")


if __name__ == "__main__":
    main()
