"""Where a request's time goes: py-spy samples our server under wrk load, by category.

    .venv/bin/python bench/profile_serving.py [--store models] [--connections 16] [--seconds 10]

Starts the service as `make serve` does, loads `/reconstruct` (one digit per request) with
wrk, records every process of the service with py-spy (`--subprocesses`, idle threads
excluded) and prints the share of on-CPU samples whose stack passes through each category
(each sample in one category, by its innermost recognised frame; idle waits left out). The raw
folded stacks stay in the printed folder for a flame graph.
"""

from __future__ import annotations

import argparse
import collections
import re
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.serving import bodies, free_port, start_ours, write_script  # noqa: E402

# Each on-CPU sample is put in one category: walking its stack from the innermost frame out,
# the first frame that matches a category's substrings decides. Idle waits are left out.
CATEGORIES = {
    "torch forward pass": ["torch/", "autoencoders/", "service/inference.py"],
    "image decode (base64 + PNG)": ["decode_image", "decode_base64", "decode_images", "b64decode"],
    "image encode (PNG + base64)": ["encode_png"],
    "request JSON + validation": [
        "request_body_to_args",
        "json/decoder",
        "Request.json",
        "Request.body",
        "pydantic",
        "_validate",
    ],
    "response serialization": [
        "serialize_response",
        "jsonable_encoder",
        "render",
        "json/encoder",
        "service/responses.py",
    ],
    "dependency resolution": ["solve_dependencies", "service/state.py"],
    "metrics": ["service/metrics.py", "prometheus_client"],
    "batching": ["service/batching.py"],
    "thread-pool hops": ["anyio/", "starlette/concurrency", "threading.py", "concurrent/"],
    "HTTP and ASGI framework": ["uvicorn/", "starlette/", "fastapi/", "service/limits.py"],
    "event loop (native: uvloop, httptools)": ["asyncio/"],
}
IDLE = ("Condition.wait", "Queue.get", "Event.wait", "SimpleQueue.get", "_wait_for_tstate_lock")


def _category(frames: list[str]) -> str:
    for frame in reversed(frames):
        for cat, needles in CATEGORIES.items():
            if any(needle in frame for needle in needles):
                return cat
    return "other"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--store", type=Path, default=ROOT / "models")
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--seconds", type=int, default=10)
    p.add_argument("--model", default="mnist-vae")
    p.add_argument("--dialect", choices=("one", "png", "v2"), default="one",
                   help="JSON (one), a raw PNG body and answer (png), V2 binary tensors (v2)")
    p.add_argument("--env", action="append", default=[], help="AE_X=Y for our service")
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-profile-"))
    script = write_script(tmp, args.dialect, *bodies(args.model)[args.dialect])
    path = {"one": "/reconstruct", "png": f"/reconstruct?model={args.model}",
            "v2": f"/v2/models/{args.model}.reconstruct/infer"}[args.dialect]  # fmt: skip
    port = free_port()
    env = dict(e.split("=", 1) for e in args.env)
    server = start_ours(args.store.resolve(), port, tmp / "server.log", env)
    raw = tmp / "stacks.txt"
    try:
        wrk_out: list[str] = []
        load = threading.Thread(target=lambda: wrk_out.append(subprocess.run(
            ["wrk", "-t1", f"-c{args.connections}", f"-d{args.seconds + 2}s", "-s",
             str(script), f"http://127.0.0.1:{port}{path}"],
            capture_output=True, text=True).stdout))  # fmt: skip
        load.start()
        spy = str(Path(sys.executable).parent / "py-spy")
        subprocess.run([spy, "record", "--pid", str(server.pid),
                        "--subprocesses", "--duration", str(args.seconds), "--rate", "250",
                        "--nonblocking",
                        "--format", "raw", "--output", str(raw)],
                       check=True, capture_output=True)  # fmt: skip
        load.join()
    finally:
        server.terminate()
        server.wait(30)
    totals: collections.Counter[str] = collections.Counter()
    samples = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        samples += n
        frames = stack.split(";")
        if frames[-1].startswith(IDLE):
            samples -= n
            continue
        totals[_category(frames)] += n
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", wrk_out[0]).group(1))
    ms_per_request = 1000 * samples / 250 / (rps * args.seconds)
    print(f"{samples} on-CPU samples at 250 Hz over {args.seconds} s, {args.connections} "
          f"connections, {rps:.0f} req/s: {ms_per_request:.2f} ms of CPU per request; "
          f"stacks in {raw}")  # fmt: skip
    for cat, n in totals.most_common():
        print(f"  {cat:40s} {100 * n / samples:5.1f}%  {ms_per_request * n / samples:5.2f} ms")


if __name__ == "__main__":
    main()
