"""Every endpoint through a real uvicorn process, with values that mean something."""

from __future__ import annotations

import numpy as np
import torch

from autoencoders.latent import sample_mixture
from model_store import LocalStore, load_model
from service.examples import DIGIT_7
from tests.images import decode_png, png_b64, real_digits


def _digits(n=8):
    x, y = real_digits(n)
    return [png_b64(d) for d in x], x, y


def test_health_and_ready(client):
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/ready").json()
    assert ready["status"] == "ready"
    assert {"mnist-vae@1", "mnist-cvae@1"} <= set(ready["loaded"])


def test_encode_returns_a_code_per_image_with_posterior_stats(client):
    images, _, _ = _digits(3)
    body = client.post("/encode", json={"images": images}).json()
    assert (body["model"], body["version"]) == ("mnist-vae", 1)
    assert np.array(body["codes"]).shape == (3, 20)
    assert np.allclose(body["codes"], body["mu"])
    assert np.array(body["logvar"]).shape == (3, 20)


def test_reconstruction_error_of_digits_is_lower_than_that_of_noise(client):
    images, x, _ = _digits(8)
    rng = np.random.default_rng(0)
    noise = [png_b64(rng.integers(0, 256, (28, 28), dtype=np.uint8)) for _ in range(8)]
    digits = client.post("/reconstruct", json={"images": images}).json()
    noisy = client.post("/reconstruct", json={"images": noise}).json()
    assert len(digits["images"]) == 8 and len(digits["errors"]) == 8
    assert max(digits["errors"]) < min(noisy["errors"])
    recon = np.stack([decode_png(b) for b in digits["images"]])
    assert recon.shape == (8, 28, 28)
    measured = ((recon - x / 255.0) ** 2).mean(axis=(1, 2))
    assert np.allclose(measured, digits["errors"], atol=2e-3)  # the PNG rounds to 1/255


def test_decode_turns_codes_into_images(client):
    body = client.post("/decode", json={"codes": [[0.0] * 20, [1.0] * 20]}).json()
    images = [decode_png(b) for b in body["images"]]
    assert [i.shape for i in images] == [(28, 28), (28, 28)]
    assert not np.array_equal(images[0], images[1])


def test_encode_then_decode_matches_reconstruct(client):
    enc = client.post("/encode", json={"images": [DIGIT_7]}).json()
    dec = client.post("/decode", json={"codes": enc["codes"]}).json()
    rec = client.post("/reconstruct", json={"images": [DIGIT_7]}).json()
    assert np.abs(decode_png(dec["images"][0]) - decode_png(rec["images"][0])).max() <= 1 / 255


def test_sample_is_repeatable_with_a_seed(client):
    a = client.post("/sample", json={"count": 4, "seed": 3}).json()
    b = client.post("/sample", json={"count": 4, "seed": 3}).json()
    c = client.post("/sample", json={"count": 4, "seed": 4}).json()
    assert a["images"] == b["images"] and a["seed"] == 3
    assert a["images"] != c["images"]
    assert np.array(a["codes"]).shape == (4, 20)
    assert decode_png(a["images"][0]).shape == (28, 28)


def test_a_vae_samples_from_the_mixture_fitted_to_its_posterior_draws(client, trained_store):
    """mnist-vae was published with a mixture fitted to its training codes: /sample's codes
    are the ones that mixture draws with the seed (at temperature 1 and 0.5), not those of
    the prior it learned."""
    vae = load_model(LocalStore(trained_store), "mnist-vae")
    mixture = [vae.latents[f"mixture_{k}"] for k in ("weights", "means", "scale_trils")]
    for temperature in (1.0, 0.5):
        body = client.post("/sample", json={"count": 5, "seed": 11,
                                            "temperature": temperature}).json()  # fmt: skip
        gen = torch.Generator().manual_seed(11)
        want = sample_mixture(*mixture, 5, gen, temperature)
        np.testing.assert_allclose(np.array(body["codes"]), want.numpy(), atol=1e-5)
        own = vae.module.sample_codes(5, torch.Generator().manual_seed(11), temperature)
        assert not np.allclose(np.array(body["codes"]), own.numpy(), atol=1e-2)


def test_sample_without_a_seed_returns_the_one_it_drew(client):
    a = client.post("/sample", json={"count": 2}).json()
    again = client.post("/sample", json={"count": 2, "seed": a["seed"]}).json()
    assert a["images"] == again["images"]


def test_plain_autoencoder_samples_from_its_fitted_prior(client):
    body = client.post("/sample", json={"model": "mnist-ae-linear", "count": 3, "seed": 0}).json()
    assert body["model"] == "mnist-ae-linear" and len(body["images"]) == 3
    assert np.array(body["codes"]).shape == (3, 16)


def test_cvae_shared_noise_draws_one_code_as_every_requested_label(client):
    body = client.post(
        "/cvae-sample", json={"labels": [1, "5", 7], "count_per_label": 2, "seed": 9}
    ).json()
    assert body["model"] == "mnist-cvae" and body["shared_noise"] is True
    assert [(g["label"], g["index"], len(g["images"])) for g in body["groups"]] == [
        ("1", 1, 2), ("5", 5, 2), ("7", 7, 2),
    ]  # fmt: skip
    assert np.array(body["codes"]).shape == (2, 20)
    decoded = [decode_png(b) for g in body["groups"] for b in g["images"]]
    assert all(d.shape == (28, 28) for d in decoded)
    # Same code, another class: the images differ.
    assert not np.array_equal(decoded[0], decoded[2])


def test_cvae_sample_defaults_to_every_class_and_independent_noise_on_request(client):
    every = client.post("/cvae-sample", json={"seed": 1}).json()
    assert [g["label"] for g in every["groups"]] == [str(d) for d in range(10)]
    own = client.post(
        "/cvae-sample", json={"labels": [3], "count_per_label": 3, "shared_noise": False, "seed": 1}
    ).json()
    assert np.array(own["codes"]).shape == (3, 20)


def test_cvae_encode_and_decode_take_labels(client):
    enc = client.post("/encode", json={"model": "mnist-cvae", "images": [DIGIT_7], "labels": [7]})
    assert enc.status_code == 200
    dec = client.post(
        "/decode", json={"model": "mnist-cvae", "codes": enc.json()["codes"], "labels": ["7"]}
    )
    assert dec.status_code == 200 and len(dec.json()["images"]) == 1


def test_a_request_can_pin_a_version(client):
    for version in (1, "1", "production", "latest"):
        body = client.post("/sample", json={"version": version, "count": 1, "seed": 0}).json()
        assert body["version"] == 1, version


def test_models_lists_the_store_and_details_one(client):
    names = {m["name"]: m for m in client.get("/models").json()["models"]}
    assert {
        "mnist-vae",
        "mnist-cvae",
        "mnist-classifier",
        "mnist-ae-linear",
        "faces-ae-conv",
    } <= set(names)
    assert names["mnist-vae"]["aliases"] == {"production": 1}
    assert names["mnist-vae"]["loaded"] == [1]
    detail = client.get("/models/mnist-cvae").json()
    v1 = detail["details"][0]
    assert v1["family"] == "cvae" and v1["latent_size"] == 20
    assert v1["class_names"] == [str(d) for d in range(10)]
    assert "cvae-sample" in v1["capabilities"]
    assert "conditional_accuracy" in v1["metrics"]
    assert "report/samples.png" in v1["report"]
