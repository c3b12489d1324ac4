"""The store on a local directory (DESIGN §3).

    <root>/<name>/<version>/manifest.json, weights.safetensors, latents.safetensors, report/*.png
    <root>/<name>/aliases.json

Publishing writes into a hidden staging directory, then claims the next
version number with one atomic rename: a crash leaves only a hidden
leftover (cleaned by `clean`), and two publishers racing for the same number
see the loser retry with the next. Aliases move last, under a file lock.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import secrets
import shutil
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from model_store.disk import (
    checked,
    fsync_dir,
    pid_alive,
    read_plain_file,
    sha256,
    write_durably,
)
from model_store.errors import (
    CorruptArtifact,
    InvalidName,
    ModelNotFound,
    VersionInUse,
    VersionNotFound,
)
from model_store.manifest import MANIFEST_FILE, Manifest
from model_store.refs import DEFAULT_ALIAS, LATEST, ModelRef, parse_ref, validate_name

ALIASES_FILE = "aliases.json"
_STAGING = ".publish-"
_DELETING = ".delete-"
_MAX_MANIFEST_BYTES = 1 << 20


@dataclass(frozen=True)
class VersionContent:
    """A verified version: its manifest and the bytes of every file it lists."""

    manifest: Manifest
    files: Mapping[str, bytes]


class LocalStore:
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).absolute()

    def __repr__(self) -> str:
        return f"LocalStore({str(self.root)!r})"

    # -- paths, refusing anything that is not a plain directory or file under root

    def _model_dir(self, name: str) -> Path:
        return self.root / validate_name(name)

    def _checked(self, path: Path, want_dir: bool) -> Path:
        return checked(self.root, path, want_dir)

    def _read(self, path: Path, limit: int | None = None) -> bytes:
        return read_plain_file(self.root, path, limit)

    # -- listing

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

    def aliases(self, name: str) -> dict[str, int]:
        path = self._model_dir(name) / ALIASES_FILE
        if not path.exists():
            return {}
        try:
            raw = json.loads(self._read(path, _MAX_MANIFEST_BYTES))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise CorruptArtifact(f"unreadable aliases: {exc}", str(path)) from exc
        if not isinstance(raw, dict):
            raise CorruptArtifact("aliases must be a JSON object", str(path))
        out: dict[str, int] = {}
        for alias, version in raw.items():
            try:
                validate_name(alias, "alias")
            except InvalidName as exc:
                raise CorruptArtifact(str(exc), str(path)) from exc
            if type(version) is not int or version < 1:
                raise CorruptArtifact(f"alias {alias!r} must name a version number", str(path))
            out[alias] = version
        return out

    def resolve(self, ref: ModelRef | str) -> int:
        """The version a reference names: a number, `latest`, or an alias.

        A bare name means its `production` alias, or its latest version when it
        has no such alias yet.
        """
        ref = parse_ref(ref) if isinstance(ref, str) else ref
        versions = self.versions(ref.name)
        aliases = self.aliases(ref.name)
        if ref.version is not None:
            if ref.version in versions:
                return ref.version
        elif ref.selector == LATEST and versions:
            return versions[-1]
        elif ref.selector in aliases and aliases[ref.selector] in versions:
            return aliases[ref.selector]
        elif ref.selector == DEFAULT_ALIAS and DEFAULT_ALIAS not in aliases and versions:
            return versions[-1]
        raise VersionNotFound(ref.name, ref.selector, versions, aliases)

    def manifest(self, name: str, version: int) -> Manifest:
        vdir = self._version_dir(name, version)
        path = vdir / MANIFEST_FILE
        try:
            return Manifest.model_validate_json(self._read(path, _MAX_MANIFEST_BYTES))
        except FileNotFoundError as exc:
            raise CorruptArtifact("the version has no manifest", str(path)) from exc
        except ValueError as exc:
            raise CorruptArtifact(f"invalid manifest: {exc}", str(path)) from exc

    def _version_dir(self, name: str, version: int) -> Path:
        if type(version) is not int or version < 1:
            raise InvalidName(f"invalid version {version!r}")
        vdir = self._model_dir(name) / str(version)
        if not vdir.exists() and not vdir.is_symlink():
            raise VersionNotFound(name, str(version), self.versions(name), self.aliases(name))
        return self._checked(vdir, want_dir=True)

    # -- reading with verification

    def read(self, name: str, version: int) -> VersionContent:
        """Every file of a version, each checked against the manifest's sha256."""
        manifest = self.manifest(name, version)
        if manifest.name != name or manifest.version != version:
            raise CorruptArtifact(
                f"manifest says {manifest.name}@{manifest.version}", f"{name}/{version}"
            )
        files = {rel: self._verified(name, version, rel, digest)
                 for rel, digest in manifest.files.items()}  # fmt: skip
        return VersionContent(manifest, files)

    def read_file(self, name: str, version: int, rel: str) -> bytes:
        """One file the version's manifest lists (a report image), checked against its
        sha256. Anything the manifest does not list is VersionNotFound-like: FileNotFoundError."""
        manifest = self.manifest(name, version)
        digest = manifest.files.get(rel)
        if digest is None:
            raise FileNotFoundError(f"{name}@{version} has no file {rel!r}")
        return self._verified(name, version, rel, digest)

    def _verified(self, name: str, version: int, rel: str, digest: str) -> bytes:
        path = self._version_dir(name, version) / rel
        try:
            data = self._read(path)
        except FileNotFoundError as exc:
            raise CorruptArtifact("missing file listed in the manifest", str(path)) from exc
        if sha256(data) != digest:
            raise CorruptArtifact("sha256 does not match the manifest", str(path))
        return data

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

    def _write_aliases(self, name: str, aliases: dict[str, int]) -> None:
        model_dir = self._model_dir(name)
        tmp = model_dir / f".aliases-{os.getpid()}-{secrets.token_hex(4)}"
        write_durably(tmp, json.dumps(aliases, indent=2, sort_keys=True).encode())
        os.replace(tmp, model_dir / ALIASES_FILE)
        fsync_dir(model_dir)

    def publish(
        self,
        name: str,
        fields: dict[str, Any],
        files: Mapping[str, bytes],
        aliases: tuple[str, ...] = (),
        promote_first: bool = True,
    ) -> Manifest:
        """Make a new immutable version from manifest fields and file bytes.

        The first version of a name (version 1, or the lowest left after deletes) becomes
        `production` unless `promote_first` is False, even when concurrent publishers race
        for the first numbers; later versions never take `production` by themselves (a
        bare name then resolves to the newest version until one is promoted). Aliases given
        here only ever move forward.
        """
        model_dir = self._model_dir(name)
        model_dir.mkdir(parents=True, exist_ok=True)
        for alias in aliases:
            validate_name(alias, "alias")
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
        with self._lock(name):
            current = self.aliases(name)
            wanted = set(aliases)
            # Only the publisher of the name's first version makes it production, whichever
            # of several concurrent first publishers reaches this lock first.
            if promote_first and DEFAULT_ALIAS not in current and self.versions(name)[0] == version:
                wanted.add(DEFAULT_ALIAS)
            changed = {a: version for a in wanted if current.get(a, 0) < version}
            if changed:
                self._write_aliases(name, {**current, **changed})
        return manifest

    def set_alias(self, name: str, alias: str, version: int) -> int | None:
        """Point alias at version (promote or roll back); returns the previous version."""
        validate_name(alias, "alias")
        if alias == LATEST:
            raise InvalidName("'latest' is implicit and cannot be set")
        with self._lock(name):
            self._version_dir(name, version)
            current = self.aliases(name)
            previous = current.get(alias)
            self._write_aliases(name, {**current, alias: version})
        return previous

    def remove_alias(self, name: str, alias: str) -> None:
        with self._lock(name):
            current = self.aliases(name)
            if alias not in current:
                raise VersionNotFound(name, alias, self.versions(name), current)
            del current[alias]
            self._write_aliases(name, current)

    def delete(self, name: str, version: int) -> None:
        """Remove a version no alias points to."""
        with self._lock(name):
            vdir = self._version_dir(name, version)
            holding = sorted(a for a, v in self.aliases(name).items() if v == version)
            if holding:
                raise VersionInUse(f"{name}@{version} is still aliased by {', '.join(holding)}")
            trash = vdir.parent / f"{_DELETING}{version}-{secrets.token_hex(4)}"
            os.rename(vdir, trash)
            fsync_dir(vdir.parent)
        shutil.rmtree(trash, ignore_errors=True)

    def clean(self, min_age_s: float = 0.0) -> list[Path]:
        """Remove leftovers of crashed publishes and deletes; returns what was removed.

        A staging directory whose publisher is still alive is kept unless older
        than `min_age_s` (when that is above zero).
        """
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
                removed.append(path)
        return removed
