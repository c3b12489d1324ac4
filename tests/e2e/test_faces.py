"""/edit-attribute and /interpolate through a real server (tiny face models)."""

from __future__ import annotations

import numpy as np

from service.examples import DIGIT_7, SERIOUS_FACE
from tests.images import decode_png

SMILE = {"attribute": "Smiling", "strength": 1.0}


def test_models_list_their_attributes_and_edit_capability(client):
    v1 = client.get("/models/faces-ae-conv").json()["details"][0]
    assert v1["attribute_names"] == ["Male", "Smiling", "Mouth Open", "Eyeglasses"]
    assert {"edit-attribute", "interpolate", "sample"} <= set(v1["capabilities"])
    assert "edit.Smiling.corrected.success" in v1["metrics"]


def test_edit_returns_one_face_per_image_and_names_the_edit(client):
    r = client.post(
        "/edit-attribute", json={"images": [SERIOUS_FACE] * 2, "edits": [{"attribute": "smiling"}]}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"] == "faces-ae-linear" and body["direction"] == "corrected"
    assert body["edits"] == [SMILE]  # canonical name, default strength
    faces = [decode_png(b) for b in body["images"]]
    assert all(f.shape == (45, 45, 3) for f in faces)
    assert np.array(body["codes"]).shape == (2, 32)


def test_strength_zero_is_the_plain_reconstruction(client):
    edit = client.post(
        "/edit-attribute",
        json={"images": [SERIOUS_FACE], "edits": [{"attribute": "Smiling", "strength": 0}]},
    )
    rec = client.post("/reconstruct", json={"model": "faces-ae-linear", "images": [SERIOUS_FACE]})
    assert edit.json()["images"] == rec.json()["images"]


def test_positive_and_negative_strengths_move_the_code_in_opposite_directions(client):
    codes = {}
    for s in (-1.0, 0.0, 1.0):
        body = {
            "images": [SERIOUS_FACE],
            "edits": [{"attribute": "Smiling", "strength": s}],
            "direction": "plain",
        }
        codes[s] = np.array(client.post("/edit-attribute", json=body).json()["codes"][0])
    assert np.allclose(codes[1.0] - codes[0.0], codes[0.0] - codes[-1.0], atol=1e-4)
    assert np.abs(codes[1.0] - codes[0.0]).sum() > 0


def test_unknown_attribute_is_404_listing_those_that_exist(client):
    r = client.post(
        "/edit-attribute", json={"images": [SERIOUS_FACE], "edits": [{"attribute": "Hat"}]}
    )
    assert r.status_code == 404
    assert r.json()["available"] == ["Male", "Smiling", "Mouth Open", "Eyeglasses"]
    assert r.json()["errors"][0]["loc"] == ["body", "edits", 0, "attribute"]


def test_a_model_without_directions_is_422_saying_so(client):
    r = client.post(
        "/edit-attribute", json={"model": "mnist-vae", "images": [DIGIT_7], "edits": [SMILE]}
    )
    assert r.status_code == 422
    assert "no attribute directions" in r.json()["detail"]


def test_interpolate_walks_from_one_image_to_the_other(client):
    body = client.post(
        "/interpolate",
        json={"model": "faces-ae-linear", "start": SERIOUS_FACE, "end": SERIOUS_FACE, "steps": 5},
    ).json()
    assert len(body["images"]) == 5 and np.array(body["codes"]).shape == (5, 32)
    codes = np.array(body["codes"])
    assert np.allclose(codes[0], codes[-1], atol=1e-5)
    digits = client.post("/interpolate", json={"start": DIGIT_7, "end": DIGIT_7, "steps": 2}).json()
    assert digits["model"] == "mnist-vae" and len(digits["images"]) == 2
    # A bad end is reported at its own field, not as the second of some "images".
    bad = client.post("/interpolate", json={"start": DIGIT_7, "end": "bm90IGFuIGltYWdl"})
    assert bad.status_code == 415, bad.text
    assert [e["loc"] for e in bad.json()["errors"]] == [["body", "end"]]


def test_plain_face_autoencoder_samples_new_faces(client):
    body = client.post("/sample", json={"model": "faces-ae-conv", "count": 3, "seed": 1}).json()
    assert [decode_png(b).shape for b in body["images"]] == [(45, 45, 3)] * 3
