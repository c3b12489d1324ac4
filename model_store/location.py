"""One string names a store: a directory, a `file://` URL or `s3://bucket/prefix`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from urllib.parse import unquote, urlparse

from model_store.errors import InvalidName
from model_store.local import LocalStore
from model_store.store import Store

HELP = "a directory, file:///absolute/path or s3://bucket/prefix"
# The store every entry point uses unless told otherwise (AE_STORE_DIR, --store).
DEFAULT_STORE = "models"
STORE_VARIABLE = "AE_STORE_DIR"


def default_store(environ: Mapping[str, str]) -> str:
    """The CLIs' default store, given their environment: $AE_STORE_DIR, else DEFAULT_STORE
    (the service's settings read the same variable). The entry points own the environment:
    no library module reads it."""
    return environ.get(STORE_VARIABLE, DEFAULT_STORE)


def is_url(location: str | os.PathLike[str]) -> bool:
    return "://" in str(location)


def open_store(location: str | os.PathLike[str]) -> Store:
    """The store at `location` (HELP); S3's endpoint and credentials come from the standard
    AWS variables (AWS_ENDPOINT_URL for MinIO and other S3-compatible servers)."""
    text = str(location)
    if text.startswith("s3://"):
        from model_store.s3 import S3Store  # boto3: only S3 stores need it

        return S3Store(text)
    if text.startswith("file://"):
        parsed = urlparse(text)
        if parsed.netloc not in ("", "localhost"):
            raise InvalidName(f"a file:// store URL names no host: {text!r}")
        return LocalStore(unquote(parsed.path))
    if is_url(text):
        raise InvalidName(f"unsupported store {text!r}: use {HELP}")
    return LocalStore(text)
