"""docker-compose.yml and the Dockerfile, proved without a Docker engine."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import httpx
import jsonschema
import pytest

from tests.compose_runner import ROOT, command, environment, load_compose, order, start
from tests.conftest import free_port

pytestmark = pytest.mark.slow  # runs the compose services, training included

# The Compose Specification's JSON schema as docker-compose 1.29.2 ships it
# (compose/config/compose_spec.json), vendored so the test needs no network.
SCHEMA = Path(__file__).resolve().parents[1] / "data" / "compose-spec.json"


def test_compose_file_is_valid_against_the_compose_specification():
    jsonschema.Draft201909Validator(json.loads(SCHEMA.read_text())).validate(load_compose())


def test_api_waits_for_the_trainer_and_drains_before_it_is_killed():
    services = load_compose()["services"]
    api = services["api"]
    assert api["depends_on"]["trainer"] == {"condition": "service_completed_successfully"}
    assert "/ready" in " ".join(api["healthcheck"]["test"])
    grace = int(api["stop_grace_period"].rstrip("s"))
    assert grace > float(api["environment"]["AE_DRAIN_S"])
    assert order(services).index("trainer") < order(services).index("api")


def test_dockerfile_uses_cpu_wheels_a_non_root_user_and_a_ready_healthcheck():
    text = (ROOT / "Dockerfile").read_text()
    assert "download.pytorch.org/whl/cpu" in text
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users and users[-1] not in ("root", "0")
    assert re.search(r"HEALTHCHECK .*\n?.*/ready", text)
    cmd = re.search(r"^CMD (\[.*\])", text, re.M)
    assert json.loads(cmd[1]) == load_compose()["services"]["api"]["command"]


def test_compose_services_run_as_plain_processes_and_the_api_turns_ready(tmp_path):
    compose = load_compose()
    services = compose["services"]
    volumes = {name: tmp_path / name for name in compose["volumes"]}
    for path in volumes.values():
        path.mkdir()
    port = free_port()
    # One epoch per model keeps this test in seconds; everything else is the compose file's.
    quick = {"AE_BOOTSTRAP_EPOCHS": "1"}
    trainer = subprocess.run(command(services["trainer"]), cwd=ROOT, capture_output=True, text=True,
                             env=environment(services["trainer"], volumes, quick), timeout=600)  # fmt: skip
    assert trainer.returncode == 0, trainer.stderr[-3000:]
    assert sorted(p.name for p in volumes["models"].iterdir() if p.is_dir()) == [
        "mnist-classifier",
        "mnist-cvae",
        "mnist-vae",
    ]

    api = start(
        services["api"],
        volumes,
        {"AE_PORT": str(port), "AE_HOST": "127.0.0.1"},
        tmp_path / "api.log",
    )
    try:
        healthcheck = api_healthcheck(services["api"], port)
        deadline = time.monotonic() + 60
        while subprocess.run(healthcheck, capture_output=True).returncode != 0:
            assert api.poll() is None, (tmp_path / "api.log").read_text()
            assert time.monotonic() < deadline, "api never turned healthy"
            time.sleep(0.5)
        r = httpx.post(f"http://127.0.0.1:{port}/cvae-sample", json={"seed": 0})
        assert r.status_code == 200 and len(r.json()["groups"]) == 10
        # The trainer is one-shot and idempotent: a second `up` finds the models and exits.
        again = subprocess.run(command(services["trainer"]), cwd=ROOT, capture_output=True, text=True,
                               env=environment(services["trainer"], volumes, quick), timeout=120)  # fmt: skip
        assert again.returncode == 0 and "published" not in again.stdout
    finally:
        api.terminate()
        api.wait(30)


def api_healthcheck(api: dict, port: int) -> list[str]:
    """The compose healthcheck's command, pointed at our port."""
    test = api["healthcheck"]["test"]
    assert test[0] == "CMD"
    return [*command({"command": test[1:]})[:-1], test[-1].replace("8000", str(port))]


@pytest.mark.parametrize("service", ["trainer", "faces-trainer"])
def test_trainer_commands_are_valid_cli_calls(service):
    cmd = command(load_compose()["services"][service])
    assert cmd[1:4] == ["-m", "trainer", "--quiet"] and cmd[4] == "bootstrap"
    helped = subprocess.run([*cmd[:5], "--help"], cwd=ROOT, capture_output=True, text=True)
    assert helped.returncode == 0 and "--only" in helped.stdout
