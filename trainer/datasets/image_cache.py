"""A folder's images decoded once into a memory-mapped uint8 array on disk.

`<cache dir>/<key>/pixels.u8` holds (N, C, H, W) bytes, the training rows first, and
`index.json` says which file each row is, its label, and which files could not be decoded.
The key is a hash of the folder's fingerprint (file list and bytes), the recipe (the
manifest's InputSpec) and the split, so a changed file, size or split builds a new cache and
an unchanged folder reuses its cache at once. Pixels are `prepare_image`'s (the service's
preparation of a request) times 255: uint8 exactly, a quarter of the floats' size, and
training reads them through the page cache rather than holding the folder in memory.

A cache is built in a temporary directory beside its final place and renamed into it, so a
crash leaves no half cache that a later run would trust.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from model_store import InputSpec
from model_store.images import prepare_image

INDEX, PIXELS = "index.json", "pixels.u8"
CHUNK = 512  # files per task of a decoding process
PARALLEL_FROM = 4096  # fewer files decode in this process (a worker's start costs seconds)


@dataclass(frozen=True)
class Cached:
    pixels: np.ndarray  # (N, C, H, W) uint8, memory-mapped copy-on-write
    files: list[str]  # each row's file, relative to the folder
    labels: np.ndarray
    n_train: int
    bad: list[tuple[str, str]]  # files that failed to decode, and why


def _decode(root: str, files: list[str], spec_json: str) -> tuple[np.ndarray, list[int], list[str]]:
    """Decode and prepare files: their pixels (a zero row for a bad one), bad rows, reasons."""
    spec = InputSpec.model_validate_json(spec_json)
    out = np.zeros((len(files), *spec.shape), dtype=np.uint8)
    bad, why = [], []
    for i, name in enumerate(files):
        try:
            with Image.open(io.BytesIO((Path(root) / name).read_bytes())) as img:
                img.load()  # truncated and corrupt data fail here
                pixels = prepare_image(img, spec)
            out[i] = (pixels * 255).round().to(torch.uint8).numpy()
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
            bad.append(i)
            why.append(f"cannot be decoded ({str(exc)[:80] or type(exc).__name__})")
    return out, bad, why


def _decode_all(root: Path, files: list[str], spec: InputSpec, into: np.ndarray,
                progress: bool) -> list[tuple[int, str]]:  # fmt: skip
    chunks = [files[i : i + CHUNK] for i in range(0, len(files), CHUNK)]
    bad: list[tuple[int, str]] = []
    bar = tqdm(total=len(files), desc="decoding", unit="image", disable=not progress)
    workers = min(os.cpu_count() or 1, 8) if len(files) >= PARALLEL_FROM else 1
    spec_json = spec.model_dump_json()
    if workers > 1:
        pool = ProcessPoolExecutor(workers, mp_context=get_context("spawn"))
        results = pool.map(_decode, [str(root)] * len(chunks), chunks, [spec_json] * len(chunks))
    else:
        pool, results = None, (_decode(str(root), c, spec_json) for c in chunks)
    try:
        for n, (pixels, rows, why) in enumerate(results):
            into[n * CHUNK : n * CHUNK + len(pixels)] = pixels
            bad += [(n * CHUNK + r, w) for r, w in zip(rows, why, strict=True)]
            bar.update(len(pixels))
    finally:
        bar.close()
        if pool is not None:
            pool.shutdown()
    return bad


def cache_key(fingerprint: str, spec: InputSpec, files: list[str], split: str) -> str:
    h = hashlib.sha256()
    for part in (fingerprint, spec.model_dump_json(), "\n".join(files), split):
        h.update(part.encode() + b"\0")
    return h.hexdigest()[:32]


def load_or_build(
    root: Path,
    files: list[str],
    labels: np.ndarray,
    spec: InputSpec,
    key: str,
    cache_dir: Path,
    arrange: Callable[[np.ndarray], tuple[int, np.ndarray]],
    progress: bool = True,
) -> tuple[Cached, bool]:
    """The cache under `key`, built first if missing: every file decoded, the bad ones left
    out, the rest written in the order `arrange(labels of the good ones)` gives (a
    permutation with the training rows first; its result's first entry is their count).
    Returns the cache and whether it was already there."""
    final = cache_dir / key
    if (final / INDEX).is_file():
        return _open(final, spec), True
    cache_dir.mkdir(parents=True, exist_ok=True)
    work = cache_dir / f".{key}.{os.getpid()}.tmp"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    try:
        staged = np.lib.format.open_memmap(work / "staged.npy", "w+", np.uint8,
                                           (len(files), *spec.shape))  # fmt: skip
        bad = _decode_all(root, files, spec, staged, progress)
        bad_rows = {r for r, _ in bad}
        good = np.array([i for i in range(len(files)) if i not in bad_rows], dtype=np.int64)
        n_train, order = arrange(labels[good])
        rows = good[order]
        out = np.memmap(work / PIXELS, np.uint8, "w+", shape=(len(rows), *spec.shape))
        for i in range(0, len(rows), 4096):  # reordered in slices: memory stays bounded
            out[i : i + 4096] = staged[rows[i : i + 4096]]
        out.flush()
        del out, staged
        (work / "staged.npy").unlink()
        index = {"files": [files[r] for r in rows], "labels": labels[rows].tolist(),
                 "n_train": int(n_train), "shape": list(spec.shape),
                 "bad": [[files[r], why] for r, why in bad]}  # fmt: skip
        (work / INDEX).write_text(json.dumps(index))
        try:
            work.rename(final)
        except OSError:  # another run built it meanwhile: theirs is as good
            shutil.rmtree(work, ignore_errors=True)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return _open(final, spec), False


def _open(folder: Path, spec: InputSpec) -> Cached:
    index = json.loads((folder / INDEX).read_text())
    shape = (len(index["files"]), *spec.shape)
    pixels = np.memmap(folder / PIXELS, np.uint8, "c", shape=shape) if shape[0] else np.zeros(
        shape, np.uint8)  # fmt: skip
    return Cached(pixels, index["files"], np.asarray(index["labels"], dtype=np.int64),
                  index["n_train"], [tuple(b) for b in index["bad"]])  # fmt: skip
