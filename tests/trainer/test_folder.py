"""`folder:` datasets on real files: layouts, formats, bad files, the cache, the split."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from model_store import InputSpec
from model_store.images import prepare_image
from trainer.datasets import DatasetError
from trainer.datasets.catalog import load
from trainer.settings import DataSettings


def digit_tree(root: Path, per_class: int = 12, classes: int = 3, fmt: str = "PNG") -> Path:
    """Real digits written as <root>/<class>/<n>.<ext>, one subfolder per digit."""
    from trainer.datasets.mnist import load_embedded_sample

    data = load_embedded_sample()
    for digit in range(classes):
        folder = root / f"digit-{digit}"
        folder.mkdir(parents=True)
        rows = torch.nonzero(data.train_y == digit).flatten()[:per_class]
        for n, row in enumerate(rows):
            pixels = (data.train_x[row, 0].numpy() * 255).round().astype(np.uint8)
            Image.fromarray(pixels).save(folder / f"{n}.{fmt.lower()}", format=fmt)
    return root


def settings(tmp_path: Path, spec: str, **kw) -> DataSettings:
    return DataSettings(dataset=spec, cache_dir=str(tmp_path / "cache"), **kw)


def test_class_subfolders_become_sorted_class_names_with_a_stratified_split(tmp_path):
    root = digit_tree(tmp_path / "digits", per_class=20)
    data = load(settings(tmp_path, f"folder:{root}"), seed=3, progress=False)
    assert data.class_names == ("digit-0", "digit-1", "digit-2")
    assert data.input_shape == (1, 28, 28)  # every image grey and 28x28: kept
    assert len(data.train_x) + len(data.test_x) == 60
    assert torch.bincount(data.test_y).tolist() == [2, 2, 2]  # 10% of each class
    assert data.train_x.dtype == torch.uint8 and data.test_x.dtype == torch.float32
    info = data.info()
    assert info.test_fraction == 0.1 and info.skipped == 0 and len(info.fingerprint) == 64


def test_pixels_are_what_serving_prepares_from_the_same_file(tmp_path):
    root = tmp_path / "photos"
    root.mkdir()
    rng = np.random.default_rng(0)
    for n in range(12):  # colour, mixed sizes: RGB at 64x64 by default
        size = (40 + 10 * (n % 3), 30 + 7 * n)
        Image.fromarray(rng.integers(0, 256, (*size[::-1], 3), dtype=np.uint8)).save(
            root / f"{n}.jpg", quality=90)  # fmt: skip
    data = load(settings(tmp_path, f"folder:{root}", test_fraction=0.25), progress=False)
    assert data.input_shape == (3, 64, 64) and data.class_names == ()
    spec = InputSpec(channels=3, height=64, width=64)
    every = torch.cat([data.train_x.float() / 255, data.test_x])
    files = sorted(root.iterdir())
    served = torch.stack([prepare_image(Image.open(f), spec) for f in files])
    # Each cached image is one of the files exactly as the service would prepare it.
    for image in every:
        assert (served - image).abs().amax(dim=(1, 2, 3)).min() < 1e-6


def test_every_format_and_mode_loads_and_flags_override_the_recipe(tmp_path):
    root = tmp_path / "mixed"
    root.mkdir()
    grey = np.linspace(0, 255, 32 * 32, dtype=np.uint8).reshape(32, 32)
    Image.fromarray(grey).save(root / "a.png")
    Image.fromarray(grey).save(root / "b.jpeg")
    Image.fromarray(grey).save(root / "c.webp")
    Image.fromarray(grey).save(root / "d.bmp")
    frames = [Image.fromarray(grey), Image.fromarray(255 - grey)]
    frames[0].save(root / "e.gif", save_all=True, append_images=frames[1:])
    Image.fromarray(grey).convert("1").save(root / "f.png")
    Image.fromarray(grey).convert("P").save(root / "g.png")
    data = load(settings(tmp_path, f"folder:{root}", image_size=(16, 20), channels=3,
                         crop="0,0,16,16@32,32", test_fraction=0.3), progress=False)  # fmt: skip
    assert data.input_shape == (3, 16, 20) and len(data.train_x) + len(data.test_x) == 7
    assert data.crop is not None and data.crop.box == (0, 0, 16, 16)


def test_bad_files_are_skipped_counted_and_named_or_refused_past_the_bound(tmp_path):
    root = digit_tree(tmp_path / "digits", per_class=40)
    good = (root / "digit-0" / "0.png").read_bytes()
    (root / "digit-1" / "truncated.png").write_bytes(good[: len(good) // 2])
    (root / "digit-1" / "text.png").write_text("not an image")
    bomb = io.BytesIO()
    Image.new("L", (3000, 3000)).save(bomb, format="PNG")
    (root / "digit-2" / "bomb.png").write_bytes(bomb.getvalue())
    (tmp_path / "outside.png").write_bytes(good)
    os.symlink(tmp_path / "outside.png", root / "digit-2" / "link.png")
    (root / "digit-0" / "notes.txt").write_text("ignored: not an image by name")
    with pytest.raises(DatasetError, match=r"4 of 124 image files are unusable.*--max-bad"):
        load(settings(tmp_path, f"folder:{root}"), progress=False)
    data = load(settings(tmp_path, f"folder:{root}", max_bad_fraction=0.05), progress=False)
    assert len(data.train_x) + len(data.test_x) == 120
    reasons = {s.split(": ", 1)[0]: s.split(": ", 1)[1] for s in data.skipped}
    assert reasons.keys() == {"digit-1/truncated.png", "digit-1/text.png", "digit-2/bomb.png",
                              "digit-2/link.png"}  # fmt: skip
    assert reasons["digit-1/truncated.png"].startswith("cannot be decoded")
    assert reasons["digit-1/text.png"].startswith("not an image")
    assert reasons["digit-2/bomb.png"] == "image is 3000x3000 pixels; the limit is 4000000 pixels"
    assert reasons["digit-2/link.png"] == "a symlink that leaves the folder"
    assert data.info().skipped == 4


@pytest.mark.parametrize(
    ("make", "message"),
    [
        pytest.param(lambda r: r.mkdir(), "no usable images", id="empty"),
        pytest.param(
            lambda r: (r / "a").mkdir(parents=True)
            or (r / "b").mkdir()
            or Image.new("L", (8, 8)).save(r / "a" / "x.png"),
            "class folders with no files: b",
            id="empty-class",
        ),
        pytest.param(lambda r: None, "no such directory", id="missing"),
    ],
)
def test_a_folder_with_nothing_to_learn_is_refused_before_training(tmp_path, make, message):
    root = tmp_path / "images"
    make(root)
    with pytest.raises(DatasetError, match=message):
        load(settings(tmp_path, f"folder:{root}"), progress=False)


def test_the_cache_is_reused_and_a_changed_file_builds_a_new_one(tmp_path):
    root = digit_tree(tmp_path / "digits")
    first = load(settings(tmp_path, f"folder:{root}"), progress=False)
    caches = {p.name for p in (tmp_path / "cache").iterdir()}
    again = load(settings(tmp_path, f"folder:{root}"), progress=False)
    assert {p.name for p in (tmp_path / "cache").iterdir()} == caches
    assert torch.equal(first.train_x, again.train_x) and first.fingerprint() == again.fingerprint()
    Image.new("L", (28, 28), 255).save(root / "digit-0" / "0.png")
    changed = load(settings(tmp_path, f"folder:{root}"), progress=False)
    assert changed.fingerprint() != first.fingerprint()
    assert len({p.name for p in (tmp_path / "cache").iterdir()}) == 2
    index = json.loads(next((tmp_path / "cache").iterdir()).joinpath("index.json").read_text())
    assert len(index["files"]) == 36


def test_an_attribute_table_gives_named_attributes_and_leaves_out_images_without_a_row(tmp_path):
    root = digit_tree(tmp_path / "digits", per_class=10)
    table = tmp_path / "attributes.csv"
    rows = ["file,Stained,Round"]
    for i, path in enumerate(sorted(root.rglob("*.png"))[:25]):
        rows.append(f"{path.relative_to(root).as_posix()},{i % 2},{-1 if i % 3 else 2.5}")
    table.write_text("\n".join(rows) + "\n")
    data = load(settings(tmp_path, f"folder:{root},{table}"), progress=False)
    assert data.attribute_names == ("Stained", "Round")
    assert len(data.train_x) + len(data.test_x) == 25
    present = data.present(torch.cat([data.train_attrs, data.test_attrs]))
    assert present[:, 0].sum() == 12  # > 0 has it
    table.write_text("file,Stained\nnope.png,abc\n")
    with pytest.raises(DatasetError, match="must be numbers"):
        load(settings(tmp_path, f"folder:{root},{table}"), progress=False)
