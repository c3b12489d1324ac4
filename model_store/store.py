"""What every backend of the store promises, and the logic they share (the README's layout).

A backend (`LocalStore` on a directory, `S3Store` on a bucket) supplies a few primitives:
list names and versions, read one file of a version, read and atomically update the alias
map, publish a version whole, delete one, clean up after crashes. Everything that gives the
store its meaning is written once, here: how a reference resolves, that every file is
checked against the manifest's sha256, that aliases set by a publish only move forward and
that the first version of a name becomes `production`.
"""

from __future__ import annotations

import contextlib
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from model_store.disk import sha256
from model_store.errors import CorruptArtifact, InvalidName, ModelNotFound, VersionNotFound
from model_store.manifest import MANIFEST_FILE, Manifest
from model_store.refs import DEFAULT_ALIAS, LATEST, ModelRef, parse_ref, validate_name

ALIASES_FILE = "aliases.json"
MAX_MANIFEST_BYTES = 1 << 20

# Given the current alias map, the map to write, or None to leave it as it is.
AliasChange = Callable[[dict[str, int]], dict[str, int] | None]


@dataclass(frozen=True)
class VersionContent:
    """A verified version: its manifest and the bytes of every file it lists."""

    manifest: Manifest
    files: Mapping[str, bytes]


def check_digest(actual: str, listed: str, where: str) -> None:
    """A file's sha256 against the one its manifest lists (every backend, every reader)."""
    if actual != listed:
        raise CorruptArtifact("sha256 does not match the manifest", where)


def parse_aliases(raw: bytes, where: str) -> dict[str, int]:
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CorruptArtifact(f"unreadable aliases: {exc}", where) from exc
    if not isinstance(data, dict):
        raise CorruptArtifact("aliases must be a JSON object", where)
    out: dict[str, int] = {}
    for alias, version in data.items():
        try:
            validate_name(alias, "alias")
        except InvalidName as exc:
            raise CorruptArtifact(str(exc), where) from exc
        if type(version) is not int or version < 1:
            raise CorruptArtifact(f"alias {alias!r} must name a version number", where)
        out[alias] = version
    return out


def dump_aliases(aliases: Mapping[str, int]) -> bytes:
    return json.dumps(dict(aliases), indent=2, sort_keys=True).encode()


def check_version(version: int) -> int:
    if type(version) is not int or version < 1:
        raise InvalidName(f"invalid version {version!r}")
    return version


class Store(ABC):
    """The store's interface; `open_store` picks the backend from a location."""

    location: str  # what `open_store` accepts to open this same store again

    # -- primitives each backend supplies

    @abstractmethod
    def names(self) -> list[str]: ...

    @abstractmethod
    def versions(self, name: str) -> list[int]:
        """The visible (whole) versions of a name, ascending; ModelNotFound if none ever."""

    @abstractmethod
    def aliases(self, name: str) -> dict[str, int]: ...

    @abstractmethod
    def _read_version_file(
        self, name: str, version: int, rel: str, limit: int | None = None
    ) -> bytes:
        """The raw bytes of one file of a version: VersionNotFound if the version is not
        visible, FileNotFoundError if the file is missing, CorruptArtifact past `limit`."""

    @abstractmethod
    def _put_version(
        self, name: str, fields: dict[str, Any], files: Mapping[str, bytes]
    ) -> Manifest:
        """Write `files` and their manifest as the next free version, made visible whole
        (or not at all) in one atomic step; concurrent callers get distinct versions."""

    @abstractmethod
    def _update_aliases(self, name: str, change: AliasChange) -> None:
        """Apply `change` to the alias map atomically: no concurrent update is lost."""

    @abstractmethod
    def delete(self, name: str, version: int) -> None:
        """Remove a version no alias points to (VersionInUse otherwise)."""

    @abstractmethod
    def clean(self, min_age_s: float = 0.0) -> list[str]:
        """Remove what crashed publishes and deletes left behind; returns what it removed."""

    def has_version(self, name: str, version: int) -> bool:
        """Whether `version` of `name` is visible, at a cost that does not grow with the
        number of versions (backends override the listing this falls back to)."""
        try:
            return version in self.versions(name)
        except ModelNotFound:
            return False

    # -- shared meaning

    def resolve(self, ref: ModelRef | str) -> int:
        """The version a reference names: a number, `latest`, or an alias.

        A bare name means its `production` alias, or its latest version when it
        has no such alias yet.
        """
        ref = parse_ref(ref) if isinstance(ref, str) else ref
        by_alias = ref.version is None and ref.selector != LATEST
        if by_alias:
            # An alias (what the service polls every second): one read of the alias file and
            # one look at its version, however many versions there are; the listing below
            # only when the alias is missing, unreadable or points nowhere.
            aliases, problem = self.readable_aliases(ref.name)
            target = aliases.get(ref.selector) if problem is None else None
            if target is not None and self.has_version(ref.name, target):
                return target
        versions = self.versions(ref.name)
        # A number and `latest` need no alias: an unreadable alias file fails only aliases.
        if ref.version is not None and ref.version in versions:
            return ref.version
        if ref.version is None and ref.selector == LATEST and versions:
            return versions[-1]
        if not by_alias:  # read once: the alias path above has them already
            aliases, problem = self.readable_aliases(ref.name)
        if ref.version is None and problem is None:
            if ref.selector in aliases and aliases[ref.selector] in versions:
                return aliases[ref.selector]
            if ref.selector == DEFAULT_ALIAS and DEFAULT_ALIAS not in aliases and versions:
                return versions[-1]
        raise VersionNotFound(ref.name, ref.selector, versions, aliases, problem)

    def readable_aliases(self, name: str) -> tuple[dict[str, int], str | None]:
        """The alias map and None, or no aliases and why the alias file cannot be read
        (for what can go on without aliases: listings, numbered versions, error messages)."""
        try:
            return self.aliases(name), None
        except CorruptArtifact as exc:
            return {}, str(exc)

    def manifest(self, name: str, version: int) -> Manifest:
        where = f"{name}/{check_version(version)}/{MANIFEST_FILE}"
        try:
            raw = self._read_version_file(name, version, MANIFEST_FILE, MAX_MANIFEST_BYTES)
        except FileNotFoundError as exc:
            raise CorruptArtifact("the version has no manifest", where) from exc
        try:
            return Manifest.model_validate_json(raw)
        except ValueError as exc:
            raise CorruptArtifact(f"invalid manifest: {exc}", where) from exc

    def read(self, name: str, version: int, leave: tuple[str, ...] = ()) -> VersionContent:
        """Every file of a version, each checked against the manifest's sha256; the files
        in `leave` are not read (the caller reads them itself: `mapped_file`)."""
        manifest = self.manifest(name, version)
        if manifest.name != name or manifest.version != version:
            raise CorruptArtifact(
                f"manifest says {manifest.name}@{manifest.version}", f"{name}/{version}"
            )
        files = {rel: self._verified(name, version, rel, digest)
                 for rel, digest in manifest.files.items() if rel not in leave}  # fmt: skip
        return VersionContent(manifest, files)

    @contextlib.contextmanager
    def mapped_file(self, name: str, version: int, rel: str, digest: str) -> Iterator[str | None]:
        """A path that opens exactly the verified file, for a reader that maps it into
        memory (pages shared by every process that maps it); None where the store has no
        local files (the caller reads the bytes instead)."""
        yield None

    def read_file(self, name: str, version: int, rel: str) -> bytes:
        """One file the version's manifest lists (a report image), checked against its
        sha256; FileNotFoundError for anything the manifest does not list."""
        digest = self.manifest(name, version).files.get(rel)
        if digest is None:
            raise FileNotFoundError(f"{name}@{version} has no file {rel!r}")
        return self._verified(name, version, rel, digest)

    def _verified(self, name: str, version: int, rel: str, digest: str) -> bytes:
        where = f"{name}/{version}/{rel}"
        try:
            data = self._read_version_file(name, version, rel)
        except FileNotFoundError as exc:
            raise CorruptArtifact("missing file listed in the manifest", where) from exc
        check_digest(sha256(data), digest, where)
        return data

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
        validate_name(name)
        for alias in aliases:
            validate_name(alias, "alias")
        for rel in files:
            if rel == MANIFEST_FILE or not all(
                part and part not in (".", "..") for part in rel.split("/")
            ):
                raise InvalidName(f"invalid file name {rel!r} in a version")
        manifest = self._put_version(name, fields, files)
        version = manifest.version

        def forward(current: dict[str, int]) -> dict[str, int] | None:
            wanted = set(aliases)
            # Only the publisher of the name's first version makes it production, whichever
            # of several concurrent first publishers gets here first.
            if promote_first and DEFAULT_ALIAS not in current and self.versions(name)[0] == version:
                wanted.add(DEFAULT_ALIAS)
            changed = {a: version for a in wanted if current.get(a, 0) < version}
            return {**current, **changed} if changed else None

        self._update_aliases(name, forward)
        return manifest

    def set_alias(self, name: str, alias: str, version: int) -> int | None:
        """Point alias at version (promote or roll back); returns the previous version."""
        validate_name(alias, "alias")
        if alias == LATEST:
            raise InvalidName("'latest' is implicit and cannot be set")
        check_version(version)
        previous: list[int | None] = []

        def point(current: dict[str, int]) -> dict[str, int]:
            if version not in self.versions(name):
                raise VersionNotFound(name, str(version), self.versions(name), current)
            previous[:] = [current.get(alias)]
            return {**current, alias: version}

        self._update_aliases(name, point)
        return previous[0]

    def remove_alias(self, name: str, alias: str) -> None:
        def drop(current: dict[str, int]) -> dict[str, int]:
            if alias not in current:
                raise VersionNotFound(name, alias, self.versions(name), current)
            return {a: v for a, v in current.items() if a != alias}

        self._update_aliases(name, drop)
