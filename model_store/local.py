"""The store on a local directory (the layout in the README, "Where models live").

    <root>/<name>/<version>/manifest.json, weights.safetensors, latents.safetensors, report/*.png
    <root>/<name>/aliases.json

Publishing writes into a hidden staging directory, then claims the next
version number with one atomic rename: a crash leaves only a hidden
leftover (cleaned by `clean`), and two publishers racing for the same number
see the loser retry with the next. Aliases move under a file lock.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import os
import secrets
import shutil
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from model_store.disk import (
    checked,
    fsync_dir,
    open_plain_file,
    pid_alive,
    read_plain_file,
    sha256,
    sha256_of_descriptor,
    write_durably,
)
from model_store.errors import (
    CorruptArtifact,
    InvalidName,
    ModelNotFound,
    VersionInUse,
    VersionNotFound,
    WriteRefused,
)
from model_store.manifest import MANIFEST_FILE, Manifest
from model_store.refs import validate_name
from model_store.store import (
    ALIASES_FILE,
    MAX_MANIFEST_BYTES,
    AliasChange,
    Store,
    check_digest,
    check_version,
    dump_aliases,
    parse_aliases,
)

_STAGING = ".publish-"
_DELETING = ".delete-"
PROC_FDS = Path("/proc/self/fd")


def _refusing_writes(method: Callable[..., Any]) -> Callable[..., Any]:
    """A write the disk refuses (ENOSPC, EROFS, EACCES...) as a WriteRefused that says which
    store and why: the trainer's CLI prints it as an error, not a traceback after a long
    training. A refused publish leaves no version and no staging directory."""

    @functools.wraps(method)
    def refusing(self: LocalStore, name: str, *args: Any) -> Any:
        try:
            return method(self, name, *args)
        except OSError as exc:
            raise WriteRefused(f"cannot write {name!r} into {self.root}: "
                               f"{exc.strerror or exc}; nothing changed") from exc  # fmt: skip

    return refusing


class LocalStore(Store):
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).absolute()
        self.location = str(self.root)

    def __repr__(self) -> str:
        return f"LocalStore({str(self.root)!r})"

    # -- paths, refusing anything that is not a plain directory or file under root

    def _model_dir(self, name: str) -> Path:
        return self.root / validate_name(name)

    def _read(self, path: Path, limit: int | None = None) -> bytes:
        return read_plain_file(self.root, path, limit)

    def _version_dir(self, name: str, version: int) -> Path:
        vdir = self._model_dir(name) / str(check_version(version))
        if not vdir.exists() and not vdir.is_symlink():
            raise VersionNotFound(name, str(version), self.versions(name),
                                  *self.readable_aliases(name))  # fmt: skip
        return checked(self.root, vdir, want_dir=True)

    # -- reading

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        out = []
        for entry in os.scandir(self.root):
            if entry.is_dir(follow_symlinks=False) and not entry.name.startswith("."):
                with contextlib.suppress(InvalidName):
                    out.append(validate_name(entry.name))
        return sorted(out)

    def versions(self, name: str) -> list[int]:
        model_dir = self._model_dir(name)
        if not model_dir.is_dir() or model_dir.is_symlink():
            raise ModelNotFound(name, self.names())
        return sorted(
            int(e.name)
            for e in os.scandir(model_dir)
            if e.name.isdigit() and e.is_dir(follow_symlinks=False)
        )

    def has_version(self, name: str, version: int) -> bool:
        model_dir = self._model_dir(name)
        path = model_dir / str(check_version(version))
        return not model_dir.is_symlink() and path.is_dir() and not path.is_symlink()

    def aliases(self, name: str) -> dict[str, int]:
        path = self._model_dir(name) / ALIASES_FILE
        if not path.exists():
            return {}
        return parse_aliases(self._read(path, MAX_MANIFEST_BYTES), str(path))

    def _read_version_file(
        self, name: str, version: int, rel: str, limit: int | None = None
    ) -> bytes:
        return self._read(self._version_dir(name, version) / rel, limit)

    @contextlib.contextmanager
    def mapped_file(self, name: str, version: int, rel: str, digest: str) -> Iterator[str | None]:
        """The file through its open descriptor (`/proc/self/fd/N`): what is mapped is the
        file that was checked and hashed, whatever the name points to meanwhile. Versions
        are immutable; a file changed in place after its check could still be read."""
        where = f"{name}/{version}/{rel}"
        if not PROC_FDS.is_dir():  # not Linux: the caller reads the bytes
            yield None
            return
        try:
            fd = open_plain_file(self.root, self._version_dir(name, version) / rel)
        except FileNotFoundError as exc:
            raise CorruptArtifact("missing file listed in the manifest", where) from exc
        try:
            check_digest(sha256_of_descriptor(fd), digest, where)
            yield str(PROC_FDS / str(fd))
        finally:
            os.close(fd)

    # -- writing

    @contextlib.contextmanager
    def _lock(self, name: str) -> Iterator[None]:
        model_dir = self._model_dir(name)
        model_dir.mkdir(parents=True, exist_ok=True)
        with open(model_dir / ".lock", "a+b") as f:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)

    @_refusing_writes
    def _update_aliases(self, name: str, change: AliasChange) -> None:
        with self._lock(name):
            new = change(self.aliases(name))
            if new is None:
                return
            model_dir = self._model_dir(name)
            tmp = model_dir / f".aliases-{os.getpid()}-{secrets.token_hex(4)}"
            try:
                write_durably(tmp, dump_aliases(new))
                os.replace(tmp, model_dir / ALIASES_FILE)
            except BaseException:
                tmp.unlink(missing_ok=True)  # a write cut short leaves no temp file
                raise
            fsync_dir(model_dir)

    @_refusing_writes
    def _put_version(
        self, name: str, fields: dict[str, Any], files: Mapping[str, bytes]
    ) -> Manifest:
        model_dir = self._model_dir(name)
        model_dir.mkdir(parents=True, exist_ok=True)
        staging = model_dir / f"{_STAGING}{os.getpid()}-{secrets.token_hex(6)}"
        digests = {}
        try:
            for rel, data in files.items():
                write_durably(staging / rel, data)
                digests[rel] = sha256(data)
            while True:
                existing = self.versions(name)
                version = (existing[-1] if existing else 0) + 1
                manifest = Manifest.model_validate(
                    {**fields, "name": name, "version": version, "files": digests}
                )
                write_durably(staging / MANIFEST_FILE, manifest.model_dump_json(indent=2).encode())
                fsync_dir(staging)
                try:
                    os.rename(staging, model_dir / str(version))
                except OSError as exc:
                    if exc.errno in (errno.EEXIST, errno.ENOTEMPTY):
                        continue  # another publisher took this number: take the next
                    raise
                break
            fsync_dir(model_dir)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
        return manifest

    def delete(self, name: str, version: int) -> None:
        with self._lock(name):
            vdir = self._version_dir(name, version)
            holding = sorted(a for a, v in self.aliases(name).items() if v == version)
            if holding:
                raise VersionInUse(f"{name}@{version} is still aliased by {', '.join(holding)}")
            trash = vdir.parent / f"{_DELETING}{version}-{secrets.token_hex(4)}"
            os.rename(vdir, trash)
            fsync_dir(vdir.parent)
        shutil.rmtree(trash, ignore_errors=True)

    def clean(self, min_age_s: float = 0.0) -> list[str]:
        """A staging directory whose publisher is still alive is kept unless older than
        `min_age_s` (when that is above zero)."""
        removed = []
        now = time.time()
        for name in self.names():
            for entry in os.scandir(self._model_dir(name)):
                if entry.name.startswith(_STAGING):
                    pid = entry.name[len(_STAGING) :].split("-", 1)[0]
                    alive = pid.isdigit() and pid_alive(int(pid))
                    old = (
                        min_age_s > 0
                        and now - entry.stat(follow_symlinks=False).st_mtime > min_age_s
                    )
                    if alive and not old:
                        continue
                elif not entry.name.startswith((_DELETING, ".aliases-")):
                    continue
                path = Path(entry.path)
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
                removed.append(str(path))
        return removed
