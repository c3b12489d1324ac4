"""What only the directory backend has: symbolic links and staging directories."""

from __future__ import annotations

import os

import pytest

from model_store import CorruptArtifact, LocalStore, load_model
from tests.model_store.conftest import publish_tiny


@pytest.fixture
def store(tmp_path) -> LocalStore:
    return LocalStore(tmp_path / "store")


def test_a_symlink_in_the_store_is_refused(store, tmp_path):
    publish_tiny(store)
    outside = tmp_path / "outside.safetensors"
    weights = store.root / "tiny" / "1" / "weights.safetensors"
    outside.write_bytes(weights.read_bytes())
    weights.unlink()
    weights.symlink_to(outside)
    with pytest.raises(CorruptArtifact, match="symbolic links"):
        load_model(store, "tiny")
    (store.root / "linked").symlink_to(store.root / "tiny")
    assert "linked" not in store.names()


def test_clean_keeps_the_staging_directory_of_a_live_publisher(store):
    publish_tiny(store)
    live = store.root / "tiny" / f".publish-{os.getpid()}-abc"
    live.mkdir()
    dead = store.root / "tiny" / ".publish-999999999-abc"
    dead.mkdir()
    assert store.clean() == [str(dead)]
    assert live.exists()
