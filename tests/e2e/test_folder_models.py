"""Your own images end to end: a folder of PNG files (one subfolder per digit, a few broken
files among them, an attribute table) trained through the real CLI and served by a real
uvicorn, every endpoint asked on the user's own models."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import run_cli, start_server, stop_server
from tests.images import decode_png, png_b64
from trainer.datasets.mnist import load_embedded_sample

pytestmark = pytest.mark.slow  # trains two models, then serves them

TRAIN = ["--epochs", "3", "--iwae-images", "10", "--latent", "8", "--backbone", "linear",
         "--hidden", "128"]  # fmt: skip


def write_digits(root: Path, per_class: int = 50) -> tuple[Path, Path]:
    """The embedded digits as <root>/digit-<d>/<n>.png, three broken files, and a table
    marking the thick digits 'Stained' (ink above the median)."""
    data = load_embedded_sample()
    rows = ["file,Stained"]
    ink = data.train_x.mean(dim=(1, 2, 3))
    median = float(ink.median())
    for digit in range(10):
        folder = root / f"digit-{digit}"
        folder.mkdir(parents=True)
        for n, row in enumerate(np.flatnonzero(data.train_y.numpy() == digit)[:per_class]):
            pixels = (data.train_x[row, 0].numpy() * 255).round().astype(np.uint8)
            Image.fromarray(pixels).save(folder / f"{n:03d}.png")
            rows.append(f"digit-{digit}/{n:03d}.png,{1 if ink[row] > median else 0}")
    (root / "digit-3" / "empty.png").write_bytes(b"")
    (root / "digit-5" / "garbage.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    good = (root / "digit-8" / "000.png").read_bytes()
    (root / "digit-8" / "cut.png").write_bytes(good[: len(good) // 2])
    table = root.parent / "stained.csv"
    table.write_text("\n".join(rows) + "\n")
    return root, table


def test_a_folder_of_images_trains_through_the_cli_and_serves_every_endpoint(tmp_path):
    root, table = write_digits(tmp_path / "digits")
    store, cache = tmp_path / "store", tmp_path / "cache"
    common = ["-m", "trainer", "--store", str(store), "--quiet", "train", "--cache-dir", str(cache)]
    run_cli(*common, "--family", "cvae", "--name", "my-digits", "--dataset", f"folder:{root}",
            *TRAIN)  # fmt: skip
    run_cli(*common, "--family", "vae", "--name", "my-stains", "--dataset",
            f"folder:{root},{table}", *TRAIN)  # fmt: skip
    manifest = json.loads((store / "my-digits" / "1" / "manifest.json").read_text())
    assert manifest["class_names"] == [f"digit-{d}" for d in range(10)]
    assert manifest["dataset"]["skipped"] == 3
    assert manifest["input"] == {"channels": 1, "height": 28, "width": 28,
                                 "value_range": [0.0, 1.0], "crop": None}  # fmt: skip

    server = start_server(store, tmp_path / "server.log", {"AE_DEFAULT_MODEL": "my-stains",
                                                              "AE_CVAE_MODEL": "my-digits"})
    digit = png_b64((load_embedded_sample().test_x[0, 0].numpy() * 255).astype(np.uint8))
    try:
        with server.client() as c:
            card = c.get("/models/my-digits").json()["details"][0]
            assert card["class_names"][7] == "digit-7"
            assert card["dataset"]["skipped"] == 3 and len(card["dataset"]["skipped_files"]) == 3
            assert card["dataset"]["train_size"] + card["dataset"]["test_size"] == 500

            r = c.post("/cvae-sample", json={"model": "my-digits", "labels": ["digit-7"],
                                             "count_per_label": 2, "seed": 1})  # fmt: skip
            assert r.status_code == 200, r.text
            assert [g["label"] for g in r.json()["groups"]] == ["digit-7"]
            bad = c.post("/cvae-sample", json={"model": "my-digits", "labels": ["seven"]})
            assert bad.status_code == 422 and "digit-7" in bad.text

            stains = c.get("/models/my-stains").json()["details"][0]
            assert stains["attribute_names"] == ["Stained"]
            assert "edit-attribute" in stains["capabilities"]
            r = c.post("/edit-attribute", json={"model": "my-stains", "images": [digit],
                                                "edits": [{"attribute": "stained",
                                                           "strength": 2.0}]})  # fmt: skip
            assert r.status_code == 200, r.text
            plain = c.post("/reconstruct", json={"model": "my-stains", "images": [digit]}).json()
            # Adding the direction of thick digits adds ink.
            assert decode_png(r.json()["images"][0]).mean() > decode_png(plain["images"][0]).mean()
            for path, body in (("/encode", {"images": [digit]}),
                               ("/decode", {"codes": [[0.0] * 8]}),
                               ("/sample", {"count": 2, "seed": 0}),
                               ("/interpolate", {"start": digit, "end": digit, "steps": 3})):  # fmt: skip
                r = c.post(path, json={"model": "my-stains", **body})
                assert r.status_code == 200, (path, r.text)
                assert r.json()["model"] == "my-stains"
    finally:
        stop_server(server)
