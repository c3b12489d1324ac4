"""Plain files on a local disk, written durably and read without leaving a root.

Writes are fsynced (file, then directory) so that a rename published after them never
points at data still in a cache; reads refuse symbolic links anywhere below the root
and anything that is not a plain file, so no reference can open a file outside it.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from model_store.errors import CorruptArtifact


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_durably(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def checked(root: Path, path: Path, want_dir: bool) -> Path:
    """`path` if every component below `root` is a real directory or file (no symlinks)."""
    cur = root
    for part in path.relative_to(root).parts:
        cur = cur / part
        if stat.S_ISLNK(os.lstat(cur).st_mode):
            raise CorruptArtifact("symbolic links are not allowed in the store", str(cur))
    mode = os.lstat(path).st_mode
    if (want_dir and not stat.S_ISDIR(mode)) or (not want_dir and not stat.S_ISREG(mode)):
        raise CorruptArtifact("not a plain " + ("directory" if want_dir else "file"), str(path))
    return path


def open_plain_file(root: Path, path: Path) -> int:
    """A read-only descriptor of a plain file under root (the caller closes it)."""
    checked(root, path, want_dir=False)
    return os.open(path, os.O_RDONLY | os.O_NOFOLLOW)


def sha256_of_descriptor(fd: int, chunk: int = 1 << 20) -> str:
    """The sha256 of an open file, read a chunk at a time (no copy of the whole file)."""
    digest, offset = hashlib.sha256(), 0
    while block := os.pread(fd, chunk, offset):
        digest.update(block)
        offset += len(block)
    return digest.hexdigest()


def read_plain_file(root: Path, path: Path, limit: int | None = None) -> bytes:
    """The bytes of a plain file under root, refusing more than `limit` bytes."""
    with os.fdopen(open_plain_file(root, path), "rb") as f:
        data = f.read(limit + 1) if limit else f.read()
    if limit and len(data) > limit:
        raise CorruptArtifact(f"larger than {limit} bytes", str(path))
    return data
