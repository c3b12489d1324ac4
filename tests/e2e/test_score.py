"""POST /score against the real server: calibrated outlier scores for every family that
reconstructs, obvious outliers flagged, in-distribution digits mostly not, the same answer
alone or batched, the other ways in, errors as the other routes, and the metrics."""

from __future__ import annotations

import base64
import io
import json
import math

import pytest
import torch
from PIL import Image

from model_store import LocalStore, load_model
from model_store.images import png_bytes
from service.examples import DIGIT_7, SERIOUS_FACE
from tests.e2e.test_dialects import curl
from trainer.datasets import as_float
from trainer.datasets.mnist import load_embedded_sample

FIELDS = ("score", "percentile", "outlier", "threshold", "fpr", "reconstruction_error",
          "negative_log_likelihood_nats", "likelihood_z", "error_z")  # fmt: skip


def b64(images: torch.Tensor) -> list[str]:
    return [base64.b64encode(p).decode() for p in png_bytes(images)]


@pytest.fixture(scope="module")
def test_digits() -> list[str]:
    data = load_embedded_sample()
    return b64(as_float(data.test_x[::10]))  # 100 held-out digits, 10 of each class


@pytest.mark.parametrize("model", ["mnist-vae", "mnist-cvae", "mnist-ae-linear", "faces-ae-conv"])
def test_every_family_that_reconstructs_answers_every_documented_field(client, model):
    image = SERIOUS_FACE if model.startswith("faces") else DIGIT_7
    r = client.post("/score", json={"model": model, "images": [image, image], "heatmap": True})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"] == model and body["calibration_size"] >= 50 and body["method"]
    for s in body["scores"]:
        for key in FIELDS:
            assert s[key] is not None and (isinstance(s[key], bool) or math.isfinite(s[key])), key
        assert 0 <= s["percentile"] <= 1 and s["fpr"] == 0.01
        heat = Image.open(io.BytesIO(base64.b64decode(s["heatmap"])))
        assert heat.size == ((45, 45) if model.startswith("faces") else (28, 28))
        assert (s["label"] is not None) == (model == "mnist-cvae")
        # The code term: every family with a fitted code mixture; a CVAE's codes are per class.
        for key in ("code_negative_log_density", "code_z"):
            assert (s[key] is None) == (model == "mnist-cvae"), key
        terms = [s["likelihood_z"], s["error_z"]] + ([s["code_z"]] if s["code_z"] is not None else [])
        assert s["score"] == pytest.approx(max(terms))
    assert body["scores"][0] == body["scores"][1]
    assert ("code density" in body["method"]) == (model != "mnist-cvae")


def test_obvious_outliers_are_flagged_and_held_out_digits_mostly_not(client, test_digits):
    gen = torch.Generator().manual_seed(0)
    noise = b64(torch.rand(2, 1, 28, 28, generator=gen))
    r = client.post("/score", json={"model": "mnist-vae", "images": [*noise, SERIOUS_FACE]})
    assert [s["outlier"] for s in r.json()["scores"]] == [True, True, True], r.text
    assert all(s["percentile"] == 1.0 for s in r.json()["scores"])
    r = client.post("/score", json={"model": "mnist-vae", "images": test_digits[:64]})
    rest = client.post("/score", json={"model": "mnist-vae", "images": test_digits[64:]})
    flagged = [s["outlier"] for s in r.json()["scores"] + rest.json()["scores"]]
    assert sum(flagged) <= 10, sum(flagged)  # the rate is 1%; half are calibration digits


def test_the_score_is_the_same_alone_and_batched_and_a_looser_rate_flags_more(client, test_digits):
    alone = [client.post("/score", json={"model": "mnist-vae", "images": [d]}).json()["scores"][0]
             for d in test_digits[:5]]  # fmt: skip
    batched = client.post("/score", json={"model": "mnist-vae", "images": test_digits[:5]})
    assert batched.json()["scores"] == alone
    strict = client.post("/score", json={"model": "mnist-vae", "images": test_digits[:64], "fpr": 0.01})
    loose = client.post("/score", json={"model": "mnist-vae", "images": test_digits[:64], "fpr": 0.3})
    assert loose.json()["scores"][0]["threshold"] < strict.json()["scores"][0]["threshold"]
    assert sum(s["outlier"] for s in loose.json()["scores"]) > sum(
        s["outlier"] for s in strict.json()["scores"]
    )


def test_the_calibration_is_in_the_manifest_and_the_scores_match_it(client, trained_store):
    details = client.get("/models/mnist-vae").json()["details"]
    calibration = next(d for d in details if d["version"] == 1)["calibration"]
    assert calibration["default_fpr"] == 0.01 and calibration["size"] >= 50
    assert calibration["check_size"] >= 50 and 0 <= calibration["observed_fpr"] <= 0.06
    model = load_model(LocalStore(trained_store), "mnist-vae@1")
    assert len(model.latents["calibration_scores"]) == calibration["size"]
    r = client.post("/score", json={"model": "mnist-vae", "images": [DIGIT_7]})
    assert r.json()["scores"][0]["threshold"] == pytest.approx(calibration["threshold"])


def test_files_and_raw_bodies_score_as_json_does(server, client, tmp_path):
    digit = tmp_path / "digit.png"
    digit.write_bytes(base64.b64decode(DIGIT_7))
    as_json = client.post("/score", json={"images": [DIGIT_7]}).json()
    status, _, body = curl(server.url + "/score", "-F", f"images=@{digit}")
    assert status == 200 and json.loads(body) == as_json
    status, _, raw = curl(server.url + "/score?fpr=0.01", "--data-binary", f"@{digit}",
                          "-H", "content-type: image/png")  # fmt: skip
    assert status == 200 and json.loads(raw) == as_json


def test_errors_are_the_other_routes_and_metrics_count_scored_images(client):
    assert client.post("/score", json={"model": "mnist-classifier", "images": [DIGIT_7]}
                       ).status_code == 422  # fmt: skip
    r = client.post("/score", json={"images": [DIGIT_7], "fpr": 0.9})
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert client.post("/score", json={"images": ["not base64!"]}).status_code == 415
    assert client.post("/score", json={"model": "nope", "images": [DIGIT_7]}).status_code == 404
    client.post("/score", json={"model": "mnist-vae", "images": [SERIOUS_FACE]})
    text = client.get("/metrics").text
    scored = [line for line in text.splitlines()
              if line.startswith("ae_scored_images_total{") and 'model="mnist-vae"' in line]  # fmt: skip
    outliers = [line for line in text.splitlines()
                if line.startswith("ae_outlier_images_total{") and 'model="mnist-vae"' in line]  # fmt: skip
    assert scored and float(scored[0].split()[-1]) >= 1
    assert outliers and float(outliers[0].split()[-1]) >= 1
