"""The README's "Calling the API" runs as written: every curl command and the Python
snippet, against a real server, with the example inputs the repository ships."""

from __future__ import annotations

import json

from PIL import Image

from tests.conftest import run_readme_section


def test_every_curl_command_answers_200_with_json_or_text(server, tmp_path):
    ran = run_readme_section("curl", server, tmp_path)
    by_path = {command.split()[2].split("/", 1)[1]: stdout for command, stdout in ran}
    assert len(ran) == 11
    assert len(json.loads(by_path["encode"])["codes"][0]) == 20
    assert json.loads(by_path["score"])["scores"][0]["outlier"] in (True, False)
    assert len(json.loads(by_path["cvae-sample"])["groups"]) == 2
    assert json.loads(by_path["edit-attribute"])["edits"][0]["attribute"] == "Smiling"
    assert len(json.loads(by_path["interpolate"])["images"]) == 4
    assert "ae_requests_total" in by_path["health;"]  # health; ready; metrics on one line


def test_the_python_snippet_runs_as_written(server, tmp_path):
    ((_, printed),) = run_readme_section("Python", server, tmp_path)
    lines = printed.splitlines()
    assert lines[0].startswith("mnist-vae 1 [")  # model, version, errors
    assert lines[1].split()[0] in ("True", "False")  # the verdict
    assert "mnist-vae" in lines[-1]  # NotFound lists the models that exist
    assert Image.open(tmp_path / "reconstruction.png").size == (28, 28)
    assert Image.open(tmp_path / "seven.png").size == (28, 28)
