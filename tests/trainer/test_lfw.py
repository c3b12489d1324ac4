"""LFW support on a fixture made here in exactly the published format."""

from __future__ import annotations

import tarfile

import numpy as np
import pytest
from PIL import Image

from trainer.datasets.lfw import ATTRIBUTE_COUNT, crop_face, load_lfw, photo_key, read_attributes
from trainer.datasets.mnist import DatasetError

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
