"""Publish and load times of the default models: the local directory store against the S3
backend, side by side in one run.

    .venv/bin/python bench/store_backends.py [--store models] [--runs 3]

Takes the `production` version of every model in `--store` (what `make serve` trained),
publishes its files as a new version into a fresh local store and into a fresh bucket on
moto's S3 server (a separate process on loopback, as in the tests; MinIO or AWS would have
other latencies), then loads it back (every file fetched and checked against its sha256,
weights parsed, the probe run). Prints medians of `--runs` runs.
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

from model_store import LocalStore, load_version, open_store  # noqa: E402
from tests.s3server import start_s3_server  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--store", type=Path, default=ROOT / "models")
    p.add_argument("--runs", type=int, default=3)
    args = p.parse_args()
    source = LocalStore(args.store)
    s3 = start_s3_server()
    os.environ.update(s3.env)
    rows = []
    try:
        stores = {"local": LocalStore(tempfile.mkdtemp(prefix="bench-store-")),
                  "s3": open_store(f"s3://{s3.new_bucket()}/models")}  # fmt: skip
        for name in source.names():
            content = source.read(name, source.resolve(name))
            fields = content.manifest.model_dump(exclude={"name", "version", "files"})
            size = sum(len(b) for b in content.files.values())
            times: dict[str, dict[str, list[float]]] = {}
            for _ in range(args.runs):
                for backend, store in stores.items():
                    t0 = time.perf_counter()
                    m = store.publish(name, fields, dict(content.files))
                    t1 = time.perf_counter()
                    load_version(store, name, m.version)
                    t2 = time.perf_counter()
                    got = times.setdefault(backend, {"publish": [], "load": []})
                    got["publish"].append(t1 - t0)
                    got["load"].append(t2 - t1)
            med = {b: {k: statistics.median(v) for k, v in t.items()} for b, t in times.items()}
            rows.append((name, len(content.files), size, med))
            print(f"{name} done", file=sys.stderr, flush=True)
    finally:
        s3.stop()
    print(f"\nmedians of {args.runs} runs; S3 = moto's server on loopback\n")
    print("| model | files | MB | publish local / S3 (s) | load local / S3 (s) |")
    print("| --- | --- | --- | --- | --- |")
    for name, files, size, med in rows:
        lo, s = med["local"], med["s3"]
        print(f"| {name} | {files} | {size / 1e6:.1f} | {lo['publish']:.3f} / {s['publish']:.3f} "
              f"| {lo['load']:.3f} / {s['load']:.3f} |")  # fmt: skip


if __name__ == "__main__":
    main()
