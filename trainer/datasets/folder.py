"""Your own images: `folder:<dir>` and `folder:<dir>,<attributes.csv>`.

Layouts:
- flat: every image under `<dir>`, unlabelled;
- one subfolder per class (torchvision's ImageFolder): `<dir>/<class>/<file>`, classes in
  sorted order, the folder names becoming the CVAE's and classifier's class names;
- an attribute table: a CSV whose first column is an image's path relative to `<dir>` and
  whose other columns are named numeric attributes (`> 0`: the image has it, as LFW's scores);
  images without a row are left out.

Files are found and checked in one pass before any training (folder_scan: unreadable,
truncated, not an image, over the pixel limit, symlinks leaving the folder), then decoded
once, by the manifest's recipe and the very function the service prepares requests with,
into a memory-mapped cache (image_cache) that training reads instead of the files.
"""

from __future__ import annotations

import csv
import hashlib
import logging
from pathlib import Path

import numpy as np
import torch

from model_store import Crop, InputSpec
from trainer.datasets import Dataset, DatasetError
from trainer.datasets.folder_scan import Scan, scan_folder
from trainer.datasets.image_cache import cache_key, load_or_build
from trainer.settings import DataSettings

log = logging.getLogger("trainer")
DEFAULT_SIDE = 64  # the size mixed or large images are resized to unless --image-size says
SHOWN = 5  # skipped files named in messages; the manifest keeps up to 20


def parse_crop(text: str) -> Crop:
    """`LEFT,TOP,RIGHT,BOTTOM@WIDTH,HEIGHT` -> Crop."""
    try:
        box, _, reference = text.partition("@")
        left, top, right, bottom = (int(v) for v in box.split(","))
        width, height = (int(v) for v in reference.split(","))
        return Crop(box=(left, top, right, bottom), reference=(width, height))
    except ValueError as exc:
        raise DatasetError(
            f"--crop {text!r}: expected LEFT,TOP,RIGHT,BOTTOM@WIDTH,HEIGHT, e.g. "
            f"40,40,210,210@250,250 ({exc})"
        ) from None


def read_attribute_table(path: Path) -> tuple[tuple[str, ...], dict[str, np.ndarray]]:
    """Attribute names and {relative path: scores} from a CSV with a header row."""
    try:
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read the attribute table ({exc})") from None
    if len(rows) < 2 or len(rows[0]) < 2:
        raise DatasetError(
            f"{path}: expected a header row (file, then attribute names) and a row per image"
        )
    names = tuple(c.strip() for c in rows[0][1:])
    if not all(names) or len(set(names)) != len(names):
        raise DatasetError(f"{path}: attribute names must be non-empty and distinct: {names}")
    table: dict[str, np.ndarray] = {}
    for number, row in enumerate(rows[1:], start=2):
        if not row or not any(c.strip() for c in row):
            continue
        if len(row) != len(names) + 1:
            raise DatasetError(f"{path}:{number}: {len(row)} columns where the header has "
                               f"{len(names) + 1}")  # fmt: skip
        try:
            scores = np.array([float(c) for c in row[1:]], dtype=np.float32)
        except ValueError:
            raise DatasetError(f"{path}:{number}: attribute scores must be numbers") from None
        if not np.isfinite(scores).all():
            raise DatasetError(f"{path}:{number}: attribute scores must be finite")
        table[Path(row[0].strip()).as_posix().removeprefix("./")] = scores
    return names, table


def choose_input(scan: Scan, settings: DataSettings) -> tuple[InputSpec, str]:
    """The recipe: grey if every image is grey, else RGB; the images' size if they all
    share one of at most 64x64, else 64x64; flags override. Returns it and why."""
    if settings.channels not in (None, 1, 3):
        raise DatasetError("--channels must be 1 (grey) or 3 (RGB)")
    channels = settings.channels or (1 if scan.all_grey else 3)
    why = [f"{'grey' if channels == 1 else 'RGB'} "
           f"({'--channels' if settings.channels else 'every image is grey' if channels == 1 else 'some images are in colour'})"]  # fmt: skip  # noqa: E501
    if settings.image_size:
        if len(settings.image_size) not in (1, 2) or min(settings.image_size) < 4:
            raise DatasetError("--image-size takes HEIGHT,WIDTH or one SIDE, each at least 4")
        height, width = (settings.image_size * 2)[:2]
        why.append(f"{height}x{width} (--image-size)")
    elif len(scan.sizes) == 1 and max(next(iter(scan.sizes))) <= DEFAULT_SIDE:
        width, height = next(iter(scan.sizes))
        why.append(f"{height}x{width} (every image's size)")
    else:
        height = width = DEFAULT_SIDE
        why.append(f"{height}x{width} ({'sizes differ' if len(scan.sizes) > 1 else 'resized'})")
    crop = parse_crop(settings.crop) if settings.crop else None
    return InputSpec(channels=channels, height=height, width=width, crop=crop), ", ".join(why)


def split(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """A held-out mask, seeded and stratified: about `fraction` of each class (at least one
    image of any class with two or more)."""
    rng = np.random.default_rng(seed)
    test = np.zeros(len(labels), dtype=bool)
    for label in np.unique(labels):
        rows = np.flatnonzero(labels == label)
        n = round(fraction * len(rows))
        n = min(max(n, 1 if len(rows) > 1 else 0), len(rows) - 1)
        test[rng.permutation(rows)[:n]] = True
    return test


def load_folder(spec: str, settings: DataSettings, seed: int = 0, progress: bool = True) -> Dataset:
    """`folder:` datasets (the part after the prefix: `<dir>` or `<dir>,<attributes.csv>`)."""
    root_text, _, table_text = spec.partition(",")
    root = Path(root_text).expanduser()
    if not root.is_dir():
        raise DatasetError(f"folder:{root_text}: no such directory")
    names: tuple[str, ...] = ()
    table: dict[str, np.ndarray] | None = None
    if table_text:
        names, table = read_attribute_table(Path(table_text).expanduser())
    scan = scan_folder(root, exclude={Path(table_text).resolve()} if table_text else set(),
                       progress=progress)  # fmt: skip
    files, labels = scan.files, scan.labels
    missing_rows = 0
    if table is not None:
        keep = [i for i, f in enumerate(files) if f in table]
        missing_rows = len(table) - len(keep)
        if not keep:
            raise DatasetError(f"{table_text}: no row names an image in {root}")
        files, labels = [files[i] for i in keep], labels[keep]
    spec_in, why = choose_input(scan, settings)
    fingerprint = scan.fingerprint
    if table_text:  # the table is data too
        table_bytes = Path(table_text).expanduser().read_bytes()
        fingerprint = hashlib.sha256(fingerprint.encode() + table_bytes).hexdigest()

    def arrange(good_labels: np.ndarray) -> tuple[int, np.ndarray]:
        test = split(good_labels, settings.test_fraction, seed)
        if test.all() or not test.any():
            raise DatasetError(f"folder:{root_text}: {len(good_labels)} usable images are too "
                               f"few to hold {settings.test_fraction:g} of them out")  # fmt: skip
        return int((~test).sum()), np.concatenate([np.flatnonzero(~test), np.flatnonzero(test)])

    key = cache_key(fingerprint, spec_in, files, f"{seed}:{settings.test_fraction!r}")
    cached, reused = load_or_build(root, files, labels, spec_in, key, Path(settings.cache_dir),
                                   arrange, progress)  # fmt: skip
    bad = scan.bad + cached.bad
    total = len(bad) + len(cached.files)
    if bad:
        shown = "; ".join(f"{p}: {r}" for p, r in bad[:SHOWN])
        more = f" and {len(bad) - SHOWN} more" if len(bad) > SHOWN else ""
        if len(bad) / total > settings.max_bad_fraction:
            raise DatasetError(
                f"folder:{root_text}: {len(bad)} of {total} image files are unusable "
                f"({len(bad) / total:.1%}, over --max-bad-fraction {settings.max_bad_fraction:g})"
                f": {shown}{more}. Fix or remove them, or raise --max-bad-fraction to skip them."
            )
        log.warning("skipping %d unusable files: %s%s", len(bad), shown, more)
    n_train = cached.n_train
    # Training reads the cache's pages (uint8, shared with the page cache); the held-out
    # share is small enough to keep as floats.
    x = torch.from_numpy(cached.pixels)
    y = torch.from_numpy(cached.labels)
    attrs = None
    if table is not None:
        attrs = torch.from_numpy(np.stack([table[f] for f in cached.files]))
    classes = (f"{len(scan.class_names)} classes ({', '.join(scan.class_names[:8])}"
               + (", ...)" if len(scan.class_names) > 8 else ")")) if scan.class_names else (
               "no classes")  # fmt: skip
    notes = [f"{len(names)} attributes"] if names else []
    notes += [f"{len(scan.ignored)} files not images by name, left out"] if scan.ignored else []
    notes += [f"{missing_rows} table rows name no image found"] if missing_rows else []
    log.info("folder:%s: %d images, %s; %s; %d held out; %d skipped; cache %s (%s)%s",
             root_text, len(cached.files), classes, why, len(cached.files) - n_train, len(bad),
             Path(settings.cache_dir) / key, "reused" if reused else "built",
             "; " + "; ".join(notes) if notes else "")  # fmt: skip
    return Dataset(
        name=f"folder:{spec}",
        train_x=x[:n_train],
        train_y=y[:n_train],
        test_x=x[n_train:].float().div_(255),
        test_y=y[n_train:],
        class_names=scan.class_names,
        attribute_names=names,
        train_attrs=None if attrs is None else attrs[:n_train],
        test_attrs=None if attrs is None else attrs[n_train:],
        # `> 0` has it; `<= 0` lacks it.
        attribute_thresholds=(0.0, 1e-9),
        crop=spec_in.crop,
        source_fingerprint=fingerprint,
        test_fraction=settings.test_fraction,
        skipped=tuple(f"{p}: {r}" for p, r in bad),
    )
