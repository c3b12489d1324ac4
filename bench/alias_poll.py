"""What one alias poll costs as a model's versions pile up, on a directory and on S3.

    .venv/bin/python bench/alias_poll.py [--versions 1,10,50] [--polls 50]

Publishes a tiny model again and again into a fresh directory store and a fresh bucket of
a local S3 server (moto, as the tests use), and at 1, 10 and 50 versions times what a
replica's watcher does each poll for one served alias:

- **now**: `Store.resolve("tiny@production")` (the alias file, then the one version it
  names: on S3 a GET and a HEAD); the watcher itself reads only the alias file while the
  alias has not moved;
- **listing**: `Store.versions("tiny")`, what every poll also did before (S3: a paginated
  listing of every object under the model).

Medians of `--polls` polls, milliseconds, and S3 requests per poll. One run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from model_store import LocalStore, open_store  # noqa: E402
from tests.model_store.conftest import publish_tiny  # noqa: E402
from tests.s3server import start_s3_server  # noqa: E402


def median_ms(call, polls: int) -> float:
    times = []
    for _ in range(polls):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def requests_per_call(store, call) -> int | None:
    if not hasattr(store, "s3"):
        return None
    client, calls = store.s3, []

    class Counting:
        def __getattr__(self, op):
            calls.append(op)
            return getattr(client, op)

    store.s3 = Counting()
    try:
        call()
    finally:
        store.s3 = client
    return len(calls)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--versions", default="1,10,50")
    parser.add_argument("--polls", type=int, default=50)
    args = parser.parse_args()
    server = start_s3_server()
    try:
        os.environ.update(server.env)  # the store reads the endpoint and keys from there
        stores = {
            "directory": LocalStore(Path(tempfile.mkdtemp(prefix="alias-poll-"))),
            "S3 (moto)": open_store(f"s3://{server.new_bucket()}/models"),
        }
        print("| store | versions | poll now, ms (requests) | listing, ms (requests) |")
        print("| --- | --- | --- | --- |")
        for label, store in stores.items():
            published = 0
            for target in map(int, args.versions.split(",")):
                while published < target:
                    publish_tiny(store, seed=published)
                    published += 1
                now = lambda s=store: s.resolve("tiny@production")  # noqa: E731
                listing = lambda s=store: s.versions("tiny")  # noqa: E731
                cells = []
                for call in (now, listing):
                    ms = median_ms(call, args.polls)
                    n = requests_per_call(store, call)
                    cells.append(f"{ms:.2f}" + (f" ({n})" if n is not None else ""))
                print(f"| {label} | {target} | {cells[0]} | {cells[1]} |", flush=True)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
