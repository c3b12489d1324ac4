"""Run docker-compose.yml's services as plain processes, in dependency order.

No Docker engine runs on our machines: this is how tests and benchmarks prove the compose
file's commands work. Each service runs its `command` with its `environment` (`${VAR:-x}`
interpolated from ours), a temporary directory in place of each named volume, and the
published port swapped for a free loopback one.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
_VAR = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}")


def load_compose(path: Path = COMPOSE) -> dict:
    return yaml.safe_load(path.read_text())


def order(services: dict) -> list[str]:
    done: list[str] = []

    def visit(name: str) -> None:
        for dep in services[name].get("depends_on", {}):
            visit(dep)
        if name not in done:
            done.append(name)

    for name in services:
        visit(name)
    return done


def environment(service: dict, volumes: dict[str, Path], extra: dict[str, str]) -> dict[str, str]:
    env = {}
    for key, value in (service.get("environment") or {}).items():
        value = _VAR.sub(lambda m: os.environ.get(m[1], m[2] or ""), str(value))
        for spec in service.get("volumes", []):
            name, _, target = spec.partition(":")
            value = value.replace(target, str(volumes[name])) if value.startswith(target) else value
        env[key] = value
    return {**os.environ, **env, **extra}


def command(service: dict) -> list[str]:
    cmd = list(service["command"])
    return [sys.executable if cmd[0] == "python" else cmd[0], *cmd[1:]]


def start(
    service: dict, volumes: dict[str, Path], extra: dict[str, str], log: Path
) -> subprocess.Popen:
    out = open(log, "w")  # closed with the process
    return subprocess.Popen(command(service), cwd=ROOT, env=environment(service, volumes, extra),
                            stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
