"""The store on an S3-compatible bucket (AWS S3, MinIO, anything that speaks the S3 API).

    s3://<bucket>/<prefix>/<name>/<version>/manifest.json, weights.safetensors, ...
                           <name>/aliases.json
                           <name>/.claims/<version>

The same artifact format as on disk, and the same promises, built on two conditional
writes the S3 API has (AWS since 2024, MinIO, moto):

* `If-None-Match: *` creates an object only if it does not exist. A publisher first
  creates the claim `<name>/.claims/<n>` for the next number n this way: of several
  racing for n, exactly one succeeds and the others try n+1. Only the owner of a claim
  writes below `<name>/<n>/`, and it writes the manifest last (again with
  `If-None-Match: *`): a version is visible when its manifest exists, so no reader sees a
  half-published one. A publisher that crashes leaves a claim and files without a
  manifest, invisible, which `clean` removes.
* `If-Match: <etag>` replaces an object only if nobody changed it since it was read. The
  alias map is read with its ETag, changed, and written back this way, retried on a
  conflict: no concurrent update is lost, so aliases never move backwards.

Endpoint, region and credentials come from the standard AWS configuration (environment
variables such as AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, and
AWS_ENDPOINT_URL for MinIO and friends; or ~/.aws, or an instance role). Every key is built
from validated names, so no reference can reach outside the prefix.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import socket
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlparse

from model_store.disk import pid_alive, sha256
from model_store.errors import (
    InvalidName,
    ModelNotFound,
    VersionInUse,
    VersionNotFound,
)
from model_store.manifest import MANIFEST_FILE, Manifest
from model_store.refs import validate_name
from model_store.s3_bucket import Bucket, StoreUnavailable
from model_store.store import (
    ALIASES_FILE,
    MAX_MANIFEST_BYTES,
    AliasChange,
    Store,
    check_version,
    dump_aliases,
    parse_aliases,
)

CLAIMS = ".claims"


class S3Store(Store):
    def __init__(self, url: str, client: Any = None) -> None:
        parsed = urlparse(url)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise InvalidName(f"not an s3://bucket/prefix URL: {url!r}")
        self.bucket = parsed.netloc
        parts = [p for p in parsed.path.split("/") if p]
        for part in parts:
            validate_name(part, "store prefix component")
        self.prefix = "".join(f"{p}/" for p in parts)
        self.location = f"s3://{self.bucket}/{self.prefix}".rstrip("/")
        if client is None:
            import boto3
            from botocore.config import Config

            config = Config(
                retries={"max_attempts": 5, "mode": "standard"},
                connect_timeout=5,
                read_timeout=30,
                max_pool_connections=16,
            )
            client = boto3.session.Session().client("s3", config=config)
        self.io = Bucket(client, self.bucket, self.location)

    @property
    def s3(self) -> Any:
        """The boto3 client."""
        return self.io.client

    @s3.setter
    def s3(self, client: Any) -> None:
        self.io.client = client

    def __repr__(self) -> str:
        return f"S3Store({self.location!r})"

    # -- keys, each built from validated names only

    def _model_key(self, name: str) -> str:
        return f"{self.prefix}{validate_name(name)}/"

    def _version_key(self, name: str, version: int) -> str:
        return f"{self._model_key(name)}{check_version(version)}/"

    # -- reading

    def names(self) -> list[str]:
        out = []
        for folder in self.io.subfolders(self.prefix):
            try:
                out.append(validate_name(folder))
            except InvalidName:
                continue
        return sorted(out)

    def _scan(self, name: str) -> tuple[set[int], dict[int, dict[str, Any]]]:
        """The versions with a manifest, and every claim (number -> its object)."""
        base = self._model_key(name)
        visible, claims = set(), {}
        for obj in self.io.keys(base):
            rest = obj["Key"][len(base) :]
            head, _, tail = rest.partition("/")
            if head.isdigit() and tail == MANIFEST_FILE:
                visible.add(int(head))
            elif head == CLAIMS and tail.isdigit():
                claims[int(tail)] = obj
        return visible, claims

    def versions(self, name: str) -> list[int]:
        visible, claims = self._scan(name)
        if not visible and not claims and self.io.get(self._model_key(name) + ALIASES_FILE) is None:
            raise ModelNotFound(name, self.names())
        return sorted(visible)

    def has_version(self, name: str, version: int) -> bool:
        return self.io.exists(self._version_key(name, version) + MANIFEST_FILE)

    def _aliases_with_etag(self, name: str) -> tuple[dict[str, int], str | None]:
        key = self._model_key(name) + ALIASES_FILE
        got = self.io.get(key, MAX_MANIFEST_BYTES)
        if got is None:
            return {}, None
        return parse_aliases(got[0], self.io.url(key)), got[1]

    def aliases(self, name: str) -> dict[str, int]:
        return self._aliases_with_etag(name)[0]

    def _read_version_file(
        self, name: str, version: int, rel: str, limit: int | None = None
    ) -> bytes:
        base = self._version_key(name, version)
        got = self.io.get(base + rel, limit)
        if got is None:
            if (
                rel == MANIFEST_FILE
                or self.io.get(base + MANIFEST_FILE, MAX_MANIFEST_BYTES) is None
            ):
                raise VersionNotFound(
                    name, str(version), self.versions(name), *self.readable_aliases(name)
                )
            raise FileNotFoundError(self.io.url(base + rel))
        return got[0]

    # -- writing

    def _claim(self, name: str) -> int:
        """Own the next free version number (max of versions and claims, plus one)."""
        who = {"host": socket.gethostname(), "pid": os.getpid(), "created": time.time(),
               "token": secrets.token_hex(6)}  # fmt: skip
        body = json.dumps(who).encode()
        while True:
            visible, claims = self._scan(name)
            version = max(visible | set(claims), default=0) + 1
            if self.io.put(f"{self._model_key(name)}{CLAIMS}/{version}", body, IfNoneMatch="*"):
                return version

    def _put_version(
        self, name: str, fields: dict[str, Any], files: Mapping[str, bytes]
    ) -> Manifest:
        digests = {rel: sha256(data) for rel, data in files.items()}
        # Invalid fields fail here, before a claim is taken.
        Manifest.model_validate({**fields, "name": name, "version": 1, "files": digests})
        while True:
            version = self._claim(name)
            manifest = Manifest.model_validate(
                {**fields, "name": name, "version": version, "files": digests}
            )
            base = self._version_key(name, version)
            # Each file only if absent: only a writer outside this protocol (a copy made
            # with `aws s3 sync` while we published, a half-finished `clean`) can have put
            # one at a number we claimed; leave it alone and claim the next.
            if not all(
                self.io.put(base + rel, data, IfNoneMatch="*") for rel, data in files.items()
            ):
                continue
            # The manifest last: its appearance is what makes the version visible, whole.
            if self.io.put(base + MANIFEST_FILE, manifest.model_dump_json(indent=2).encode(),
                         IfNoneMatch="*"):  # fmt: skip
                return manifest

    def _update_aliases(self, name: str, change: AliasChange) -> None:
        key = self._model_key(name) + ALIASES_FILE
        for attempt in range(100):
            current, etag = self._aliases_with_etag(name)
            new = change(current)
            if new is None:
                return
            condition = {"IfMatch": etag} if etag else {"IfNoneMatch": "*"}
            if self.io.put(key, dump_aliases(new), **condition):
                return
            time.sleep(random.uniform(0, 0.01 * min(attempt + 1, 20)))  # noqa: S311 (backoff)
        raise StoreUnavailable(f"{self.location}: aliases of {name} kept changing under us")

    def delete(self, name: str, version: int) -> None:
        """The manifest goes first, so the version disappears whole; then its files and claim.
        (An alias set to it by a promote racing with this delete resolves to nothing.)"""
        base = self._version_key(name, version)
        if self.io.get(base + MANIFEST_FILE, MAX_MANIFEST_BYTES) is None:
            raise VersionNotFound(name, str(version), self.versions(name), self.aliases(name))
        holding = sorted(a for a, v in self.aliases(name).items() if v == version)
        if holding:
            raise VersionInUse(f"{name}@{version} is still aliased by {', '.join(holding)}")
        self.io.delete_keys([base + MANIFEST_FILE])
        rest = [o["Key"] for o in self.io.keys(base)]
        self.io.delete_keys([*rest, f"{self._model_key(name)}{CLAIMS}/{version}"])

    def clean(self, min_age_s: float = 0.0) -> list[str]:
        """Remove the files and claims of versions whose manifest never came: those whose
        publisher ran on this host and is dead, and any claim older than `min_age_s` (when
        above zero; a publisher on another machine cannot be checked otherwise)."""
        removed = []
        now, host = time.time(), socket.gethostname()
        for name in self.names():
            visible, claims = self._scan(name)
            for version, obj in sorted(claims.items()):
                if version in visible:
                    continue
                got = self.io.get(obj["Key"], MAX_MANIFEST_BYTES)
                try:
                    claim = json.loads(got[0]) if got else {}
                except ValueError:
                    claim = {}
                dead = claim.get("host") == host and not pid_alive(int(claim.get("pid", 0)))
                old = min_age_s > 0 and now - obj["LastModified"].timestamp() > min_age_s
                if not (dead or old):
                    continue
                base = self._version_key(name, version)
                keys = [o["Key"] for o in self.io.keys(base)]
                self.io.delete_keys([*keys, obj["Key"]])
                removed.append(self.io.url(base))
        return removed
