"""Serving speed, side by side in one run: our service against the plain FastAPI app.

    .venv/bin/python bench/serving.py [--store models] [--seconds 10] [--runs 3]

Starts both servers on loopback (ours with its defaults, as `make serve` runs it; the
baseline `bench/plain_app.py` with one worker and one torch thread, as a user would run it),
then drives each with `wrk` (Debian's package: a C load generator, not the bottleneck) in a
closed loop at 1, 4, 16 and 64 connections, one 28x28 digit per `/reconstruct` request,
alternating the two servers. Our service is also driven in its two other dialects with the
same digit: a raw PNG body answered with a PNG (`/reconstruct?model=...`, `content-type` and
`accept: image/png`), and the Open Inference Protocol with binary tensors (FP32 in and out, no
PNG at all: `/v2/models/{model}.reconstruct/infer`). Then 64-digit requests at 4 and 16
connections, next to the in-process limit (decode, forward pass, encode of 64-image batches
with no HTTP, in one process with every core and in one process per core, the better of the
two; the service's own codec and TorchScript graph). Prints medians of `--runs` runs and the
memory (USS and PSS) of each process of our service.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import multiprocessing as mp
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from service.examples import DIGIT_7  # noqa: E402

LUA = """wrk.method = "POST"
{headers}
local f = io.open("{body}", "rb")
wrk.body = f:read("*a")
f:close()
"""
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(
    url: str, proc: subprocess.Popen, path: str = "/ready", timeout: float = 120
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            r = httpx.post(url + path, json={"images": [DIGIT_7]}, timeout=5) if path.startswith(
                "/reconstruct") else httpx.get(url + path, timeout=5)  # fmt: skip
            if r.status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise SystemExit(f"{url} not ready in {timeout} s")


def start_ours(store: Path, port: int, log: Path, env: dict[str, str],
               root: Path = ROOT) -> subprocess.Popen:  # fmt: skip
    cmd = [sys.executable, "-m", "service", "--port", str(port), "--store", str(store)]
    proc = subprocess.Popen(cmd, cwd=root, stdout=log.open("w"), stderr=subprocess.STDOUT,
                            env={**os.environ, "AE_LOG_LEVEL": "warning", **env})  # fmt: skip
    wait_ready(f"http://127.0.0.1:{port}", proc)
    return proc


def start_plain(model_dir: Path, port: int, log: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "uvicorn", "bench.plain_app:app", "--port", str(port),
           "--workers", "1", "--log-level", "warning", "--no-access-log"]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT,
                            env={**os.environ, "BASELINE_MODEL_DIR": str(model_dir)})  # fmt: skip
    wait_ready(f"http://127.0.0.1:{port}", proc, "/reconstruct")
    return proc


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(value) * UNITS[unit]


def wrk(url: str, script: Path, connections: int, seconds: float) -> dict[str, float]:
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{round(seconds)}s", "--timeout", "30s",
           "--latency",
           "-s", str(script), url]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    pct = dict(re.findall(r"^\s+(\d+)%\s+(\S+)\s*$", out, re.M))
    if "99" not in pct:
        raise RuntimeError(f"wrk printed no latency distribution:\n{out}")
    total = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = (int(non2xx.group(1)) if non2xx else 0) + (sum(map(int, sock.groups())) if sock else 0)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "p50_ms": _ms(pct["50"]), "p99_ms": _ms(pct["99"]), "errors": errors,
            "requests": total}  # fmt: skip


def _inprocess_worker(model_dir: str, threads: int, seconds: float, queue) -> None:
    import torch

    from model_store import LocalStore, load_version
    from service.codec import decode_images, encode_pngs
    from service.inference import reconstruct

    torch.set_num_threads(threads)
    folder = Path(model_dir)
    model = load_version(LocalStore(folder.parent.parent), folder.parent.name, int(folder.name))
    items = [DIGIT_7] * 64
    done, deadline = 0, time.perf_counter() + seconds
    started = time.perf_counter()
    while time.perf_counter() < deadline:
        x = decode_images(items, model.manifest.input, 4_000_000)
        with torch.inference_mode():  # the forward pass the service runs (AE_GRAPHS=eager)
            images, _ = reconstruct(model, x, None)
        encode_pngs(images)
        done += 64
    queue.put(done / (time.perf_counter() - started))


def inprocess_limit(model_dir: Path, seconds: float) -> dict[str, float]:
    """Images/s of decode + forward + encode on 64-image batches, no HTTP."""
    cores = os.cpu_count() or 1
    ctx = mp.get_context("spawn")
    result = {}
    for procs, threads in ((1, cores), (cores, 1)):
        queue = ctx.Queue()
        args = (str(model_dir), threads, seconds, queue)
        workers = [ctx.Process(target=_inprocess_worker, args=args)
                   for _ in range(procs)]  # fmt: skip
        for w in workers:
            w.start()
        rates = [queue.get() for _ in workers]
        for w in workers:
            w.join()
        result[f"{procs}proc_x_{threads}thread"] = sum(rates)
    return result


def memory(pid: int) -> list[dict[str, object]]:
    """USS and PSS (MiB) of a process and its children, from /proc/<pid>/smaps_rollup."""
    pids = [pid]
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            pids.append(int(stat.parent.name))
    out = []
    for p in pids:
        try:
            text = Path(f"/proc/{p}/smaps_rollup").read_text()
        except OSError:
            continue
        kb = {k: int(v) for k, v in re.findall(r"^(\w+):\s+(\d+) kB", text, re.M)}
        cmdline = Path(f"/proc/{p}/cmdline").read_bytes()
        role = "main" if p == pid else "helper" if b"resource_tracker" in cmdline else "worker"
        out.append({"pid": p, "role": role,
                    "uss_mib": round((kb["Private_Clean"] + kb["Private_Dirty"]) / 1024, 1),
                    "pss_mib": round(kb["Pss"] / 1024, 1),
                    "rss_mib": round(kb["Rss"] / 1024, 1)})  # fmt: skip
    return out


def bodies(model: str) -> dict[str, tuple[bytes, dict[str, str]]]:
    """Each request body the bench sends, with its headers."""
    import numpy as np
    from PIL import Image

    png = base64.b64decode(DIGIT_7)
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype="<f4") / 255
    tensor = pixels.astype("<f4").tobytes()
    header = json.dumps({
        "inputs": [{"name": "images", "shape": [1, 1, *pixels.shape], "datatype": "FP32",
                    "parameters": {"binary_data_size": len(tensor)}}],
        "outputs": [{"name": "images", "parameters": {"binary_data": True}},
                    {"name": "errors", "parameters": {"binary_data": True}}],
    }).encode()  # fmt: skip
    as_json = {"Content-Type": "application/json"}
    return {
        "one": (json.dumps({"images": [DIGIT_7]}).encode(), as_json),
        "batch": (json.dumps({"images": [DIGIT_7] * 64}).encode(), as_json),
        "png": (png, {"Content-Type": "image/png", "Accept": "image/png"}),
        "v2": (header + tensor, {"Content-Type": "application/octet-stream",
                                 "Inference-Header-Content-Length": str(len(header))}),
    }  # fmt: skip


def write_script(tmp: Path, name: str, body: bytes, headers: dict[str, str]) -> Path:
    """A wrk Lua script that POSTs `body` with `headers`."""
    (tmp / f"{name}.body").write_bytes(body)
    lines = "\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items())
    script = tmp / f"{name}.lua"
    script.write_text(LUA.format(headers=lines, body=tmp / f"{name}.body"))
    return script


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--store", type=Path, default=ROOT / "models")
    p.add_argument("--model", default="mnist-vae")
    p.add_argument("--seconds", type=int, default=10)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--levels", default="1,4,16,64")
    p.add_argument(
        "--batch-connections",
        default="4,16",
        help="connections for the 64-digit requests (comma-separated)",
    )
    p.add_argument("--env", action="append", default=[], help="AE_X=Y for our service")
    p.add_argument("--alt-env", action="append", default=[],
                   help="AE_X=Y: also serve ours with these, and compare (one digit)")  # fmt: skip
    p.add_argument("--alt-root", type=Path,
                   help="also serve ours from this checkout (say, `git worktree add /tmp/before "
                        "HEAD~1`), and compare (one digit)")  # fmt: skip
    args = p.parse_args()
    store = args.store.resolve()
    aliases = json.loads((store / args.model / "aliases.json").read_text())
    model_dir = store / args.model / str(aliases["production"])
    tmp = Path(tempfile.mkdtemp(prefix="bench-serving-"))
    scripts = {name: write_script(tmp, name, body, headers)
               for name, (body, headers) in bodies(args.model).items()}  # fmt: skip

    env = dict(e.split("=", 1) for e in args.env)
    ports = {"plain": free_port(), "ours": free_port()}
    procs = {"plain": start_plain(model_dir, ports["plain"], tmp / "plain.log"),
             "ours": start_ours(store, ports["ours"], tmp / "ours.log", env)}  # fmt: skip
    alt_env = dict(e.split("=", 1) for e in args.alt_env)
    alt = bool(alt_env or args.alt_root)
    if alt:
        ports["alt"] = free_port()
        procs["alt"] = start_ours(store, ports["alt"], tmp / "alt.log", {**env, **alt_env},
                                  (args.alt_root or ROOT).resolve())  # fmt: skip
    base = {k: f"http://127.0.0.1:{v}" for k, v in ports.items()}
    # (server, body) -> URL: each row of the table is one of these
    v2_path = f"/v2/models/{args.model}.reconstruct/infer"
    targets = {("plain", "one"): base["plain"] + "/reconstruct",
               ("ours", "one"): base["ours"] + "/reconstruct",
               ("ours", "png"): base["ours"] + f"/reconstruct?model={args.model}",
               ("ours", "v2"): base["ours"] + v2_path}  # fmt: skip
    if alt:
        targets["alt", "one"] = base["alt"] + "/reconstruct"
    levels = [int(x) for x in args.levels.split(",")]
    batch_levels = [int(x) for x in args.batch_connections.split(",") if x]
    runs: dict[tuple[str, str, int], list[dict[str, float]]] = {}
    try:
        for (name, body), url in targets.items():  # warm up, and check each answers 200
            if wrk(url, scripts[body], 4, 2)["errors"]:
                raise SystemExit(f"{name} {body}: errors while warming up; see {tmp}")
        for r in range(args.runs):
            for c in levels:
                order = list(targets) if r % 2 == 0 else list(reversed(targets))
                for name, body in order:
                    runs.setdefault((name, body, c), []).append(
                        wrk(targets[name, body], scripts[body], c, args.seconds)
                    )
            for bc in batch_levels:
                for name in ("plain", "ours", *(["alt"] if alt else [])):
                    runs.setdefault((name, "batch", bc), []).append(
                        wrk(targets[name, "one"], scripts["batch"], bc, args.seconds)
                    )
            print(f"run {r + 1}/{args.runs} done", file=sys.stderr, flush=True)
        mem = memory(procs["ours"].pid)
    finally:
        for proc in procs.values():
            proc.terminate()
            proc.wait(30)
    limit = inprocess_limit(model_dir, args.seconds)

    def med(key: tuple[str, str, int], field: str) -> float:
        return statistics.median(x[field] for x in runs[key])

    table = []
    print(f"\n/reconstruct, one {args.model} digit per request, wrk, medians of {args.runs} runs "
          f"of {args.seconds:g} s\n")  # fmt: skip
    print(
        "| connections | plain req/s | ours req/s | ours/plain | plain p50 / p99 ms "
        "| ours p50 / p99 ms | errors plain / ours |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for c in levels:
        pl, ou = ("plain", "one", c), ("ours", "one", c)
        row = {"connections": c, **{f"plain_{f}": med(pl, f) for f in ("rps", "p50_ms", "p99_ms")},
               **{f"ours_{f}": med(ou, f) for f in ("rps", "p50_ms", "p99_ms")},
               "errors_plain": sum(x["errors"] for x in runs[pl]),
               "errors_ours": sum(x["errors"] for x in runs[ou])}  # fmt: skip
        row["ratio"] = row["ours_rps"] / row["plain_rps"]
        table.append(row)
        print(f"| {c} | {row['plain_rps']:,.0f} | {row['ours_rps']:,.0f} | **{row['ratio']:.2f}** "
              f"| {row['plain_p50_ms']:.1f} / {row['plain_p99_ms']:.1f} "
              f"| {row['ours_p50_ms']:.1f} / {row['ours_p99_ms']:.1f} "
              f"| {row['errors_plain']} / {row['errors_ours']} |")  # fmt: skip
    print(f"\nour service, the same digit in its three dialects (medians of {args.runs} runs)\n")
    print("| connections | JSON req/s | raw PNG req/s | PNG/JSON | V2 binary req/s | V2/JSON "
          "| p50 / p99 ms JSON, PNG, V2 | errors |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    dialects = []
    for c in levels:
        keys = {b: ("ours", b, c) for b in ("one", "png", "v2")}
        row = {"connections": c, **{f"{b}_{f}": med(k, f) for b, k in keys.items()
                                    for f in ("rps", "p50_ms", "p99_ms")},
               "errors": sum(x["errors"] for k in keys.values() for x in runs[k])}  # fmt: skip
        row["png_ratio"], row["v2_ratio"] = (row["png_rps"] / row["one_rps"],
                                             row["v2_rps"] / row["one_rps"])  # fmt: skip
        dialects.append(row)
        lat = ", ".join(f"{row[b + '_p50_ms']:.1f} / {row[b + '_p99_ms']:.1f}" for b in keys)
        print(f"| {c} | {row['one_rps']:,.0f} | {row['png_rps']:,.0f} "
              f"| **{row['png_ratio']:.2f}** | {row['v2_rps']:,.0f} "
              f"| **{row['v2_ratio']:.2f}** | {lat} | {row['errors']} |")  # fmt: skip
    if alt:
        what = " and ".join([*([str(args.alt_env)] if alt_env else []),
                             *([f"the code in {args.alt_root}"] if args.alt_root else [])])
        print(f"\nours against ours with {what} (one digit, medians of {args.runs} runs)\n")
        print("| connections | ours req/s | alt req/s | alt/ours | p50 / p99 ms ours | alt |")
        print("| --- | --- | --- | --- | --- | --- |")
        for c in levels:
            o, a = ("ours", "one", c), ("alt", "one", c)
            print(f"| {c} | {med(o, 'rps'):,.0f} | {med(a, 'rps'):,.0f} "
                  f"| **{med(a, 'rps') / med(o, 'rps'):.2f}** "
                  f"| {med(o, 'p50_ms'):.1f} / {med(o, 'p99_ms'):.1f} "
                  f"| {med(a, 'p50_ms'):.1f} / {med(a, 'p99_ms'):.1f} |")  # fmt: skip
        for bc in batch_levels:
            o, a = (med((n, "batch", bc), "rps") * 64 for n in ("ours", "alt"))
            each = {n: "/".join(f"{x['rps'] * 64:,.0f}" for x in runs[(n, "batch", bc)])
                    for n in ("ours", "alt")}  # fmt: skip
            print(f"| 64 digits a request, {bc} | {o:,.0f} images/s | {a:,.0f} images/s "
                  f"| **{a / o:.2f}** | runs {each['ours']} | runs {each['alt']} |")  # fmt: skip
    best = max(limit.values())
    print(f"\nin-process limit {best:,.0f} images/s "
          f"({', '.join(f'{k}: {v:,.0f}' for k, v in limit.items())})")  # fmt: skip
    batch_rows = {}
    for bc in batch_levels:
        row = batch_rows[bc] = {n: med((n, "batch", bc), "rps") * 64 for n in ("plain", "ours")}
        each = ", ".join(f"{x['rps'] * 64 / best:.0%}" for x in runs[("ours", "batch", bc)])
        print(f"64 digits per request, {bc} connections: ours {row['ours']:,.0f} images/s "
              f"({row['ours'] / best:.0%} of the in-process limit; runs: {each}), "
              f"plain {row['plain']:,.0f} images/s")  # fmt: skip
    print("\nour processes after the load (MiB):")
    for m in mem:
        print(f"  {m['role']} pid {m['pid']}: USS {m['uss_mib']}, PSS {m['pss_mib']}, "
              f"RSS {m['rss_mib']}")  # fmt: skip
    print(json.dumps({"one": table, "dialects": dialects, "batch_images_per_s": batch_rows,
                      "inprocess": limit, "memory": mem, "logs": str(tmp)}))  # fmt: skip


if __name__ == "__main__":
    main()
