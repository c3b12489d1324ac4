"""Operating the service: live alias updates under load, readiness, shutdown, metrics, auth."""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from pathlib import Path

import httpx
import pytest
import torch

from autoencoders import ModelConfig, build_model
from model_store import LocalStore, publish_model
from service.examples import DIGIT_7
from tests.conftest import run_cli, start_server, stop_server
from tests.model_store.conftest import fields

VAE = ModelConfig(family="vae", backbone="linear", latent_dim=20, hidden=(64,))
ENV = {"AE_DEFAULT_MODEL": "digits", "AE_CVAE_MODEL": "digits", "AE_ALIAS_POLL_S": "0.2"}


def publish(store: LocalStore, seed: int, name: str = "digits"):
    torch.manual_seed(seed)
    return publish_model(store, name, build_model(VAE), VAE, fields())


class Load:
    """Clients calling /sample in a loop; records (time sent, version) of every answer, the
    replica behind a balancer that answered (its X-Replica header, if any), and failures."""

    def __init__(self, url: str, clients: int = 4, headers: dict | None = None) -> None:
        self.url, self.versions, self.failures = url, [], []
        self.answers: list[tuple[float, str | None, int]] = []  # (sent, replica, version)
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(headers,)) for _ in range(clients)]

    def _run(self, headers) -> None:
        with httpx.Client(base_url=self.url, timeout=30, headers=headers) as c:
            while not self.stop.is_set():
                sent = time.monotonic()
                try:
                    r = c.post("/sample", json={"count": 2, "seed": 0})
                except httpx.HTTPError as exc:
                    self.failures.append(repr(exc))
                    continue
                if r.status_code == 200:
                    version = r.json()["version"]
                    self.versions.append((sent, version))
                    self.answers.append((sent, r.headers.get("x-replica"), version))
                else:
                    self.failures.append(f"{r.status_code} {r.text[:200]}")

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(30)

    def wait_for_version(self, version: int, since: float, timeout: float = 15) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(t >= since and v == version for t, v in self.versions):
                return min(t for t, v in self.versions if t >= since and v == version) - since
            time.sleep(0.02)
        raise AssertionError(f"no response from version {version} within {timeout}s")


@pytest.fixture
def digits_store(tmp_path) -> LocalStore:
    store = LocalStore(tmp_path / "store")
    publish(store, 0)
    return store


@pytest.mark.slow
def test_promote_and_rollback_under_load_lose_no_request(digits_store, tmp_path):
    server = start_server(digits_store.root, tmp_path / "log", ENV)
    try:
        publish(digits_store, 1)  # version 2, not yet production
        with Load(server.url) as load:
            time.sleep(0.5)
            started = time.monotonic()
            run_cli(
                "-m", "model_store", "--store", str(digits_store.root), "promote", "digits", "2"
            )
            to_new = load.wait_for_version(2, started)
            started = time.monotonic()
            run_cli(
                "-m", "model_store", "--store", str(digits_store.root), "promote", "digits", "1"
            )
            back = load.wait_for_version(1, started)
            time.sleep(2.0)
        assert load.failures == []
        assert to_new < 10 and back < 10
        # Requests on different connections are not served in the order they were sent, so
        # allow a second for those already inside the server when the switch happened.
        after = [v for t, v in load.versions if t > started + back + 1.0]
        assert after and set(after) == {1}
    finally:
        stop_server(server)


@pytest.mark.slow
def test_a_corrupt_version_is_refused_and_the_old_one_keeps_serving(digits_store, tmp_path):
    server = start_server(digits_store.root, tmp_path / "log", ENV)
    try:
        bad = publish(digits_store, 2)
        weights = digits_store.root / "digits" / str(bad.version) / "weights.safetensors"
        data = bytearray(weights.read_bytes())
        data[-3] ^= 0xFF
        weights.write_bytes(bytes(data))
        with Load(server.url) as load:
            digits_store.set_alias("digits", "production", bad.version)
            time.sleep(2)
            ready = httpx.get(server.url + "/ready")
        assert load.failures == []
        assert {v for _, v in load.versions} == {1}
        assert ready.status_code == 200
        metrics = httpx.get(server.url + "/metrics").text
        # Each worker process refused it once.
        failed = re.search(
            rf'^ae_model_loads_total{{model="digits",result="failed",version="{bad.version}"}} '
            r"(\S+)$", metrics, re.M,
        )  # fmt: skip
        assert failed and float(failed.group(1)) >= 1
        assert f'result="ok",version="{bad.version}"' not in metrics
    finally:
        stop_server(server)


def test_port_opens_at_once_and_ready_waits_for_the_models(tmp_path):
    store = LocalStore(tmp_path / "store")
    server = start_server(store.root, tmp_path / "log", ENV, wait_ready=False)
    try:
        assert httpx.get(server.url + "/health").json() == {"status": "ok"}
        ready = httpx.get(server.url + "/ready")
        assert ready.status_code == 503 and ready.headers["retry-after"]
        assert "no model named 'digits'" in ready.json()["detail"]
        infer = httpx.post(server.url + "/sample", json={"count": 1})
        assert infer.status_code == 503 and infer.headers["retry-after"]
        publish(store, 0)
        deadline = time.monotonic() + 15
        while httpx.get(server.url + "/ready").status_code != 200:
            assert time.monotonic() < deadline, "never turned ready after the models appeared"
            time.sleep(0.1)
        assert httpx.post(server.url + "/sample", json={"count": 1}).status_code == 200
    finally:
        stop_server(server)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_stopped_service_leaves_nothing_in_the_temporary_directory(tmp_path, workers):
    """The workers' shared directory (metrics, readiness markers, counters) goes with the
    service. With one worker uvicorn re-raises SIGTERM after its shutdown; that used to skip
    the clean-up, and every stop left a directory behind."""
    store = LocalStore(tmp_path / "store")
    publish(store, 0)
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    env = {**ENV, "AE_WORKERS": workers, "TMPDIR": str(temporary)}
    server = start_server(store.root, tmp_path / "log", env)
    try:
        assert [p.name[:11] for p in temporary.iterdir()] == ["ae-workers-"]
        assert httpx.post(server.url + "/sample", json={"count": 1}).status_code == 200
    finally:
        stop_server(server)
    assert server.proc.returncode in (0, -signal.SIGTERM, 128 + signal.SIGTERM)
    assert list(temporary.iterdir()) == []


@pytest.mark.slow
def test_sigterm_lets_requests_in_flight_finish(tmp_path):
    store = LocalStore(tmp_path / "store")
    heavy = ModelConfig(
        family="vae", backbone="conv", latent_dim=20, hidden=(1024,), conv_channels=(64, 128)
    )
    publish_model(store, "digits", build_model(heavy), heavy, fields())
    env = {**ENV, "AE_DRAIN_S": "10"}
    server = start_server(store.root, tmp_path / "log", env)
    results: list[tuple[int, float]] = []
    connected = threading.Barrier(13)

    def call():
        with httpx.Client(base_url=server.url, timeout=30) as c:
            c.get("/health")  # the connection is open before the signal
            connected.wait()
            r = c.post("/sample", json={"count": 64, "seed": 1})
            results.append((r.status_code, time.monotonic()))

    threads = [threading.Thread(target=call) for _ in range(12)]
    for t in threads:
        t.start()
    connected.wait()
    # Signal once the first answer is back: the other eleven are then inside the server,
    # queued for the workers' inference threads, however fast this machine runs them.
    deadline = time.monotonic() + 20
    while not results:
        assert time.monotonic() < deadline, "no answer before the signal"
        time.sleep(0.001)
    started = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    for t in threads:
        t.join(30)
    server.proc.wait(15)
    assert time.monotonic() - started < 12
    assert [status for status, _ in results] == [200] * 12
    assert sum(done > started for _, done in results) >= 3  # these were in flight at SIGTERM
    # uvicorn re-raises the signal once drained: "terminated by SIGTERM", as supervisors expect.
    assert server.proc.returncode in (0, -signal.SIGTERM)


def test_metrics_count_requests_by_endpoint_model_and_version(digits_store, tmp_path):
    server = start_server(digits_store.root, tmp_path / "log", ENV)
    try:
        for _ in range(3):
            httpx.post(server.url + "/sample", json={"count": 4, "seed": 0})
        httpx.post(server.url + "/sample", json={"count": 999})
        text = httpx.get(server.url + "/metrics").text
        assert (
            'ae_requests_total{endpoint="/sample",model="digits",status="200",version="1"} 3.0'
            in text
        )
        assert 'ae_requests_total{endpoint="/sample",model="",status="422",version=""} 1.0' in text
        assert 'ae_request_seconds_count{endpoint="/sample",model="digits",version="1"} 3.0' in text
        assert 'ae_inference_batch_size_bucket{le="4.0",operation="decode"} 3.0' in text
        # One value per worker process: which version each one serves.
        served = re.findall(r'^ae_alias_version{alias="production",model="digits",pid="\d+"} (\S+)$',
                            text, re.M)  # fmt: skip
        assert served and set(served) == {"1.0"}
        loads = re.search(r'^ae_model_loads_total{model="digits",result="ok",version="1"} (\S+)$',
                          text, re.M)  # fmt: skip
        assert loads and float(loads.group(1)) == len(served)  # once in each worker
    finally:
        stop_server(server)


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        pytest.param({}, 401, id="missing"),
        pytest.param({"X-API-Key": "wrong"}, 401, id="wrong"),
        # Spaces around a header value are trimmed by HTTP itself (RFC 9110 §5.5), so padding
        # that reaches the service is padding inside the value.
        pytest.param({"X-API-Key": "s3cret=="}, 401, id="padded"),
        pytest.param({"X-API-Key": "s3cre"}, 401, id="prefix"),
        pytest.param({"X-API-Key": "s3cret!"}, 401, id="longer"),
        pytest.param({"X-API-Key": "s3cret"}, 200, id="right"),
    ],
)
def test_api_key_guards_inference_and_models_but_not_health(auth_server, headers, status):
    for method, path, body in (("POST", "/sample", {"count": 1}), ("GET", "/models", None)):
        r = httpx.request(method, auth_server.url + path, json=body, headers=headers)
        assert r.status_code == status, (path, r.text)
        if status == 401:
            assert r.headers["content-type"] == "application/problem+json"
            assert "s3cret" not in r.text
    assert httpx.get(auth_server.url + "/health").status_code == 200
    assert httpx.get(auth_server.url + "/ready").status_code == 200


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("auth")
    store = LocalStore(root / "store")
    publish(store, 0)
    server = start_server(store.root, Path(root) / "log", {**ENV, "AE_API_KEY": "s3cret"})
    yield server
    stop_server(server)


def test_no_cors_grant_unless_configured(server):
    r = httpx.post(
        server.url + "/sample", json={"count": 1}, headers={"Origin": "https://evil.example"}
    )
    assert "access-control-allow-origin" not in r.headers
    pre = httpx.options(
        server.url + "/sample",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in pre.headers


def test_docs_ask_for_a_key_only_when_one_is_configured(auth_server, server):
    with_key = httpx.get(auth_server.url + "/openapi.json").json()
    assert with_key["components"]["securitySchemes"]["APIKeyHeader"]["name"] == "X-API-Key"
    assert "401" in with_key["paths"]["/sample"]["post"]["responses"]
    without = httpx.get(server.url + "/openapi.json").json()
    assert "securitySchemes" not in without.get("components", {})
    assert "security" not in without["paths"]["/sample"]["post"]


def test_overload_gets_fast_503s_and_health_stays_fast(tmp_path):
    """More requests than the service runs or queues: the excess is refused at once with
    Retry-After, and /health answers quickly while forward passes are busy."""
    store = LocalStore(tmp_path / "store")
    heavy = ModelConfig(
        family="vae", backbone="conv", latent_dim=20, hidden=(1024,), conv_channels=(64, 128)
    )
    publish_model(store, "digits", build_model(heavy), heavy, fields())
    env = {**ENV, "AE_MAX_WAITING_INFERENCE": "1"}
    server = start_server(store.root, tmp_path / "log", env)
    results: list[tuple[int, float, str | None]] = []
    health: list[float] = []

    def call():
        with httpx.Client(base_url=server.url, timeout=60) as c:
            started = time.monotonic()
            r = c.post("/sample", json={"count": 64, "seed": 1})
            results.append(
                (r.status_code, time.monotonic() - started, r.headers.get("retry-after"))
            )

    try:
        threads = [threading.Thread(target=call) for _ in range(10)]
        for t in threads:
            t.start()
        for _ in range(10):
            started = time.monotonic()
            assert httpx.get(server.url + "/health").status_code == 200
            health.append(time.monotonic() - started)
            time.sleep(0.02)
        for t in threads:
            t.join(60)
    finally:
        stop_server(server)
    refused = [r for r in results if r[0] == 503]
    served = [r for r in results if r[0] == 200]
    assert len(refused) + len(served) == 10 and refused and served
    assert all(retry for _, _, retry in refused)
    # Refusals do not wait for the queue: all come back before the last served request.
    assert max(elapsed for _, elapsed, _ in refused) < max(elapsed for _, elapsed, _ in served)
    assert sorted(health)[len(health) // 2] < 0.25  # median /health latency while busy


def test_a_version_without_manifest_degrades_only_itself_and_the_watcher_goes_on(
    digits_store, tmp_path
):
    server = start_server(digits_store.root, tmp_path / "log", ENV)
    try:
        broken = digits_store.root / "digits" / "2"
        broken.mkdir()
        (broken / "weights.safetensors").write_bytes(b"not a model")
        with Load(server.url) as load:
            digits_store.set_alias("digits", "production", 2)
            time.sleep(1.5)
            assert httpx.get(server.url + "/ready").status_code == 200
            detail = httpx.get(server.url + "/models/digits")
            assert detail.status_code == 200, detail.text
            assert detail.json()["damaged"] == [2]
            assert [d["version"] for d in detail.json()["details"]] == [1]
            # The watcher survived: a good version published and promoted is followed.
            good = publish(digits_store, 3)
            promoted = time.monotonic()
            digits_store.set_alias("digits", "production", good.version)
            load.wait_for_version(good.version, promoted, timeout=10)
        assert load.failures == []
        assert {v for _, v in load.versions} <= {1, good.version}
    finally:
        stop_server(server)


def test_a_broken_alias_file_fails_only_what_needs_it_and_is_logged_once(digits_store, tmp_path):
    publish(digits_store, 1)  # version 2; production stays on 1
    publish(digits_store, 2, name="other")
    server = start_server(digits_store.root, tmp_path / "log", {**ENV, "AE_LOG_LEVEL": "info"})
    try:
        aliases = digits_store.root / "digits" / "aliases.json"
        # Cut short by a bad copy; put in place in one step, so that no poll reads the
        # file half written (an empty file is another problem, logged once more).
        broken = aliases.with_name("aliases.json.broken")
        broken.write_text('{"production": 1, "staging"')
        os.replace(broken, aliases)
        time.sleep(1)  # several alias polls
        listing = httpx.get(server.url + "/models")
        assert listing.status_code == 200, listing.text
        models = {m["name"]: m for m in listing.json()["models"]}
        assert set(models) == {"digits", "other"}
        assert "aliases.json" in models["digits"]["problem"]
        assert models["other"]["problem"] is None
        assert httpx.get(server.url + "/models/digits").status_code == 200

        def reconstruct(version=None) -> httpx.Response:
            body = {"images": [DIGIT_7], **({"version": version} if version else {})}
            return httpx.post(server.url + "/reconstruct", json=body, timeout=10)

        for _ in range(10):
            assert reconstruct().json()["version"] == 1  # production: served from memory
            assert reconstruct(2).json()["version"] == 2
            assert reconstruct("latest").json()["version"] == 2
            staging = reconstruct("staging")
            assert staging.status_code == 404, staging.text
            assert "aliases.json" in staging.json()["detail"]
            assert "integrity" not in staging.json()["detail"]
        assert httpx.get(server.url + "/ready").status_code == 200
        log = (tmp_path / "log").read_text()
        mentions = [line for line in log.splitlines() if "aliases.json" in line]
        assert 1 <= len(mentions) <= 2, mentions  # once per worker that follows it
        assert "ERROR" not in log and "Traceback" not in log
    finally:
        stop_server(server)
