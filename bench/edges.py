"""The attacks at the edges, each against a real server: what it got, how long, the worst
/health latency meanwhile, and worker memory before and after.

    .venv/bin/python bench/edges.py [--store models] [--source DIR]

`--source` serves the code of another checkout (a `git worktree` of an older commit) with this
environment, so one run of this script on each gives the before and after of every row:

    git worktree add /tmp/before <commit>
    .venv/bin/python bench/edges.py --source /tmp/before
    .venv/bin/python bench/edges.py

Each server is started as `make serve` does (`python -m service`, its defaults) on a copy of
the store (one attack breaks an alias file). Rows:

- header: one header value streamed up to 64 MiB to GET /health;
- unknown key: POST /sample with a 4,000,000-character unknown key (the answer's size);
- thin images: 64 grey PNGs of 1x4,000,000 pixels in one /reconstruct, while another client
  calls /sample (its worst latency);
- idle: 1,000 connections that send nothing and 1,000 that send half a request line, and how
  many the server still holds after `--idle-wait` seconds;
- aliases: the served model's aliases.json made invalid: /models, version latest, an unknown
  alias, and the ERROR lines logged over 10 requests;
- disconnects: 100 clients that send half a body and go away: tracebacks in the log.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.serving import free_port, memory, wait_ready  # noqa: E402
from service.examples import DIGIT_7  # noqa: E402


class Probe:
    """A client calling `path` every 20 ms in a thread: the worst latency seen."""

    def __init__(self, url: str, path: str = "/health", body: dict | None = None) -> None:
        self.url, self.path, self.body = url, path, body
        self.worst, self.failed, self.stop = 0.0, 0, threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as c:
            while not self.stop.is_set():
                started = time.monotonic()
                try:
                    r = (c.post(self.path, json=self.body) if self.body is not None
                         else c.get(self.path))  # fmt: skip
                    self.failed += r.status_code != 200
                except httpx.HTTPError:
                    self.failed += 1
                self.worst = max(self.worst, time.monotonic() - started)
                time.sleep(0.02)

    def __enter__(self) -> Probe:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(35)


def workers_uss(pid: int) -> float:
    return round(sum(p["uss_mib"] for p in memory(pid) if p["role"] == "worker"), 1)


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=30)


def status_of(sock: socket.socket) -> str:
    try:
        data = sock.recv(4096)
    except (ConnectionResetError, TimeoutError) as exc:
        return type(exc).__name__
    return data.split(b"\r\n", 1)[0].decode(errors="replace") or "closed"


def header_attack(port: int) -> str:
    sock = connect(port)
    sock.sendall(b"GET /health HTTP/1.1\r\nhost: x\r\nx-big: ")
    sent = 0
    try:
        while sent < 64 << 20:
            sock.sendall(b"a" * 65536)
            sent += 65536
        sock.sendall(b"\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass
    return f"{status_of(sock)} after {sent / 2**20:.2f} MiB sent"


def unknown_key(url: str) -> str:
    r = httpx.post(url + "/sample", json={"k" * 4_000_000: 1}, timeout=60)
    return f"{r.status_code}, answer {len(r.content):,} bytes"


def thin_images(url: str) -> str:
    import base64
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("L", (1, 4_000_000), 128).save(out, format="PNG")
    thin = base64.b64encode(out.getvalue()).decode()
    with Probe(url, "/sample", {"count": 1}) as other:
        started = time.monotonic()
        r = httpx.post(url + "/reconstruct", json={"images": [thin] * 64}, timeout=60)
        took = time.monotonic() - started
        time.sleep(0.2)
    return f"{r.status_code} in {took:.2f} s; another client's /sample worst {other.worst:.3f} s"


def idle(port: int, wait_s: float) -> str:
    silent = [connect(port) for _ in range(1000)]
    half = [connect(port) for _ in range(1000)]
    for sock in half:
        sock.sendall(b"GET /hea")
    time.sleep(wait_s)
    still = answered = 0
    for sock in silent + half:
        sock.setblocking(False)
        try:
            answered += sock.recv(65536) != b""  # an answer (503: too many connections)
        except BlockingIOError:
            still += 1  # nothing to read, not closed: still open
        except OSError:
            pass
        sock.close()
    return f"{still} of 2000 still open after {wait_s:g} s ({answered} answered 503)"


def aliases(url: str, store: Path, log: Path) -> str:
    before = log.read_text().count(" ERROR ")
    (store / "mnist-vae" / "aliases.json").write_text('{"production": 1, "staging"')
    time.sleep(2)
    codes = {}
    for _ in range(10):
        codes["/models"] = httpx.get(url + "/models").status_code
        for version in ("latest", "staging"):
            body = {"images": [DIGIT_7], "version": version}
            codes[version] = httpx.post(url + "/reconstruct", json=body).status_code
    time.sleep(1)
    errors = log.read_text().count(" ERROR ") - before
    return (f"/models {codes['/models']}, latest {codes['latest']}, staging "
            f"{codes['staging']}; {errors} ERROR lines")  # fmt: skip


def disconnects(port: int, log: Path) -> str:
    before = log.read_text().count("Traceback")
    for i in range(100):
        path = b"/v2/models/mnist-vae.reconstruct/infer" if i % 2 else b"/reconstruct"
        sock = connect(port)
        head = b" HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        sock.sendall(b"POST " + path + head + b"content-length: 100000\r\n\r\n{\"images")
        time.sleep(0.01)
        sock.close()
    time.sleep(1)
    return f"{log.read_text().count('Traceback') - before} tracebacks in the log"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--store", type=Path, default=ROOT / "models")
    p.add_argument("--source", type=Path, default=ROOT, help="the checkout whose code serves")
    p.add_argument("--idle-wait", type=float, default=15.0)
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-edges-"))
    store = tmp / "store"
    shutil.copytree(args.store, store, ignore=shutil.ignore_patterns(".*"))
    port, log = free_port(), tmp / "server.log"
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "service", "--port", str(port), "--store", str(store)]
    proc = subprocess.Popen(cmd, cwd=args.source, stdout=log.open("w"), stderr=subprocess.STDOUT,
                            env={**os.environ, "AE_LOG_LEVEL": "info"})  # fmt: skip
    rows = []
    try:
        wait_ready(url, proc)
        attacks = [
            ("header of 64 MiB", lambda: header_attack(port)),
            ("unknown 4 MB key", lambda: unknown_key(url)),
            ("64 thin images", lambda: thin_images(url)),
            ("2,000 idle connections", lambda: idle(port, args.idle_wait)),
            ("broken aliases.json", lambda: aliases(url, store, log)),
            ("100 clients gone mid-body", lambda: disconnects(port, log)),
        ]
        for name, attack in attacks:
            rss = workers_uss(proc.pid)
            with Probe(url) as health:
                started = time.monotonic()
                outcome = attack()
                took = time.monotonic() - started
            after = workers_uss(proc.pid)
            rows.append({"attack": name, "outcome": outcome, "seconds": round(took, 2),
                         "worst_health_s": round(health.worst, 3),
                         "uss_before_mib": rss, "uss_after_mib": after})  # fmt: skip
            print(f"  {name}: {outcome}", flush=True)
    finally:
        proc.terminate()
        proc.wait(30)
    print(f"\nserving {args.source} (workers' USS summed; log {log})\n")
    print("| attack | outcome | s | worst /health s | workers USS before / after MiB |")
    print("| --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['attack']} | {r['outcome']} | {r['seconds']} | {r['worst_health_s']} | "
              f"{r['uss_before_mib']} / {r['uss_after_mib']} |")  # fmt: skip
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
