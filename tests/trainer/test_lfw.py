"""LFW support on a fixture made here in exactly the published format."""

from __future__ import annotations

import base64
import tarfile

import httpx
import numpy as np
import pytest
import torch
from PIL import Image

from model_store import Crop, LocalStore, load_model
from service.codec import decode_image
from tests.conftest import run_cli, start_server, stop_server
from trainer.datasets import DatasetError
from trainer.datasets.lfw import ATTRIBUTE_COUNT, crop_face, load_lfw, photo_key, read_attributes

NAMES = ["Male", "Asian", "White"] + [f"Attr {i}" for i in range(ATTRIBUTE_COUNT - 4)] + ["Smiling"]
PEOPLE = ["Aaron Eckhart", "Zoe Ball", "Jean-Claude Van Damme", "Ana Guevara", "Li Peng", "Mo Ji"]


def _photo(path, grey: int) -> None:
    """A 250x250 photo whose centre 90x90 is one grey level and whose border is another."""
    arr = np.full((250, 250, 3), 255 - grey, np.uint8)
    arr[80:170, 80:170] = grey
    Image.fromarray(arr).save(path, format="JPEG", quality=95)


@pytest.fixture
def lfw(tmp_path):
    """Photos of six people (two photos each), one photo without an attribute row and one row
    without a photo. Each photo's centre grey level is stored as its Male score."""
    root = tmp_path / "lfw-deepfunneled"
    rows = []
    for p, person in enumerate(PEOPLE):
        folder = root / person.replace(" ", "_")
        folder.mkdir(parents=True)
        for num in (1, 2):
            grey = 20 + 40 * p + 10 * num
            _photo(folder / f"{person.replace(' ', '_')}_{num:04d}.jpg", grey)
            scores = [grey / 100.0] + [0.0] * (ATTRIBUTE_COUNT - 2) + [1.5 if num == 1 else -1.5]
            rows.append("\t".join([person, str(num), *(f"{s:.5f}" for s in scores)]))
    _photo(root / "Aaron_Eckhart" / "Aaron_Eckhart_0003.jpg", 250)  # no attributes: dropped
    rows.append("\t".join(["Nobody Here", "1", *["0.0"] * ATTRIBUTE_COUNT]))  # no photo
    attributes = tmp_path / "lfw_attributes.txt"
    attributes.write_text(
        "# Attribute values for LFW, computed by the classifiers of Kumar et al.\n"
        + "#\t" + "\t".join(["person", "imagenum", *NAMES]) + "\n"
        + "\n".join(rows) + "\n"
    )  # fmt: skip
    return root, attributes


def test_attribute_file_header_quirk_is_read(lfw):
    _, attributes = lfw
    names, rows = read_attributes(attributes)
    assert names == NAMES and len(names) == ATTRIBUTE_COUNT
    assert rows[("Aaron Eckhart", 1)][-1] == pytest.approx(1.5)


@pytest.mark.parametrize(
    ("filename", "key"),
    [
        ("Aaron_Eckhart_0001.jpg", ("Aaron Eckhart", 1)),
        ("Jean-Claude_Van_Damme_0012.jpg", ("Jean-Claude Van Damme", 12)),
        ("README.txt", None),
    ],
)
def test_photo_names_give_person_and_image_number(filename, key):
    assert photo_key(filename) == key


@pytest.mark.parametrize("packed", [False, True], ids=["directory", "tgz"])
def test_photos_are_matched_to_their_own_attributes(lfw, tmp_path, packed):
    root, attributes = lfw
    source = root
    if packed:
        source = tmp_path / "lfw-deepfunneled.tgz"
        with tarfile.open(source, "w:gz") as tar:
            tar.add(root, arcname="lfw-deepfunneled")
    data = load_lfw(source, attributes, test_percent=50)
    assert len(data.train_x) + len(data.test_x) == 12  # the photo without a row is dropped
    assert data.train_x.shape[1:] == (3, 45, 45)
    assert data.attribute_names == tuple(NAMES)
    x = np.concatenate([data.train_x.numpy(), data.test_x.numpy()])
    scores = np.concatenate([data.train_attrs.numpy(), data.test_attrs.numpy()])
    # The crop is the photo's centre: its grey level is the Male score we wrote for it.
    assert np.allclose(x.mean(axis=(1, 2, 3)) * 255 / 100, scores[:, 0], atol=0.03)
    assert data.present(data.train_attrs)[:, -1].tolist().count(1.0) == len(data.train_x) // 2


def test_split_is_by_person(lfw):
    root, attributes = lfw
    data = load_lfw(root, attributes, test_percent=50)
    train_levels = set(np.round(data.train_attrs[:, 0].numpy(), 2))
    test_levels = set(np.round(data.test_attrs[:, 0].numpy(), 2))
    people = lambda levels: {round((lvl * 100 - 20 - 10) // 40) for lvl in levels}  # noqa: E731
    assert not people(train_levels) & people(test_levels)


def test_crop_is_the_centre_resized(tmp_path):
    path = tmp_path / "x.jpg"
    _photo(path, 200)
    face = crop_face(path.read_bytes())
    assert face.shape == (3, 45, 45)
    assert abs(face.mean() * 255 - 200) < 3


def test_a_table_without_the_header_quirk_is_refused(tmp_path):
    bad = tmp_path / "lfw_attributes.txt"
    bad.write_text("person\timagenum\tMale\nA\t1\t0.1\n")
    with pytest.raises(DatasetError, match="header"):
        read_attributes(bad)


@pytest.mark.slow  # trains through the CLI and starts a server
def test_a_photo_sent_to_an_lfw_model_is_the_tensor_it_was_trained_on(lfw, tmp_path):
    """Training/serving skew: the trainer crops the centre of each photo; the service must
    do the same to a photo it is sent, because the manifest says so."""
    root, attributes = lfw
    rows = []
    for i in range(40):  # enough people for the CLI's 10% test split by person
        person = f"Extra Person{chr(65 + i % 26)}{i}"
        folder = root / person.replace(" ", "_")
        folder.mkdir()
        _photo(folder / f"{person.replace(' ', '_')}_0001.jpg", 5 * i)
        scores = [i / 40] + [0.0] * (ATTRIBUTE_COUNT - 2) + [1.5 if i % 2 else -1.5]
        rows.append("\t".join([person, "1", *(f"{x:.5f}" for x in scores)]))
    attributes.write_text(attributes.read_text() + "\n".join(rows) + "\n")
    store = tmp_path / "store"
    run_cli("-m", "trainer", "--store", str(store), "--quiet", "train", "--family", "linear-ae",
            "--name", "lfw-ae", "--dataset", f"lfw:{root},{attributes}", "--latent", "8",
            "--hidden", "32", "--epochs", "1")  # fmt: skip
    model = load_model(LocalStore(store), "lfw-ae")
    assert model.manifest.input.crop == Crop(box=(80, 80, 170, 170), reference=(250, 250))
    photo = (root / "Zoe_Ball" / "Zoe_Ball_0001.jpg").read_bytes()
    trained_on = torch.from_numpy(crop_face(photo))  # what load_lfw put in the dataset
    served = decode_image(photo, model.manifest.input, 4_000_000, ("body", "images", 0))
    squashed = decode_image(photo, model.manifest.input.model_copy(update={"crop": None}),
                            4_000_000, ("body", "images", 0))  # the old serving path  # fmt: skip
    print(f"\nLFW photo: served vs trained-on max difference {float((served - trained_on).abs().max()):.4f}"
          f" (without the crop: {float((squashed - trained_on).abs().max()):.4f})")  # fmt: skip
    assert torch.equal(served, trained_on)
    assert float((squashed - trained_on).abs().max()) > 0.3  # the skew this test guards
    server = start_server(store, tmp_path / "log", {"AE_DEFAULT_MODEL": "lfw-ae",
                          "AE_CVAE_MODEL": "lfw-ae", "AE_WORKERS": "1"})  # fmt: skip
    try:
        r = httpx.post(server.url + "/encode",
                       json={"images": [base64.b64encode(photo).decode()]}, timeout=30)  # fmt: skip
    finally:
        stop_server(server)
    assert r.status_code == 200, r.text
    with torch.inference_mode():
        expected = model.module.encode(trained_on.unsqueeze(0)).z
    assert torch.allclose(torch.tensor(r.json()["codes"]), expected, atol=1e-5)
