"""Labeled Faces in the Wild (deep-funneled) with its attribute table.

    photos:      a directory (searched recursively for *.jpg) or the lfw-deepfunneled.tgz
    attributes:  lfw_attributes.txt: a comment line, then a header line starting with '#'
                 ("#<TAB>person<TAB>imagenum<TAB>Male<TAB>..."), then one tab-separated row
                 per photo: person name, image number, 73 real-valued scores.

Photos are matched to rows by person name and image number (`Aaron_Eckhart_0001.jpg` is
person "Aaron Eckhart", image 1); photos without a row are dropped. The classic crop: the
centre 90x90 of each 250x250 photo, resized to 45x45 RGB. The test split is by person (a
stable hash of the name), so nobody appears on both sides.
"""

from __future__ import annotations

import hashlib
import io
import re
import tarfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from model_store import Crop, InputSpec
from model_store.images import prepare_image
from trainer.datasets import Dataset, DatasetError

PHOTOS_URL = "http://vis-www.cs.umass.edu/lfw/lfw-deepfunneled.tgz"
PHOTOS_MD5 = "68331da3eb755a505a502b5aacb3c201"  # as in torchvision.datasets.LFWPeople
ATTRIBUTES_URL = "http://www.cs.columbia.edu/CAVE/databases/pubfig/download/lfw_attributes.txt"
ATTRIBUTE_COUNT = 73
PHOTO_SIDE = 250  # every LFW photo is 250x250
_PHOTO = re.compile(r"(?P<person>.+)_(?P<num>\d{4})\.jpe?g", re.IGNORECASE)


def read_attributes(path: str | Path) -> tuple[list[str], dict[tuple[str, int], np.ndarray]]:
    """Attribute names and {(person, image number): scores}."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    if len(lines) < 2 or not lines[0].startswith("#") or not lines[1].startswith("#"):
        raise DatasetError(f"{path}: expected a comment line, then a '#' header line")
    header = [c.strip() for c in lines[1].lstrip("#").strip("\n").split("\t") if c.strip()]
    if header[:2] != ["person", "imagenum"]:
        raise DatasetError(f"{path}: header must start with person, imagenum; got {header[:2]}")
    names = header[2:]
    rows: dict[tuple[str, int], np.ndarray] = {}
    for number, line in enumerate(lines[2:], start=3):
        if not line.strip():
            continue
        cells = line.split("\t")
        if len(cells) != len(header):
            raise DatasetError(
                f"{path}:{number}: {len(cells)} columns where {len(header)} expected"
            )
        rows[(cells[0], int(cells[1]))] = np.array(cells[2:], dtype=np.float32)
    return names, rows


def photo_key(filename: str) -> tuple[str, int] | None:
    """`Aaron_Eckhart_0001.jpg` -> ("Aaron Eckhart", 1)."""
    match = _PHOTO.fullmatch(Path(filename).name)
    if not match:
        return None
    return match["person"].replace("_", " "), int(match["num"])


def iter_photos(source: str | Path) -> Iterator[tuple[str, bytes]]:
    src = Path(source)
    if src.is_dir():
        for path in sorted(src.rglob("*.jpg")):
            yield path.name, path.read_bytes()
    elif tarfile.is_tarfile(src):
        with tarfile.open(src) as tar:
            for member in tar:
                if member.isfile() and member.name.lower().endswith(".jpg"):
                    f = tar.extractfile(member)
                    if f is not None:
                        yield Path(member.name).name, f.read()
    else:
        raise DatasetError(f"{src}: neither a directory nor a tar archive of photos")


def face_input(crop: int = 90, size: int = 45) -> InputSpec:
    """The classic recipe: the centre `crop` x `crop` of a 250x250 photo, resized to `size` x
    `size` RGB. Recorded in the manifest: the service prepares photos the same way."""
    return InputSpec(channels=3, height=size, width=size,
                     crop=Crop.centre(crop, PHOTO_SIDE, PHOTO_SIDE))  # fmt: skip


def crop_face(data: bytes, crop: int = 90, size: int = 45) -> np.ndarray:
    """A photo's bytes -> (3, size, size) floats in [0, 1], by `face_input`'s recipe."""
    return prepare_image(Image.open(io.BytesIO(data)), face_input(crop, size)).numpy()


def _in_test(person: str, test_percent: int) -> bool:
    return int(hashlib.sha256(person.encode()).hexdigest(), 16) % 100 < test_percent


def load_lfw(
    photos: str | Path,
    attributes: str | Path,
    crop: int = 90,
    size: int = 45,
    test_percent: int = 10,
    threshold: float = 0.5,
) -> Dataset:
    names, rows = read_attributes(attributes)
    images: dict[bool, list[np.ndarray]] = {False: [], True: []}
    scores: dict[bool, list[np.ndarray]] = {False: [], True: []}
    for filename, data in iter_photos(photos):
        key = photo_key(filename)
        if key is None or key not in rows:
            continue
        side = _in_test(key[0], test_percent)
        images[side].append(crop_face(data, crop, size))
        scores[side].append(rows[key])
    if not images[False] or not images[True]:
        raise DatasetError(f"{photos}: too few photos with attributes for a train/test split")

    def stack(side: bool) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.from_numpy(np.stack(images[side])), torch.from_numpy(np.stack(scores[side]))

    (tx, ta), (vx, va) = stack(False), stack(True)
    return Dataset(
        name=f"lfw-deepfunneled[crop={crop},size={size}]",
        train_x=tx,
        train_y=torch.zeros(len(tx), dtype=torch.long),
        test_x=vx,
        test_y=torch.zeros(len(vx), dtype=torch.long),
        class_names=(),
        attribute_names=tuple(names),
        train_attrs=ta,
        test_attrs=va,
        attribute_thresholds=(threshold, -threshold),
        crop=face_input(crop, size).crop,
    )


def download_lfw(data_dir: str | Path) -> tuple[Path, Path]:
    """Opt-in download from the official addresses; the photo archive's MD5 is checked.

    The attribute table has no published checksum: its structure is checked on load and its
    contents enter the dataset fingerprint recorded in every manifest.
    """
    root = Path(data_dir)
    root.mkdir(parents=True, exist_ok=True)
    photos, attributes = root / "lfw-deepfunneled.tgz", root / "lfw_attributes.txt"
    for url, target in ((PHOTOS_URL, photos), (ATTRIBUTES_URL, attributes)):
        if not target.exists():
            partial = target.with_suffix(target.suffix + ".part")
            urllib.request.urlretrieve(url, partial)  # noqa: S310 - fixed https/http addresses
            partial.rename(target)
    digest = hashlib.md5(photos.read_bytes(), usedforsecurity=False).hexdigest()
    if digest != PHOTOS_MD5:
        photos.unlink()
        raise DatasetError(f"{photos}: MD5 {digest} is not the published {PHOTOS_MD5}; removed")
    read_attributes(attributes)
    return photos, attributes
