"""Figures for the operations issue, from docker-compose.yml's own commands.

    .venv/bin/python bench/ops_figures.py [--store DIR] [--seconds 20]

1. `docker compose up`-equivalent: the trainer service's command into an empty volume,
   then the api service's command, until its healthcheck passes (seconds for each part).
2. Promote under load: 16 clients on /reconstruct while a new version of mnist-vae is
   promoted, then rolled back: seconds from each promote to the first request sent after it
   that the new version answers, and failed requests (goal 0).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from model_store import LocalStore  # noqa: E402
from service.examples import DIGIT_7  # noqa: E402
from tests.compose_runner import command, environment, load_compose, start  # noqa: E402


def compose_up(volume: Path, port: int, log: Path) -> tuple[subprocess.Popen, float, float]:
    services = load_compose()["services"]
    volumes = {"models": volume}
    started = time.perf_counter()
    subprocess.run(command(services["trainer"]), cwd=ROOT, check=True,
                   env=environment(services["trainer"], volumes, {}))  # fmt: skip
    trained = time.perf_counter() - started
    api = start(services["api"], volumes, {"AE_PORT": str(port), "AE_HOST": "127.0.0.1"}, log)
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1).status_code == 200:
                return api, trained, time.perf_counter() - started - trained
        except httpx.TransportError:
            pass
        time.sleep(0.05)


def promote_under_load(url: str, store: Path, seconds: float) -> dict[str, object]:
    subprocess.run([sys.executable, "-m", "trainer", "--store", str(store), "--quiet", "train",
                    "--family", "vae", "--name", "mnist-vae", "--epochs", "1", "--batch-size", "64",
                    "--hidden", "256"], cwd=ROOT, check=True, capture_output=True)  # fmt: skip
    answers: list[tuple[float, int]] = []
    failures: list[str] = []
    stop = threading.Event()

    def client() -> None:
        with httpx.Client(base_url=url, timeout=30) as c:
            while not stop.is_set():
                sent = time.monotonic()
                try:
                    r = c.post("/reconstruct", json={"images": [DIGIT_7]})
                except httpx.HTTPError as exc:
                    failures.append(repr(exc))
                    continue
                if r.status_code == 200:
                    answers.append((sent, r.json()["version"]))
                else:
                    failures.append(str(r.status_code))

    def promote(version: int) -> float:
        at = time.monotonic()
        cli = [sys.executable, "-m", "model_store", "--store", str(store)]
        subprocess.run([*cli, "promote", "mnist-vae", str(version)], cwd=ROOT, check=True)
        while not any(t >= at and v == version for t, v in answers):
            time.sleep(0.01)
        return min(t for t, v in answers if t >= at and v == version) - at

    local = LocalStore(store)
    old, new = local.aliases("mnist-vae")["production"], local.versions("mnist-vae")[-1]
    threads = [threading.Thread(target=client) for _ in range(16)]
    for t in threads:
        t.start()
    time.sleep(seconds / 2)
    to_new = promote(new)
    time.sleep(seconds / 2)
    back = promote(old)
    time.sleep(2)
    stop.set()
    for t in threads:
        t.join()
    return {
        "requests": len(answers),
        "failed_requests": len(failures),
        "promote_to_first_new_response_s": round(to_new, 2),
        "rollback_to_first_old_response_s": round(back, 2),
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--store", type=Path, help="volume directory (default: a new temporary one)")
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--port", type=int, default=8792)
    args = p.parse_args()
    volume = args.store or Path(tempfile.mkdtemp(prefix="bench-volume-"))
    volume.mkdir(parents=True, exist_ok=True)
    api, trained, ready = compose_up(volume, args.port, volume.parent / "bench-api.log")
    figures: dict[str, object] = {
        "volume": str(volume),
        "compose_trainer_s": round(trained, 1),
        "compose_api_start_to_ready_s": round(ready, 2),
        "compose_up_to_ready_s": round(trained + ready, 1),
    }
    print(json.dumps(figures), flush=True)
    try:
        figures["promote"] = promote_under_load(
            f"http://127.0.0.1:{args.port}", volume, args.seconds
        )
    finally:
        api.terminate()
        api.wait(30)
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
