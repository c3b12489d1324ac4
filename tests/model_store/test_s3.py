"""What only the S3 backend has: claims, conditional writes, a prefix, an unreachable server."""

from __future__ import annotations

import json
import os
import socket
import time

import pytest

from model_store import InvalidName, StoreError, load_model, open_store
from model_store.s3 import S3Store
from tests.model_store.conftest import leftovers, publish_tiny, raw_get, raw_put


@pytest.fixture
def s3(s3_server, monkeypatch) -> S3Store:
    for key, value in s3_server.env.items():
        monkeypatch.setenv(key, value)
    return open_store(f"s3://{s3_server.new_bucket()}/shared")


def test_the_artifact_format_is_the_directory_format_under_the_prefix(s3, s3_server):
    publish_tiny(s3, report={"samples.png": b"\x89PNG fake"})
    keys = sorted(
        o["Key"] for o in s3_server.client().list_objects_v2(Bucket=s3.bucket)["Contents"]
    )
    assert keys == ["shared/tiny/.claims/1", "shared/tiny/1/manifest.json",
                    "shared/tiny/1/report/samples.png", "shared/tiny/1/weights.safetensors",
                    "shared/tiny/aliases.json"]  # fmt: skip
    assert json.loads(raw_get(s3, "tiny/aliases.json")) == {"production": 1}


def test_a_version_without_its_manifest_is_invisible_and_its_number_is_skipped(s3):
    """A publisher that died after its claim and files but before the manifest: readers do
    not see the number, the next publisher takes the one after, and `clean` removes it."""
    publish_tiny(s3)
    who = {"host": socket.gethostname(), "pid": 999_999_999, "created": time.time()}
    raw_put(s3, "tiny/.claims/2", json.dumps(who).encode())
    raw_put(s3, "tiny/2/weights.safetensors", b"half")
    assert s3.versions("tiny") == [1]
    assert publish_tiny(s3, seed=1)[0].version == 3
    assert leftovers(s3) == [".claims/2", "2/weights.safetensors"]
    assert s3.clean() == [f"{s3.location}/tiny/2/"]
    assert leftovers(s3) == [] and s3.versions("tiny") == [1, 3]


def test_clean_keeps_a_live_or_foreign_publisher_unless_told_its_age(s3):
    publish_tiny(s3)
    live = {"host": socket.gethostname(), "pid": os.getpid(), "created": time.time()}
    raw_put(s3, "tiny/.claims/2", json.dumps(live).encode())
    elsewhere = {"host": "another-machine", "pid": 1, "created": time.time()}
    raw_put(s3, "tiny/.claims/3", json.dumps(elsewhere).encode())
    assert s3.clean() == []
    time.sleep(1.1)
    assert sorted(s3.clean(min_age_s=1)) == [f"{s3.location}/tiny/2/", f"{s3.location}/tiny/3/"]


def test_files_already_at_a_claimed_number_are_never_overwritten(s3):
    """A copy made outside the protocol (`aws s3 sync` of a local store) put version 2
    without a claim: the publisher that claims 2 leaves it alone and takes 3."""
    publish_tiny(s3)
    raw_put(s3, "tiny/2/weights.safetensors", b"someone else's")
    manifest, _ = publish_tiny(s3, seed=1)
    assert manifest.version == 3
    assert raw_get(s3, "tiny/2/weights.safetensors") == b"someone else's"
    load_model(s3, "tiny@3")


def test_an_alias_update_that_lost_a_race_is_retried_not_lost(s3):
    """Between our read of aliases.json and our conditional write, a rival promotes: our
    write is refused (If-Match), we read again and keep both changes."""
    publish_tiny(s3)
    publish_tiny(s3, seed=1)
    original, rival, reads = s3._aliases_with_etag, open_store(s3.location), []

    def read_then_rival(name):
        got = original(name)
        if not reads:
            rival.set_alias("tiny", "staging", 2)
        reads.append(got)
        return got

    s3._aliases_with_etag = read_then_rival
    s3.set_alias("tiny", "canary", 1)
    assert len(reads) == 2  # the first write was refused, the second read saw the rival's
    assert s3.aliases("tiny") == {"production": 1, "staging": 2, "canary": 1}


def test_a_prefix_and_locations_are_validated():
    with pytest.raises(InvalidName):
        open_store("s3://bucket/../escape")
    with pytest.raises(InvalidName):
        open_store("gs://bucket/models")
    with pytest.raises(InvalidName):
        open_store("s3:///no-bucket")
    assert open_store("s3://bucket/a/b/").location == "s3://bucket/a/b"
    assert open_store("file:///tmp/x").location == "/tmp/x"


def test_an_unreachable_server_is_a_store_error_not_a_hang(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # discard port: refused
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    store = open_store("s3://bucket/models")
    started = time.monotonic()
    with pytest.raises(StoreError, match="bucket/models"):
        store.names()
    assert time.monotonic() - started < 30


def test_following_an_alias_reads_two_objects_however_many_versions(s3):
    """What every replica does every poll: the alias file and the target's manifest, no
    listing (a listing grows with every version, file and replica)."""
    publish_tiny(s3)
    calls: list[str] = []
    client = s3.s3

    class Counting:
        def __getattr__(self, op):
            calls.append(op)
            return getattr(client, op)

    for versions in (1, 6):
        while len(s3.versions("tiny")) < versions:
            publish_tiny(s3, seed=len(s3.versions("tiny")))
        s3.set_alias("tiny", "production", versions)
        s3.s3, calls[:] = Counting(), []
        try:
            assert s3.resolve("tiny@production") == versions
            assert s3.resolve("tiny") == versions  # a bare name is its production alias
        finally:
            s3.s3 = client
        assert calls == ["get_object", "head_object"] * 2, calls
    s3.s3, calls[:] = Counting(), []
    try:  # an alias pointing nowhere still gets the full answer, from the listing
        with pytest.raises(StoreError):
            s3.resolve("tiny@staging")
    finally:
        s3.s3 = client
    assert "list_objects_v2" in calls
