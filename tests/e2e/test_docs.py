"""The docs page works: every documented example succeeds, and Swagger UI renders offline."""

from __future__ import annotations

import subprocess
import tempfile

import pytest

from tests.conftest import need_programs


def _filled(path: str, op: dict) -> str:
    """The path with each parameter replaced by its documented example, as "Try it out" does."""
    for param in op.get("parameters", []):
        if param["in"] == "path":
            example = param.get("example", (param.get("schema", {}).get("examples") or [None])[0])
            assert example is not None, f"{path}: parameter {param['name']} has no example"
            path = path.replace("{" + param["name"] + "}", str(example))
    return path


def _examples(openapi: dict):
    for path, ops in openapi["paths"].items():
        for method, op in ops.items():
            content = op.get("requestBody", {}).get("content", {}).get("application/json", {})
            for name, example in content.get("examples", {}).items():
                yield pytest.param(method, _filled(path, op), example["value"], id=f"{path}:{name}")


def test_every_operation_has_a_summary_and_every_body_an_example(client):
    openapi = client.get("/openapi.json").json()
    for path, ops in openapi["paths"].items():
        for method, op in ops.items():
            assert op.get("summary"), f"{method} {path}"
            if "requestBody" in op:
                assert op["requestBody"]["content"]["application/json"].get("examples"), path


def test_every_documented_example_succeeds_as_shipped(client):
    openapi = client.get("/openapi.json").json()
    cases = list(_examples(openapi))
    assert len(cases) >= 10
    for case in cases:
        method, path, body = case.values
        r = client.request(method.upper(), path, json=body)
        assert r.status_code == 200, f"{case.id}: {r.text[:300]}"


def test_error_responses_are_documented_as_problem_json(client):
    openapi = client.get("/openapi.json").json()
    responses = openapi["paths"]["/decode"]["post"]["responses"]
    assert {"200", "404", "413", "415", "422", "503"} <= set(responses)
    assert "application/problem+json" in responses["422"]["content"]


@pytest.mark.browser
@pytest.mark.slow
def test_docs_page_renders_in_chromium_with_no_internet(server):
    chromium = need_programs("chromium")["chromium"]
    with tempfile.TemporaryDirectory() as profile:
        proc = subprocess.run(
            [
                chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", f"--user-data-dir={profile}", "--virtual-time-budget=15000",
                "--dump-dom", f"{server.url}/docs",
            ],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    dom = proc.stdout
    assert "swagger-ui" in dom, proc.stderr[-2000:]
    for path in ("/encode", "/decode", "/reconstruct", "/sample", "/cvae-sample", "/models"):
        assert f'data-path="{path}"' in dom, f"{path} not rendered"
