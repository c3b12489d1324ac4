"""The Open Inference Protocol (KServe V2), called with Triton's own HTTP client
(tritonclient), which we did not write, against the real server: metadata, readiness, the
repository index, inference with JSON and binary tensors, and its errors. Answers must be
the JSON routes' answers."""

from __future__ import annotations

import base64
import io
import json
import struct

import httpx
import numpy as np
import pytest
import tritonclient.http as triton
from PIL import Image
from tritonclient.utils import InferenceServerException

from service.examples import DIGIT_7
from tests.conftest import run_readme_section

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def v2(server):
    client = triton.InferenceServerClient(server.url.removeprefix("http://"))
    yield client
    client.close()


def digit() -> np.ndarray:
    img = Image.open(io.BytesIO(base64.b64decode(DIGIT_7))).convert("L")
    return (np.asarray(img, dtype=np.float32) / 255)[None, None]


def tensor(name: str, value: np.ndarray, datatype: str, binary: bool = True):
    t = triton.InferInput(name, list(value.shape), datatype)
    t.set_data_from_numpy(value, binary_data=binary)
    return t


def test_health_metadata_and_the_repository_index(v2):
    assert v2.is_server_live() and v2.is_server_ready()
    assert "binary_tensor_data" in v2.get_server_metadata()["extensions"]
    meta = v2.get_model_metadata("mnist-vae.encode")
    assert meta["inputs"] == [{"name": "images", "datatype": "FP32", "shape": [-1, 1, 28, 28]}]
    assert [o["name"] for o in meta["outputs"]] == ["codes", "mu", "logvar"]
    cvae = v2.get_model_metadata("mnist-cvae.decode", "1")
    assert [i["name"] for i in cvae["inputs"]] == ["codes", "labels"]
    assert cvae["versions"] == ["1"]
    names = {(m["name"], m["version"]) for m in v2.get_model_repository_index()}
    assert ("faces-ae-conv.reconstruct-png", "1") in names
    assert not any(n.startswith("mnist-classifier.") for n, _ in names)
    assert v2.is_model_ready("mnist-ae-linear.decode")


@pytest.mark.parametrize("binary", [True, False])
def test_encode_answers_the_codes_of_the_json_route(v2, client, binary):
    x = np.repeat(digit(), 3, axis=0)
    result = v2.infer("mnist-vae.encode", [tensor("images", x, "FP32", binary)],
                      outputs=[triton.InferRequestedOutput("codes", binary_data=binary),
                               triton.InferRequestedOutput("logvar", binary_data=binary)])  # fmt: skip
    response = result.get_response()
    assert response["model_name"] == "mnist-vae.encode" and response["model_version"] == "1"
    assert [o["name"] for o in response["outputs"]] == ["codes", "logvar"]
    as_json = client.post("/encode", json={"model": "mnist-vae", "images": [DIGIT_7] * 3}).json()
    np.testing.assert_allclose(result.as_numpy("codes"), as_json["codes"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(result.as_numpy("logvar"), as_json["logvar"], rtol=1e-4, atol=1e-5)


def test_decode_with_labels_and_reconstruct_from_png_files(v2, client):
    codes = np.random.default_rng(0).normal(size=(4, 64)).astype(np.float32)
    labels = np.array([0, 3, 7, 9], dtype=np.int64)
    meta = v2.get_model_metadata("mnist-cvae.decode")
    codes = codes[:, : meta["inputs"][0]["shape"][1]]
    result = v2.infer("mnist-cvae.decode", [tensor("codes", codes, "FP32"),
                                            tensor("labels", labels, "INT64")])  # fmt: skip
    images = result.as_numpy("images")
    assert images.shape == (4, 1, 28, 28) and 0 <= images.min() and images.max() <= 1
    as_json = client.post("/decode", json={"model": "mnist-cvae", "codes": codes.tolist(),
                                           "labels": labels.tolist()}).json()  # fmt: skip
    png = np.asarray(Image.open(io.BytesIO(base64.b64decode(as_json["images"][2]))))
    assert np.abs(np.round(images[2, 0] * 255) - png).max() <= 1

    files = np.array([base64.b64decode(DIGIT_7)] * 2, dtype=np.object_)
    result = v2.infer("mnist-vae.reconstruct-png", [tensor("images", files, "BYTES")])
    as_json = client.post("/reconstruct", json={"model": "mnist-vae", "images": [DIGIT_7]}).json()
    assert result.as_numpy("images")[0] == base64.b64decode(as_json["images"][0])
    assert result.as_numpy("errors")[1] == pytest.approx(as_json["errors"][0], rel=1e-4)


def _error(call) -> tuple[str, str]:
    with pytest.raises(InferenceServerException) as info:
        call()
    return info.value.status(), info.value.message()


def test_errors_come_back_in_the_protocol_shape(v2):
    x = digit()
    status, message = _error(lambda: v2.infer("mnist-vae.encode",
                                              [tensor("images", x[:, :, :14], "FP32")]))  # fmt: skip
    assert status == "400" and "shape [1, 1, 14, 28]" in message and "[N, 1, 28, 28]" in message
    status, message = _error(lambda: v2.infer("mnist-vae.encode",
                                              [tensor("images", x * 255, "FP32")]))  # fmt: skip
    assert status == "400" and "divide 0-255 pixels by 255" in message
    status, message = _error(lambda: v2.infer("mnist-vae.encode",
                                              [tensor("images", x.astype(np.float64), "FP64")]))  # fmt: skip
    assert status == "400" and "FP32" in message
    status, message = _error(lambda: v2.infer("mnist-vae", [tensor("images", x, "FP32")]))
    assert status == "404" and "mnist-vae.encode" in message
    status, message = _error(lambda: v2.get_model_metadata("no-such-model.encode"))
    assert status == "404" and "no model named 'no-such-model'" in message
    status, message = _error(lambda: v2.get_model_metadata("mnist-classifier.encode"))
    assert status == "404" and "classifier" in message
    status, message = _error(lambda: v2.infer("mnist-cvae.encode", [tensor("images", x, "FP32")]))
    assert status == "400" and "missing input 'labels'" in message
    labels = np.array([12], dtype=np.int64)
    status, message = _error(lambda: v2.infer("mnist-cvae.encode", [
        tensor("images", x, "FP32"), tensor("labels", labels, "INT64")]))  # fmt: skip
    assert status == "400" and "unknown label 12" in message


def _raw(server, header: dict, blobs: bytes = b"", length: int | None = None) -> httpx.Response:
    text = json.dumps(header).encode()
    size = len(text) if length is None else length
    return httpx.post(f"{server.url}/v2/models/mnist-vae.encode/infer", content=text + blobs,
                      headers={"inference-header-content-length": str(size)}, timeout=30)  # fmt: skip


def test_binary_framing_that_does_not_add_up_is_refused(server):
    pixels = digit().tobytes()
    one = {"name": "images", "shape": [1, 1, 28, 28], "datatype": "FP32"}
    cases = {
        "runs past": ({"inputs": [{**one, "parameters": {"binary_data_size": 10**9}}]}, pixels),
        "binary_data_size is 8;": ({"inputs": [{**one, "parameters": {"binary_data_size": 8}}]}, pixels[:8]),
        "bytes after": (
            {"inputs": [{**one, "parameters": {"binary_data_size": len(pixels)}}]},
            pixels + b"xx",
        ),
        "neither data": ({"inputs": [one]}, b""),
        "between 1 and 64": ({"inputs": [{**one, "shape": [0, 1, 28, 28], "data": []}]}, b""),
        "unknown output": (
            {"inputs": [{**one, "data": [0.0] * 784}], "outputs": [{"name": "secrets"}]},
            b"",
        ),
        "NaN": (
            {"inputs": [{**one, "parameters": {"binary_data_size": len(pixels)}}]},
            struct.pack("<f", float("nan")) + pixels[4:],
        ),
    }
    for expected, (header, blobs) in cases.items():
        r = _raw(server, header, blobs)
        assert r.status_code == 400, (expected, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        assert expected in r.json()["error"] and r.json()["error"] == r.json()["detail"]
    r = _raw(server, {"inputs": []}, length=10**6)
    assert r.status_code == 400 and "Inference-Header-Content-Length" in r.json()["error"]
    r = httpx.post(f"{server.url}/v2/models/mnist-vae.encode/infer", content=b"\x89PNG",
                   timeout=30)  # fmt: skip
    assert r.status_code == 400 and "JSON header" in r.json()["error"]
    ok = _raw(server, {"inputs": [{**one, "data": digit().ravel().tolist()}]})
    assert ok.status_code == 200 and ok.json()["outputs"][0]["shape"][0] == 1



def test_the_readme_commands_run_as_written(server, tmp_path):
    """The README's V2 section, curl and the tritonclient snippet, against the real server."""
    ran = run_readme_section("Open Inference Protocol (KServe V2)", server, tmp_path)
    *shell, (_, printed) = ran
    assert len(shell) == 4 and all(json.loads(stdout) for _, stdout in shell)
    assert printed.startswith("1 [")  # the version, then the reconstruction error
