"""docker-compose.scale.yml proved as plain processes: an S3 server (moto, standing in for
MinIO), the scale file's one-shot trainer publishing into the bucket, two api replicas on
that bucket, and Debian's nginx with deploy/nginx.conf in front. A promote under load
through nginx reaches both replicas, and no request fails."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

import httpx
import jsonschema
import pytest

from model_store import open_store
from tests.compose_runner import ROOT, command, environment, load_compose, start
from tests.conftest import free_port, need_programs, run_cli, start_server, stop_server
from tests.e2e.test_operations import Load
from tests.model_store.conftest import publish_tiny
from tests.s3server import start_s3_server

pytestmark = pytest.mark.slow  # trains, then runs three servers

SCALE = ROOT / "docker-compose.scale.yml"
NGINX_CONF = ROOT / "deploy" / "nginx.conf"
SCHEMA = Path(__file__).resolve().parents[1] / "data" / "compose-spec.json"


def test_scale_file_is_valid_and_its_balancer_waits_for_ready_replicas():
    compose = load_compose(SCALE)
    jsonschema.Draft201909Validator(json.loads(SCHEMA.read_text())).validate(compose)
    services = compose["services"]
    assert services["lb"]["depends_on"]["api"] == {"condition": "service_healthy"}
    assert "/ready" in " ".join(services["api"]["healthcheck"]["test"])
    assert services["api"]["deploy"]["replicas"] >= 2
    assert services["api"]["environment"]["AE_STORE_DIR"].startswith("s3://")


def nginx_config(tmp: Path, port: int, replicas: list[int]) -> Path:
    """deploy/nginx.conf with Docker's DNS name `api` replaced by the replicas' loopback
    ports, and its files kept under `tmp` (Debian's nginx predates `resolve`)."""
    text = NGINX_CONF.read_text()
    servers = "".join(f"server 127.0.0.1:{p} max_fails=1 fail_timeout=5s;\n        "
                      for p in replicas)  # fmt: skip
    text, n = re.subn(r"server api:8000 resolve ([^;]*);\n\s*", servers, text)
    assert n == 1, "the upstream line of deploy/nginx.conf changed: update this test"
    text = re.sub(r"^\s*resolver .*\n", "", text, flags=re.M)
    text = text.replace("listen 80;", f"listen 127.0.0.1:{port};")
    paths = "".join(f"    {kind}_temp_path {tmp / kind};\n"
                    for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))  # fmt: skip
    text = text.replace("http {\n", "http {\n" + paths, 1)
    head = f"pid {tmp / 'nginx.pid'};\nerror_log {tmp / 'error.log'} warn;\n"
    if os.geteuid() == 0:
        head += "user root;\n"
    conf = tmp / "nginx.conf"
    conf.write_text(head + text)
    return conf


def wait_until(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{what} not within {timeout} s")


def test_replicas_on_one_bucket_switch_together_behind_nginx_with_no_failed_request(
    tmp_path, monkeypatch
):
    need_programs("nginx")
    services = load_compose(SCALE)["services"]
    s3 = start_s3_server()
    procs: list[subprocess.Popen] = []
    try:
        bucket = s3.new_bucket()
        # The scale file's bucket is s3://models/store on MinIO; ours is a fresh one on moto.
        location = services["api"]["environment"]["AE_STORE_DIR"].replace("models", bucket, 1)
        to_s3 = {**s3.env, "AE_STORE_DIR": location}
        for key, value in to_s3.items():
            monkeypatch.setenv(key, value)

        started = time.monotonic()
        trainer = subprocess.run(
            command(services["trainer"]), cwd=ROOT, capture_output=True, text=True, timeout=900,
            env=environment(services["trainer"], {}, {**to_s3, "AE_BOOTSTRAP_EPOCHS": "1"}),
        )  # fmt: skip
        assert trainer.returncode == 0, trainer.stderr[-3000:]
        trained_s = time.monotonic() - started
        store = open_store(location)
        assert store.names() == ["mnist-classifier", "mnist-cvae", "mnist-vae"]

        replicas = [free_port() for _ in range(services["api"]["deploy"]["replicas"])]
        for i, port in enumerate(replicas):
            extra = {**to_s3, "AE_HOST": "127.0.0.1", "AE_PORT": str(port), "AE_WORKERS": "1",
                     "AE_LOG_LEVEL": "warning"}  # fmt: skip
            procs.append(start(services["api"], {}, extra, tmp_path / f"api{i}.log"))
        for port in replicas:
            wait_until(lambda p=port: httpx.get(f"http://127.0.0.1:{p}/ready").status_code == 200,
                       90, f"replica on {port} ready")  # fmt: skip

        lb_port = free_port()
        conf = nginx_config(tmp_path, lb_port, replicas)
        procs.append(subprocess.Popen(["nginx", "-p", str(tmp_path), "-c", str(conf), "-g",
                                       "daemon off;"], stderr=subprocess.STDOUT,
                                      stdout=(tmp_path / "nginx.out").open("w")))  # fmt: skip
        url = f"http://127.0.0.1:{lb_port}"
        wait_until(lambda: httpx.get(url + "/ready").status_code == 200, 20, "nginx")

        # Version 2: the same weights published again (a retrain would do the same).
        content = store.read("mnist-vae", 1)
        fields = content.manifest.model_dump(exclude={"name", "version", "files"})
        new = store.publish("mnist-vae", fields, dict(content.files))
        assert new.version == 2 and store.resolve("mnist-vae") == 1

        with Load(url) as load:
            time.sleep(2)
            promoted = time.monotonic()
            run_cli("-m", "model_store", "--store", location, "promote", "mnist-vae", "2")
            returned = time.monotonic() - promoted  # the CLI's own start-up and write
            switched = {}

            def every_replica_serves_2() -> bool:
                for sent, replica, version in list(load.answers):
                    if sent >= promoted and version == 2:
                        switched.setdefault(replica, sent - promoted)
                return len(switched) == len(replicas)

            wait_until(every_replica_serves_2, 15, "every replica serving version 2")
            time.sleep(2)
        assert load.failures == []
        seen = {replica for _, replica, _ in load.answers}
        assert len(seen) == len(replicas), f"the balancer used only {seen}"
        settled = promoted + max(switched.values()) + 1.0
        assert {v for t, _, v in load.answers if t > settled} == {2}
        print(
            f"\nscale file as processes: trainer on S3 {trained_s:.1f} s; "
            f"{len(load.answers)} requests through nginx, 0 failed; promote to every "
            f"replica serving it: {max(switched.values()):.2f} s from the CLI's start, "
            f"{max(switched.values()) - returned:.2f} s from its return "
            f"({', '.join(f'{r}: {s:.2f} s' for r, s in sorted(switched.items()))})"
        )
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        s3.stop()


def test_a_bucket_outage_neither_stops_serving_nor_hides_itself(tmp_path, monkeypatch):
    """The bucket is down when a replica starts: it answers /health, and 503 with
    Retry-After elsewhere. The bucket comes up with a model: the replica turns ready. The
    bucket goes down again: loaded models keep serving and /ready names the problem."""
    port = free_port()
    down = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1"}  # fmt: skip
    env = {**down, "AE_WORKERS": "1", "AE_ALIAS_POLL_S": "0.5", "AE_DEFAULT_MODEL": "tiny",
           "AE_CVAE_MODEL": "tiny"}  # fmt: skip
    server = start_server("s3://outage/models", tmp_path / "api.log", env, wait_ready=False)
    s3 = None
    try:
        with server.client() as c:
            assert c.get("/health").status_code == 200
            assert c.get("/ready").status_code == 503
            r = c.post("/sample", json={"count": 1, "seed": 0})
            assert r.status_code == 503 and "retry-after" in r.headers, r.text

            s3 = start_s3_server(port=port)
            s3.new_bucket("outage")
            for key, value in down.items():
                monkeypatch.setenv(key, value)
            publish_tiny(open_store("s3://outage/models"))
            wait_until(
                lambda: c.get("/ready").status_code == 200, 60, "ready once the bucket is up"
            )
            assert c.post("/sample", json={"count": 1, "seed": 0}).json()["version"] == 1

            s3.stop()
            s3 = None
            wait_until(lambda: c.get("/ready").json().get("problems"), 30, "/ready naming it")
            for _ in range(10):
                assert c.post("/sample", json={"count": 1, "seed": 0}).status_code == 200
            assert c.get("/health").status_code == 200
    finally:
        stop_server(server)
        if s3 is not None:
            s3.stop()
