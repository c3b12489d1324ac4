"""The first pass over a folder of images: find them, fingerprint them, check each one.

Every file is read once here; its path and bytes enter the dataset's fingerprint, and its
header (format, size, mode) is checked without decoding the pixels: not an image, over the
pixel limit (a decompression bomb), a symlink that leaves the folder. Truncated files are
found when the cache decodes them (image_cache), still before training starts.
"""

from __future__ import annotations

import hashlib
import io
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from model_store.images import size_problem
from trainer.datasets import DatasetError

SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff"}
FORMATS = {"PNG", "JPEG", "MPO", "WEBP", "BMP", "GIF", "TIFF"}
GREY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"}
MAX_FILE_BYTES = 64 << 20


@dataclass
class Scan:
    files: list[str] = field(default_factory=list)  # relative posix paths of usable images
    labels: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    class_names: tuple[str, ...] = ()
    bad: list[tuple[str, str]] = field(default_factory=list)  # (relative path, reason)
    ignored: list[str] = field(default_factory=list)  # files that are not images by name
    sizes: set[tuple[int, int]] = field(default_factory=set)  # (width, height)
    all_grey: bool = True
    fingerprint: str = ""


def _is_grey(img: Image.Image) -> bool:
    if img.mode in GREY_MODES:
        return True
    if img.mode == "P":
        palette = np.asarray(img.getpalette() or [], dtype=np.int16).reshape(-1, 3)
        return bool((palette == palette[:, :1]).all())
    return False


def check_header(data: bytes) -> tuple[Image.Image | None, str]:
    """The image's header, opened lazily (no pixels decoded), or None and why not."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # PIL's own bomb warning: the limit below decides
            img = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError:
        return None, "over the pixel limit"
    except (OSError, ValueError, SyntaxError):
        return None, "not an image (unreadable header)"
    if img.format not in FORMATS:
        return None, f"{img.format} is not a format taken here (PNG, JPEG, WebP, BMP, GIF, TIFF)"
    w, h = img.size
    problem = size_problem(w, h)
    if problem is not None:
        return None, problem
    if w < 1 or h < 1:
        return None, "empty image"
    return img, ""


def _walk(root: Path) -> tuple[list[Path], list[Path]]:
    """Files under root in sorted order (hidden ones left out), and symlinked folders (not
    followed)."""
    files, linked_dirs = [], []
    for folder, dirs, names in os.walk(root, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for d in dirs:
            if (Path(folder) / d).is_symlink():
                linked_dirs.append(Path(folder) / d)
        files += [Path(folder) / n for n in sorted(names) if not n.startswith(".")]
    return sorted(files), linked_dirs


def scan_folder(root: Path, exclude: set[Path] = frozenset(), progress: bool = True) -> Scan:
    """List, fingerprint and check every image under root: classes from its subfolders
    when it has any (images beside them are left out), else one unlabelled set."""
    root = root.resolve()
    paths, linked_dirs = _walk(root)
    # Classes: the subfolders, when there are any (a folder without files is refused).
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    holding = {p.relative_to(root).parts[0] for p in paths if len(p.relative_to(root).parts) > 1}
    empty = [c for c in classes if c not in holding]
    if empty:
        raise DatasetError(f"{root}: class folders with no files: {', '.join(empty)}")
    scan = Scan()
    for d in linked_dirs:
        scan.bad.append((d.relative_to(root).as_posix(), "a symlinked folder (not followed)"))
    labels: list[int] = []
    digest = hashlib.sha256()
    for path in tqdm(paths, desc=f"checking {root.name}", unit="file", disable=not progress):
        rel = path.relative_to(root)
        name = rel.as_posix()
        if path.resolve() in exclude:
            continue
        if path.suffix.lower() not in SUFFIXES:
            scan.ignored.append(name)
            continue
        if classes and len(rel.parts) == 1:
            scan.ignored.append(name)  # beside the class folders: in no class
            continue
        if path.is_symlink() and not path.resolve().is_relative_to(root):
            scan.bad.append((name, "a symlink that leaves the folder"))
            continue
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                scan.bad.append((name, f"over {MAX_FILE_BYTES >> 20} MiB"))
                continue
            data = path.read_bytes()
        except OSError as exc:
            scan.bad.append((name, f"unreadable ({exc.strerror or exc})"))
            continue
        img, why = check_header(data)
        if img is None:
            scan.bad.append((name, why))
            continue
        digest.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
        scan.files.append(name)
        scan.sizes.add(img.size)
        scan.all_grey = scan.all_grey and _is_grey(img)
        labels.append(classes.index(rel.parts[0]) if classes else 0)
    if not scan.files:
        raise DatasetError(
            f"{root}: no usable images (PNG, JPEG, WebP, BMP, GIF, TIFF) found"
            + (f"; skipped {len(scan.bad)}: {scan.bad[:5]}" if scan.bad else "")
        )
    counts = np.bincount(labels, minlength=len(classes)) if classes else None
    if counts is not None and (counts == 0).any():
        empty = [c for c, n in zip(classes, counts, strict=True) if n == 0]
        raise DatasetError(f"{root}: class folders with no usable image: {', '.join(empty)}")
    scan.labels = np.asarray(labels, dtype=np.int64)
    scan.class_names = tuple(classes)
    scan.fingerprint = digest.hexdigest()
    return scan
