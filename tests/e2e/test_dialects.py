"""The other ways in, with a client we did not write (curl): file uploads, raw image bodies,
PNG answers, and a body in a dialect the service does not take."""

from __future__ import annotations

import base64
import io
import json
import subprocess

import pytest
from PIL import Image

from service.examples import DIGIT_7, SERIOUS_FACE
from tests.conftest import run_readme_section


def curl(url: str, *args: str) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of one curl call."""
    proc = subprocess.run(["curl", "-s", "-D", "-", *args, url], capture_output=True,
                          timeout=60, check=True)  # fmt: skip
    head, _, body = proc.stdout.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body


@pytest.fixture
def files(tmp_path):
    digit, face = tmp_path / "digit.png", tmp_path / "face.png"
    digit.write_bytes(base64.b64decode(DIGIT_7))
    face.write_bytes(base64.b64decode(SERIOUS_FACE))
    return digit, face


def test_a_file_upload_answers_as_the_json_body_does(server, client, files):
    digit, _ = files
    status, _, body = curl(server.url + "/reconstruct", "-F", f"images=@{digit}",
                           "-F", f"images=@{digit}", "-F", "model=mnist-vae")  # fmt: skip
    assert status == 200, body
    as_json = client.post("/reconstruct", json={"images": [DIGIT_7] * 2, "model": "mnist-vae"})
    assert json.loads(body) == as_json.json()


def test_a_raw_png_body_with_a_png_answer_carries_the_numbers_in_headers(server, client, files):
    digit, _ = files
    status, headers, body = curl(server.url + "/reconstruct?model=mnist-vae",
                                 "--data-binary", f"@{digit}", "-H", "content-type: image/png",
                                 "-H", "accept: image/png")  # fmt: skip
    assert status == 200 and headers["content-type"] == "image/png"
    assert headers["x-model"] == "mnist-vae" and headers["x-model-version"] == "1"
    as_json = client.post("/reconstruct", json={"images": [DIGIT_7], "model": "mnist-vae"}).json()
    assert float(headers["x-reconstruction-error"]) == pytest.approx(as_json["errors"][0], 1e-5)
    assert body == base64.b64decode(as_json["images"][0])


def test_several_images_answer_as_one_grid_and_codes_cannot_be_a_png(server):
    status, headers, body = curl(server.url + "/sample", "-H", "content-type: application/json",
                                 "-H", "accept: image/png", "-d", '{"count": 4, "seed": 1}')  # fmt: skip
    assert status == 200 and headers["x-image-count"] == "4" and headers["x-seed"] == "1"
    assert Image.open(io.BytesIO(body)).size == (56, 56)  # 2 x 2 digits
    status, _, body = curl(server.url + "/encode", "-H", "content-type: application/json",
                           "-H", "accept: image/png", "-d", json.dumps({"images": [DIGIT_7]}))  # fmt: skip
    assert status == 406 and "answers no image" in json.loads(body)["detail"]


def test_interpolate_and_edit_take_their_files_and_json_fields(server, files):
    digit, face = files
    status, _, body = curl(server.url + "/interpolate", "-F", f"start=@{digit}",
                           "-F", f"end=@{digit}", "-F", "steps=3")  # fmt: skip
    assert status == 200, body
    assert len(json.loads(body)["images"]) == 3
    status, _, body = curl(server.url + "/edit-attribute", "-F", f"images=@{face}",
                           "-F", "model=faces-ae-linear",
                           "-F", 'edits=[{"attribute": "Smiling", "strength": 1.0}]')  # fmt: skip
    assert status == 200, body
    assert json.loads(body)["edits"][0]["attribute"] == "Smiling"


@pytest.mark.parametrize(
    ("path", "args", "status", "says"),
    [
        pytest.param("/reconstruct", ["-H", "content-type: text/plain", "-d", "hello"], 415,
                     "multipart/form-data", id="text-plain"),
        pytest.param("/reconstruct", ["-H", "content-type: application/json", "--data-binary",
                                      "@{digit}"], 415, "is an image", id="png-as-json"),
        pytest.param("/cvae-sample", ["-H", "content-type: image/png", "--data-binary",
                                      "@{digit}"], 415, "send JSON", id="image-to-json-route"),
        pytest.param("/reconstruct", ["-F", "model=mnist-vae"], 422, "images",
                     id="form-without-files"),
    ],
)  # fmt: skip
def test_a_body_in_another_dialect_is_told_what_to_send(server, files, path, args, status, says):
    digit, _ = files
    status_got, headers, body = curl(server.url + path, *[a.format(digit=digit) for a in args])
    assert status_got == status, body
    assert headers["content-type"].startswith("application/problem+json")
    assert says in json.loads(body)["detail"]


def test_too_many_files_are_refused_before_any_is_decoded(server, files):
    digit, _ = files
    many = [arg for _ in range(65) for arg in ("-F", f"images=@{digit}")]
    status, _, body = curl(server.url + "/encode", *many)
    assert status == 400 and "multipart" in json.loads(body)["detail"]


def test_the_readme_commands_run_as_written(server, tmp_path):
    """The README's "Files and raw images" commands, curl -F and --data-binary, as written."""
    ran = run_readme_section("Files and raw images (no base64)", server, tmp_path)
    assert len(ran) == 4
    assert json.loads(ran[0][1])["model"] == "mnist-vae"  # the upload
    assert Image.open(tmp_path / "reconstruction.png").size == (28, 28)
    assert Image.open(tmp_path / "samples.png").size == (112, 112)
    assert len(json.loads(ran[3][1])["images"]) == 5


@pytest.mark.parametrize(
    ("query", "headers", "status", "says"),
    [
        pytest.param("?model=mnist-vae&fpr=2", [], 422, "query.fpr", id="a-parameter-out-of-range"),
        pytest.param("?model=mnist-vae&colour=red", [], 422, "query.colour", id="an-unknown-parameter"),
        pytest.param("?model=no-such-model", [], 404, "no model named", id="an-unknown-model"),
        pytest.param("?model=mnist-vae", ["-H", "accept: image/png"], 406, "answers no image",
                     id="a-png-answer-of-numbers"),
    ],
)  # fmt: skip
def test_a_raw_body_is_checked_by_the_routes_own_schema_and_errors(server, files, query, headers,
                                                                   status, says):  # fmt: skip
    digit, _ = files
    got, answer_headers, body = curl(server.url + "/score" + query, "--data-binary", f"@{digit}",
                                     "-H", "content-type: image/png", *headers)  # fmt: skip
    assert got == status, body
    assert answer_headers["content-type"] == "application/problem+json"
    assert says in json.loads(body)["detail"]


def test_a_raw_body_answers_as_the_json_body_does_on_every_route_that_takes_one(
    server, client, files
):
    digit, face = files
    for path, image, query in [("/encode", digit, "model=mnist-vae"),
                               ("/score", digit, "model=mnist-vae&heatmap=true"),
                               ("/edit-attribute", face,
                                'model=faces-ae-linear&edits={"Smiling":1.0}')]:  # fmt: skip
        status, _, body = curl(server.url + path + "?" + query, "--data-binary", f"@{image}",
                               "-g", "-H", "content-type: image/png")  # -g: braces as they are
        assert status == 200, (path, body)
        params = dict(p.split("=", 1) for p in query.split("&"))
        params = {k: json.loads(v) if v[:1] in "{[" or v == "true" else v for k, v in params.items()}
        as_json = client.post(path, json={"images": [base64.b64encode(image.read_bytes()).decode()],
                                          **params})  # fmt: skip
        assert json.loads(body) == as_json.json(), path
