"""The reliability battery against real server processes: bursts,
deadlines, damaged versions, capacity, overload, soak, a killed worker, killed publishes and
a hot swap under load. Each test prints its figures (`pytest -s` shows them); the long ones are
marked `slow` (CI runs them; `make test-fast` leaves them out)."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
import torch

from autoencoders import ModelConfig, build_model
from model_store import LocalStore, load_version, publish_model
from model_store.disk import sha256
from service.examples import DIGIT_7
from tests import loadgen
from tests.conftest import ROOT, start_server, stop_server
from tests.e2e.test_operations import ENV, Load, publish
from tests.model_store.conftest import fields, leftovers, raw_get, raw_put

HEAVY = ModelConfig(
    family="vae", backbone="conv", latent_dim=20, hidden=(1024,), conv_channels=(64, 128)
)


def heavy_store(tmp_path) -> LocalStore:
    store = LocalStore(tmp_path / "store")
    torch.manual_seed(0)
    publish_model(store, "digits", build_model(HEAVY), HEAVY, fields())
    return store


def workers_of(server) -> list[int]:
    """uvicorn's worker processes (not multiprocessing's resource tracker)."""
    found = []
    for pid in loadgen.process_tree(server.proc.pid)[1:]:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"resource_tracker" not in cmdline:
            found.append(pid)
    return found


class HealthProbe:
    """/health every 20 ms on its own connection, in a thread: the worst latency seen."""

    def __init__(self, url: str) -> None:
        self.url, self.latencies, self.stop = url, [], threading.Event()
        self.thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=10) as c:
            while not self.stop.is_set():
                started = time.monotonic()
                ok = c.get("/health").status_code == 200
                self.latencies.append(time.monotonic() - started if ok else float("inf"))
                time.sleep(0.02)

    def __enter__(self):
        self.thread.start()
        while not self.latencies and self.thread.is_alive():
            time.sleep(0.01)
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(15)

    @property
    def worst(self) -> float:
        return max(self.latencies)


# -- fast: every `make test`


@pytest.mark.slow
def test_a_burst_at_the_default_settings_gets_fast_503s_and_health_stays_fast(tmp_path):
    """Battery 16 at the defaults: 600 requests at once on 600 connections, far more than
    the two workers hold (128 in flight, 64 queued for a forward pass each). The excess is
    refused at once with Retry-After; /health stays fast; the rest are served."""
    store = heavy_store(tmp_path)
    server = start_server(store.root, tmp_path / "log", ENV)
    try:
        before = loadgen.tree_rss(server.proc.pid)
        request = ("POST", "/sample", loadgen.body({"count": 16, "seed": 1}))
        with HealthProbe(server.url) as health:
            answers = loadgen.burst(server.url, [request] * 600)
        after = loadgen.tree_rss(server.proc.pid)
        ok = httpx.post(server.url + "/sample", json={"count": 1})
    finally:
        stop_server(server)
    statuses = {a.status for a in answers}
    refused = sorted(a.elapsed for a in answers if a.status == 503)
    served = sorted(a.elapsed for a in answers if a.status == 200)
    print(f"\nburst of 600: {len(served)} served (p50 {loadgen.median(served):.2f}s, "
          f"max {served[-1]:.2f}s), {len(refused)} refused (p50 {loadgen.median(refused):.3f}s),"
          f" worst /health {health.worst * 1000:.0f} ms, RSS {before >> 20} -> "
          f"{after >> 20} MiB")  # fmt: skip
    assert statuses == {200, 503}, statuses
    assert all(a.retry_after for a in answers if a.status == 503)
    assert len(refused) >= 600 - 2 * 128  # the bound is real: at most 128 per worker
    assert loadgen.median(refused) < min(0.5, loadgen.median(served))
    assert health.worst < 1.0
    assert after < before + (1 << 30)
    assert ok.status_code == 200  # and the next request is served


def test_a_pinned_damaged_version_answers_a_clear_500_at_once_and_is_verified_once(tmp_path):
    store = LocalStore(tmp_path / "store")
    publish(store, 0)
    bad = publish(store, 1)
    weights = store.root / "digits" / str(bad.version) / "weights.safetensors"
    data = bytearray(weights.read_bytes())
    data[-3] ^= 0xFF
    weights.write_bytes(bytes(data))
    server = start_server(store.root, tmp_path / "log", {**ENV, "AE_WORKERS": "1"})
    try:
        with httpx.Client(base_url=server.url, timeout=30) as c:
            answers, took = [], []
            for _ in range(20):
                started = time.monotonic()
                answers.append(c.post("/sample", json={"count": 1, "version": bad.version}))
                took.append(time.monotonic() - started)
            good = c.post("/sample", json={"count": 1})
            detail = c.get("/models/digits").json()
            ready = c.get("/ready")
            text = c.get("/metrics").text
    finally:
        stop_server(server)
    assert {r.status_code for r in answers} == {500}
    assert all("retry-after" not in r.headers for r in answers)
    assert "version 2 of 'digits' failed its integrity checks" in answers[0].json()["detail"]
    assert loadgen.median(took[1:]) < 0.05  # remembered, not verified again
    failed = re.search(r'^ae_model_loads_total{model="digits",result="failed",version="2"} (\S+)$',
                       text, re.M)  # fmt: skip
    assert failed and float(failed.group(1)) == 1
    assert detail["damaged"] == [2] and good.status_code == 200 and ready.status_code == 200


# -- slow: CI runs them; minutes

# Lengths of the load tests: short on every `make test`, full in CI (.ci/run sets them).
OVERLOAD_S = float(os.environ.get("AE_OVERLOAD_S", "9"))
SOAK_S = float(os.environ.get("AE_SOAK_S", "30"))
CRASH_LOAD_S = float(os.environ.get("AE_CRASH_LOAD_S", "20"))


@pytest.mark.slow
@pytest.mark.parametrize("clients", [1, 4, 16])
def test_capacity_with_no_error(server, clients):
    """Battery 17: a closed loop of one-digit /reconstruct calls at the defaults."""
    request = ("POST", "/reconstruct", loadgen.body({"images": [DIGIT_7]}))
    run = loadgen.closed_loop(server.url, clients, 5, lambda rng: request, server.proc.pid)
    print(f"\ncapacity, {clients} clients: {run.summary()}")
    assert run.statuses() == {200: len(run.answers)}
    assert max(run.health) < 1.0




@pytest.mark.slow
def test_overload_at_three_times_capacity_is_refused_fast_and_recovers(server):
    """Battery 18: requests arriving at 3x the rate the service answers, for AE_OVERLOAD_S
    seconds (9 by default, 30 in CI)."""
    request = ("POST", "/sample", loadgen.body({"count": 64, "seed": 3}))
    capacity = loadgen.closed_loop(server.url, 16, 4, lambda rng: request).rate(200)
    run = loadgen.open_loop(server.url, 3 * capacity, OVERLOAD_S, lambda rng: request,
                            server.proc.pid)  # fmt: skip
    started = time.monotonic()
    while httpx.post(server.url + "/sample", json={"count": 1}).status_code != 200:
        time.sleep(0.05)
    recovered = time.monotonic() - started
    print(f"\noverload at {3 * capacity:.0f}/s (capacity {capacity:.0f}/s): {run.summary()}; "
          f"recovered in {recovered:.2f}s")  # fmt: skip
    statuses = run.statuses()
    assert set(statuses) <= {200, 503} and statuses.get(503, 0) > 0, (statuses, [
        a.body for a in run.answers if a.status == 0][:3])  # fmt: skip
    assert run.rate(200) > 0.5 * capacity  # refusing the excess keeps the rest flowing
    busy = run.latencies(503)
    assert busy[len(busy) // 2] < 0.25 and busy[int(0.99 * len(busy))] < 1.0
    assert max(run.health) < 1.0
    assert recovered < 5
    window = OVERLOAD_S / 3  # the first and the last third
    first = [m for t, m in run.memory if t < run.memory[0][0] + window]
    last = [m for t, m in run.memory if t > run.memory[-1][0] - window]
    assert max(last) < 1.2 * max(first)  # memory flat, not growing with the backlog


def _mixed(rng: random.Random) -> loadgen.Request:
    """Every inference endpoint, with 1% invalid input of every kind."""
    if rng.random() < 0.01:
        return rng.choice([
            ("POST", "/decode", b'{"codes": [[NaN, 1]]}'),
            ("POST", "/reconstruct", loadgen.body({"images": ["not base64!"]})),
            ("POST", "/reconstruct", loadgen.body({"images": ["iVBORw0KGgoAAAA"]})),
            ("POST", "/sample", loadgen.body({"count": 10**9})),
            ("POST", "/cvae-sample", loadgen.body({"labels": [42]})),
            ("POST", "/encode", b"{"),
            ("GET", "/models/..%2f..%2fetc", None),
        ])  # fmt: skip
    seed = rng.randrange(1000)
    return rng.choice([
        ("POST", "/reconstruct", loadgen.body({"images": [DIGIT_7] * rng.randint(1, 4)})),
        ("POST", "/encode", loadgen.body({"images": [DIGIT_7]})),
        ("POST", "/decode", loadgen.body({"codes": [[rng.gauss(0, 1) for _ in range(20)]]})),
        ("POST", "/sample", loadgen.body({"count": rng.randint(1, 8), "seed": seed})),
        ("POST", "/cvae-sample", loadgen.body({"labels": [seed % 10], "seed": seed})),
        ("POST", "/edit-attribute", loadgen.body({"images": [DIGIT_7], "edits": [
            {"attribute": "Smiling", "strength": 1.0}]})),
        ("GET", "/models/mnist-vae", None),
    ])  # fmt: skip


@pytest.mark.slow
def test_soak_with_mixed_endpoints_and_bad_input_gives_no_5xx_and_flat_memory(server):
    """Battery 19: AE_SOAK_S seconds (30 by default, 10 minutes in CI) of 8 clients."""
    run = loadgen.closed_loop(server.url, 8, SOAK_S, _mixed, server.proc.pid, seed=19)
    print(f"\nsoak {SOAK_S:.0f}s: {run.summary()}")
    statuses = run.statuses()
    assert not [s for s in statuses if s >= 500 or s == 0], (statuses, [
        a.body[:300] for a in run.answers if a.status >= 500][:3])  # fmt: skip
    assert 422 in statuses and 200 in statuses
    assert max(run.health) < 1.0
    # Memory and descriptors flat: the last tenth against the second tenth (the first warms
    # up allocators and caches).
    tenth = (run.memory[-1][0] - run.memory[0][0]) / 10
    start = run.memory[0][0]
    early = [m for t, m in run.memory if start + tenth <= t < start + 2 * tenth]
    late = [m for t, m in run.memory if t >= start + 9 * tenth]
    assert max(late) < 1.1 * max(early) + (32 << 20)
    fds = [f for _, f in run.fds]
    assert max(fds[len(fds) // 2 :]) <= max(fds[: len(fds) // 2]) + 8


@pytest.mark.slow
def test_a_worker_killed_comes_back_and_only_its_requests_fail(tmp_path):
    """Battery 21: SIGKILL one of two workers under a load of 8 clients."""
    store = LocalStore(tmp_path / "store")
    publish(store, 0)
    server = start_server(store.root, tmp_path / "log", {**ENV, "AE_WORKERS": "2"})
    try:
        workers = workers_of(server)
        assert len(workers) == 2
        request = ("POST", "/sample", loadgen.body({"count": 2, "seed": 0}))
        results: list[loadgen.Run] = []
        loader = threading.Thread(target=lambda: results.append(
            loadgen.closed_loop(server.url, 8, 15, lambda rng: request)))  # fmt: skip
        loader.start()
        time.sleep(3)
        killed_at = time.monotonic()
        os.kill(workers[0], signal.SIGKILL)
        loader.join(60)
        run = results[0]
        deadline = time.monotonic() + 30
        while len(now := workers_of(server)) < 2 or workers[0] in now:
            assert time.monotonic() < deadline, "the killed worker was not replaced"
            time.sleep(0.2)
        while httpx.get(server.url + "/ready").status_code != 200:
            assert time.monotonic() < deadline, "not ready again after the restart"
            time.sleep(0.2)
    finally:
        stop_server(server)
    failed = [a for a in run.answers if a.status != 200]
    after = [a for a in run.answers if a.sent > killed_at + 1 and a.status == 200]
    print(f"\nkilled worker {workers[0]}: {run.summary()}; replaced by {set(now) - set(workers)}")
    assert {a.status for a in failed} <= {0}  # connections cut, never a 5xx
    assert len(failed) <= 8  # at most the requests that were in flight on it
    assert len(after) > 100  # the others kept serving


PUBLISH_FOREVER = """
import sys, torch
from autoencoders import ModelConfig, build_model
from model_store import open_store, publish_model
from tests.model_store.conftest import fields, leftovers, raw_get, raw_put
store = open_store(sys.argv[1])
config = ModelConfig(family="vae", backbone="linear", latent_dim=20, hidden=(1536,))
print("started", flush=True)
while True:
    publish_model(store, "digits", build_model(config), config, fields())
"""


@pytest.mark.slow
def test_publishes_killed_at_random_points_are_never_visible_or_served(tmp_path, any_store):
    """Battery 22 with a server, on each backend: it follows `latest` while publishes are
    killed mid-way, for AE_CRASH_LOAD_S seconds of load (20 by default, 60 in CI)."""
    store = any_store
    publish(store, 0)
    server = start_server(store.location, tmp_path / "log", ENV)
    rng = random.Random(22)
    try:
        request = ("POST", "/sample", loadgen.body({"count": 1, "version": "latest"}))
        results: list[loadgen.Run] = []
        loader = threading.Thread(target=lambda: results.append(
            loadgen.closed_loop(server.url, 4, CRASH_LOAD_S, lambda r: request)))  # fmt: skip
        loader.start()
        kills = 0
        while loader.is_alive() and kills < 12:
            proc = subprocess.Popen([sys.executable, "-c", PUBLISH_FOREVER, store.location],
                                    cwd=ROOT, stdout=subprocess.PIPE, text=True)  # fmt: skip
            assert proc.stdout.readline().strip() == "started"
            time.sleep(rng.uniform(0.05, 1.5))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
            for v in store.versions("digits"):
                load_version(store, "digits", v)  # every visible version loads whole
        loader.join(120)
        text = httpx.get(server.url + "/metrics").text
        ready = httpx.get(server.url + "/ready").json()
        versions = store.versions("digits")
    finally:
        stop_server(server)
    run = results[0]
    served = {json.loads(a.body)["version"] for a in run.answers if a.body}
    print(f"\n{kills} publishes killed, {len(versions)} versions whole: {run.summary()}")
    assert run.statuses() == {200: len(run.answers)}
    assert 'result="failed"' not in text  # no partial version was ever offered to a load
    assert ready["problems"] == {}
    assert served <= set(versions)
    store.clean()  # what the killed publishers left behind
    assert leftovers(store, "digits") == []


@pytest.mark.slow
def test_promote_under_load_then_a_wrong_model_is_refused_with_no_failed_request(
    tmp_path, any_store
):
    """Battery 24, on each backend: promote v2 during a load, then v3, whose weights are
    valid safetensors of another model (a manifest that matches them: only the probe can
    tell)."""
    store = any_store
    publish(store, 0)
    server = start_server(store.location, tmp_path / "log", ENV)
    not_ready: list[int] = []
    stop = threading.Event()

    def watch_ready() -> None:
        while not stop.is_set():
            status = httpx.get(server.url + "/ready", timeout=10).status_code
            if status != 200:
                not_ready.append(status)
            time.sleep(0.05)

    watcher = threading.Thread(target=watch_ready)
    watcher.start()
    try:
        two = publish(store, 1, name="digits")
        with Load(server.url) as load:
            time.sleep(1)
            promoted = time.monotonic()
            store.set_alias("digits", "production", two.version)
            load.wait_for_version(two.version, promoted)
            # v3: the architecture of v1 and v2, the weights of a differently seeded model.
            three = publish(store, 3)
            v3 = f"digits/{three.version}"
            other = raw_get(store, "digits/1/weights.safetensors")
            raw_put(store, f"{v3}/weights.safetensors", other)
            manifest = json.loads(raw_get(store, f"{v3}/manifest.json"))
            manifest["files"]["weights.safetensors"] = sha256(other)
            raw_put(store, f"{v3}/manifest.json", json.dumps(manifest).encode())
            store.set_alias("digits", "production", three.version)
            time.sleep(3)
            last = time.monotonic()
            time.sleep(1)
        text = httpx.get(server.url + "/metrics").text
        problems = httpx.get(server.url + "/ready").json()["problems"]
    finally:
        stop.set()
        watcher.join(10)
        stop_server(server)
    print(
        f"\nhot swap: {len(load.versions)} answers, switched to v2 in "
        f"{load.wait_for_version(two.version, promoted):.2f}s, problems {problems}"
    )
    assert load.failures == []
    assert not_ready == []
    assert {v for t, v in load.versions if t > last} == {two.version}
    failed = re.search(rf'^ae_model_loads_total{{model="digits",result="failed",'
                       rf'version="{three.version}"}} (\S+)$', text, re.M)  # fmt: skip
    assert failed and float(failed.group(1)) >= 1
    assert problems == {"digits@production": "version 3 refused; still serving 2"}


def test_a_body_that_stalls_gets_408_at_the_deadline_and_frees_its_slot(tmp_path):
    """A client that declares 1,000 bytes, sends 10 and stops (slowloris) holds a door slot
    only until the request's deadline."""
    store = LocalStore(tmp_path / "store")
    publish(store, 0)
    env = {**ENV, "AE_WORKERS": "1", "AE_REQUEST_TIMEOUT_S": "1", "AE_MAX_REQUESTS": "2"}
    server = start_server(store.root, tmp_path / "log", env)
    try:
        port = int(server.url.rsplit(":", 1)[1])
        stalled = []
        for _ in range(2):  # every slot of the door
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(b"POST /sample HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Content-Length: 1000\r\n\r\n" + b'{"count": ')  # fmt: skip
            stalled.append(s)
        time.sleep(0.3)
        assert httpx.post(server.url + "/sample", json={"count": 1}).status_code == 503  # full
        assert httpx.get(server.url + "/health").status_code == 200
        started = time.monotonic()
        answers = []
        for s in stalled:
            s.settimeout(5)
            data = b""
            while chunk := s.recv(4096):  # the server closes the connection after it
                data += chunk
            answers.append(data.decode())
            s.close()
        took = time.monotonic() - started
        assert all(a.startswith("HTTP/1.1 408") for a in answers), answers
        assert all("AE_REQUEST_TIMEOUT_S" in a for a in answers)
        assert took < 2
        assert httpx.post(server.url + "/sample", json={"count": 1}).status_code == 200  # freed
    finally:
        stop_server(server)
