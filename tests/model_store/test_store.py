"""The store's promises, checked on every backend (the `store` fixture is a local directory
and a bucket on a real S3 server)."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import pickle
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import safetensors.torch
import torch

from autoencoders import build_model
from model_store import (
    CorruptArtifact,
    InvalidName,
    LocalStore,
    ModelNotFound,
    Store,
    VersionInUse,
    VersionNotFound,
    WriteRefused,
    load_model,
    load_version,
    open_store,
    parse_ref,
    publish_model,
)
from tests.model_store.conftest import TINY_VAE, fields, leftovers, publish_tiny, raw_get, raw_put

ROOT = Path(__file__).resolve().parents[2]


def test_publish_then_load_gives_identical_tensors(store):
    manifest, model = publish_tiny(store)
    loaded = load_model(store, "tiny")
    assert manifest.version == 1 and loaded.manifest.version == 1
    original = model.state_dict()
    for key, tensor in loaded.module.state_dict().items():
        assert torch.equal(tensor, original[key]), key
    z = torch.randn(2, 4)
    assert torch.equal(loaded.module.decode(z), model.eval().decode(z))


def test_loaded_weights_are_pages_of_the_file_on_a_local_store(store):
    """Local stores map the weights (copy-on-write) instead of copying them: every process
    that loads a version shares its pages. A bucket's weights are read as bytes."""
    publish_tiny(store)
    loaded = load_model(store, "tiny")
    maps = Path("/proc/self/maps").read_text()
    mapped = [line for line in maps.splitlines() if line.endswith("/tiny/1/weights.safetensors")]
    assert bool(mapped) == isinstance(store, LocalStore), mapped
    if mapped:  # private (p), never written back to the file
        assert all(line.split()[1].endswith("p") for line in mapped)
        with torch.inference_mode():  # inference reads them; a write would not reach the file
            assert torch.isfinite(loaded.module.decode(torch.zeros(1, 4))).all()


def test_manifest_records_every_file_with_its_sha256(store):
    manifest, _ = publish_tiny(store, report={"samples.png": b"\x89PNG fake"})
    assert set(manifest.files) == {"weights.safetensors", "report/samples.png"}
    on_disk = json.loads(raw_get(store, "tiny/1/manifest.json"))
    assert on_disk["files"] == manifest.files
    assert on_disk["schema_version"] == 1 and on_disk["family"] == "vae"


def test_publish_twice_gives_two_versions_and_production_stays_on_the_first(store):
    publish_tiny(store)
    second, _ = publish_tiny(store, seed=1)
    assert second.version == 2
    assert store.versions("tiny") == [1, 2]
    assert store.aliases("tiny") == {"production": 1}
    assert store.resolve(parse_ref("tiny")) == 1
    assert store.resolve(parse_ref("tiny@latest")) == 2
    assert store.resolve(parse_ref("tiny@2")) == 2


def test_production_goes_to_version_1_when_version_2_reaches_the_alias_lock_first(store):
    """Two first publishers race: version 2's publisher takes the alias lock while version 1's
    is about to. Production must still be version 1."""
    original, raced = store._update_aliases, []

    def update_after_a_rival(name, change):
        if not raced:  # version 1's publisher, first time here: the rival gets in first
            raced.append("rival")
            raced[0] = publish_tiny(store, seed=1)[0].version
        return original(name, change)

    store._update_aliases = update_after_a_rival
    first, _ = publish_tiny(store)
    assert (first.version, raced) == (1, [2])
    assert store.aliases("tiny") == {"production": 1}


def test_first_version_is_not_promoted_when_told_so(store):
    publish_tiny(store, promote_first=False, aliases=("staging",))
    assert store.aliases("tiny") == {"staging": 1}


def test_promote_and_roll_back_move_the_alias(store):
    publish_tiny(store)
    publish_tiny(store, seed=1)
    assert store.set_alias("tiny", "production", 2) == 1
    assert load_model(store, "tiny").manifest.version == 2
    assert store.set_alias("tiny", "production", 1) == 2
    assert load_model(store, "tiny@production").manifest.version == 1


def test_unknown_model_and_version_list_what_exists(store):
    publish_tiny(store)
    with pytest.raises(ModelNotFound) as err:
        store.resolve(parse_ref("nope"))
    assert err.value.available == ["tiny"]
    with pytest.raises(VersionNotFound) as err:
        store.resolve(parse_ref("tiny@7"))
    assert err.value.versions == [1] and err.value.aliases == {"production": 1}
    with pytest.raises(VersionNotFound):
        store.resolve(parse_ref("tiny@staging"))


def test_delete_refuses_an_aliased_version_and_removes_others(store):
    publish_tiny(store)
    publish_tiny(store, seed=1)
    with pytest.raises(VersionInUse, match="production"):
        store.delete("tiny", 1)
    store.delete("tiny", 2)
    assert store.versions("tiny") == [1]
    assert leftovers(store) == []


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("../etc", id="dotdot"),
        pytest.param("a/b", id="slash"),
        pytest.param("a\\b", id="backslash"),
        pytest.param("/abs", id="absolute"),
        pytest.param("%2e%2e%2f", id="percent-encoded"),
        pytest.param("a..b", id="inner-dotdot"),
        pytest.param("", id="empty"),
        pytest.param("UPPER", id="uppercase"),
        pytest.param("x" * 65, id="too-long"),
    ],
)
def test_names_that_could_escape_the_root_are_refused(store, name):
    with pytest.raises(InvalidName):
        parse_ref(name)
    with pytest.raises(InvalidName):
        publish_tiny(store, name=name)
    with pytest.raises(InvalidName):
        parse_ref(f"ok@{name}") if name else parse_ref("ok@..")


def test_a_flipped_byte_in_the_weights_fails_loading_naming_the_file(store):
    publish_tiny(store)
    data = bytearray(raw_get(store, "tiny/1/weights.safetensors"))
    data[len(data) // 2] ^= 0x01
    raw_put(store, "tiny/1/weights.safetensors", bytes(data))
    with pytest.raises(CorruptArtifact, match=r"weights\.safetensors") as err:
        load_model(store, "tiny")
    assert "sha256" in str(err.value)


def _replace_weights(store: Store, data: bytes) -> None:
    """Swap the weights of tiny@1 and fix the manifest's checksum, as an attacker with write
    access to the store could: only the content checks stand in the way."""
    raw_put(store, "tiny/1/weights.safetensors", data)
    manifest = json.loads(raw_get(store, "tiny/1/manifest.json"))
    import hashlib

    manifest["files"]["weights.safetensors"] = hashlib.sha256(data).hexdigest()
    raw_put(store, "tiny/1/manifest.json", json.dumps(manifest).encode())


class _SideEffect:
    def __reduce__(self):
        return (os.system, (f"touch {os.environ.get('PICKLE_MARKER', '/tmp/pickle-ran')}",))


def test_a_pickle_payload_is_refused_and_never_runs(store, tmp_path, monkeypatch):
    marker = tmp_path / "pickle-ran"
    monkeypatch.setenv("PICKLE_MARKER", str(marker))
    publish_tiny(store)
    _replace_weights(store, pickle.dumps({"state": _SideEffect()}))
    with pytest.raises(CorruptArtifact, match="not a valid safetensors"):
        load_model(store, "tiny")
    assert not marker.exists()


def _state(seed: int = 0) -> dict[str, torch.Tensor]:
    from autoencoders import build_model
    from tests.model_store.conftest import TINY_VAE

    torch.manual_seed(seed)
    return dict(build_model(TINY_VAE).state_dict())


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        pytest.param(
            lambda s: {k: v for k, v in s.items() if k != "to_mu.bias"}, "missing", id="missing-key"
        ),
        pytest.param(lambda s: {**s, "extra": torch.zeros(1)}, "unexpected", id="extra-key"),
        pytest.param(lambda s: {**s, "to_mu.bias": torch.zeros(5)}, "expected", id="wrong-shape"),
        pytest.param(
            lambda s: {**s, "to_mu.bias": torch.zeros(4, dtype=torch.int32)},
            "expected",
            id="int-dtype",
        ),
        pytest.param(
            lambda s: {**s, "to_mu.bias": torch.full((4,), float("nan"))}, "NaN", id="nan"
        ),
        pytest.param(
            lambda s: {**s, "to_mu.bias": torch.full((4,), float("inf"))},
            "NaN or infinite",
            id="inf",
        ),
    ],
)
def test_valid_safetensors_that_do_not_fit_the_model_are_refused(store, mutate, message):
    publish_tiny(store)
    _replace_weights(store, safetensors.torch.save(mutate(_state())))
    with pytest.raises(CorruptArtifact, match=message):
        load_model(store, "tiny")


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(lambda d: d[: len(d) // 2], id="truncated"),
        pytest.param(lambda d: (2**60).to_bytes(8, "little") + d[8:], id="huge-header"),
        pytest.param(lambda d: b"", id="empty"),
    ],
)
def test_broken_safetensors_files_are_refused(store, data):
    publish_tiny(store)
    _replace_weights(store, data(safetensors.torch.save(_state())))
    with pytest.raises(CorruptArtifact):
        load_model(store, "tiny")


def test_weights_of_another_seed_are_caught_by_the_probe(store):
    publish_tiny(store)
    _replace_weights(store, safetensors.torch.save(_state(seed=1)))
    with pytest.raises(CorruptArtifact, match="probe"):
        load_model(store, "tiny")


def test_an_alias_file_naming_a_path_is_refused(store):
    publish_tiny(store)
    raw_put(store, "tiny/aliases.json", json.dumps({"production": "../x"}).encode())
    with pytest.raises(CorruptArtifact, match="version number"):
        store.aliases("tiny")
    with pytest.raises(VersionNotFound, match="version number"):
        store.resolve(parse_ref("tiny"))


@pytest.mark.parametrize("broken", [b"{not json", b"[1, 2]", b'{"production": "../x"}'])
def test_an_unreadable_alias_file_fails_only_aliases_and_names_the_file(store, broken):
    publish_tiny(store)
    publish_tiny(store, seed=1)
    raw_put(store, "tiny/aliases.json", broken)
    assert store.resolve(parse_ref("tiny@1")) == 1  # numbers and latest need no alias
    assert store.resolve(parse_ref("tiny@latest")) == 2
    for ref in ("tiny@staging", "tiny@production", "tiny"):
        with pytest.raises(VersionNotFound, match=r"aliases\.json") as caught:
            store.resolve(parse_ref(ref))
        assert "numbered versions and 'latest' still work" in str(caught.value)
    with pytest.raises(VersionNotFound, match=r"aliases\.json"):
        store.resolve(parse_ref("tiny@7"))
    aliases, problem = store.readable_aliases("tiny")
    assert aliases == {} and "aliases.json" in problem


def _publish_in_process(location: str, barrier, seed: int, out) -> None:
    barrier.wait()
    manifest, _ = publish_tiny(open_store(location), seed=seed)
    out.put(manifest.version)


@pytest.mark.slow
def test_concurrent_publishers_get_distinct_versions(store):
    ctx = mp.get_context("spawn")
    n = 4
    barrier, out = ctx.Barrier(n), ctx.Queue()
    procs = [
        ctx.Process(target=_publish_in_process, args=(store.location, barrier, i, out))
        for i in range(n)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    versions = sorted(out.get(timeout=5) for _ in range(n))
    assert versions == [1, 2, 3, 4]
    assert store.versions("tiny") == [1, 2, 3, 4]
    assert store.aliases("tiny") == {"production": 1}
    for v in versions:
        load_version(store, "tiny", v)  # every version complete and verified


def _publish_staging(location: str, barrier, seed: int, rounds: int) -> None:
    store = open_store(location)
    barrier.wait()
    extra = {"family": "vae", "config": {"family": "vae"}, "torch_version": "x"}
    for i in range(rounds):
        store.publish("tiny", {**fields(), **extra}, {"weights.safetensors": bytes([seed, i])},
                      aliases=("staging",))  # fmt: skip


@pytest.mark.slow
def test_racing_publishers_never_move_an_alias_backwards(store):
    """Battery 23: four processes publish five versions each, every one asking for
    `staging`; a reader polling the alias file the whole time never sees it go back, and it
    ends on the newest version."""
    ctx = mp.get_context("spawn")
    n, rounds = 4, 5
    barrier = ctx.Barrier(n)
    procs = [ctx.Process(target=_publish_staging, args=(store.location, barrier, i, rounds))
             for i in range(n)]  # fmt: skip
    for p in procs:
        p.start()
    seen = []
    while any(p.is_alive() for p in procs):
        try:
            seen.append(store.aliases("tiny").get("staging", 0))
        except ModelNotFound:
            pass
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    seen.append(store.aliases("tiny")["staging"])
    assert store.versions("tiny") == list(range(1, n * rounds + 1))
    assert len(set(seen)) > 2  # the reader saw it move while the publishers raced
    assert seen == sorted(seen), seen
    assert seen[-1] == n * rounds


PUBLISH_FOREVER = """
import sys, os
from model_store import open_store
from tests.model_store.conftest import fields
store = open_store(sys.argv[1])
blob = os.urandom(8 << 20)
print("started", flush=True)
while True:
    extra = {"family": "vae", "config": {"family": "vae"}, "torch_version": "x"}
    files = {"weights.safetensors": blob, "report/a.png": blob[:9]}
    store.publish("tiny", {**fields(), **extra}, files)
"""


@pytest.mark.slow
def test_a_publish_killed_at_random_points_never_leaves_a_visible_partial_version(store):
    rng = random.Random(0)
    for _ in range(6):
        proc = subprocess.Popen(
            [sys.executable, "-c", PUBLISH_FOREVER, store.location],
            cwd=ROOT, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert proc.stdout.readline().strip() == "started"
        time.sleep(rng.uniform(0.05, 0.6))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        for v in store.versions("tiny") if "tiny" in store.names() else []:
            store.read("tiny", v)  # every visible version is whole: all checksums match
    assert leftovers(store), "no publish was killed midway: the test proved nothing"
    removed = store.clean()
    assert removed
    assert leftovers(store) == []
    for v in store.versions("tiny"):
        store.read("tiny", v)  # clean touched no finished version


def test_publish_fields_are_validated(store):
    with pytest.raises(ValueError):
        store.publish("tiny", {**fields(), "family": "vae"}, {"../escape": b"x"})
    assert store.names() == [] and leftovers(store) == []


def test_a_probe_with_another_number_of_projections_is_refused(store):
    publish_tiny(store)
    manifest = json.loads(raw_get(store, "tiny/1/manifest.json"))
    manifest["probe"]["projections"] = manifest["probe"]["projections"][:3]
    raw_put(store, "tiny/1/manifest.json", json.dumps(manifest).encode())
    with pytest.raises(CorruptArtifact, match="probe has 3 projections"):
        load_model(store, "tiny")


@pytest.mark.parametrize(
    ("latents", "message"),
    [
        pytest.param({"directions_plain": torch.zeros(1, 4)}, "lack 'directions_corrected'",
                     id="missing-corrected-direction"),
        pytest.param({"directions_plain": torch.zeros(1, 4), "directions_corrected": torch.zeros(2, 4)},
                     r"directions_corrected: expected float \(1, 4\)", id="wrong-shape"),
        pytest.param({"directions_plain": torch.zeros(1, 4, dtype=torch.int32),
                      "directions_corrected": torch.zeros(1, 4)}, "expected float", id="integer-dtype"),
        pytest.param({"directions_plain": torch.zeros(1, 4), "directions_corrected": torch.zeros(1, 4),
                      "prior_mean": torch.zeros(4)}, "lack 'prior_scale_tril'", id="half-a-prior"),
    ],
)  # fmt: skip
def test_latents_are_checked_like_weights(store, latents, message):
    torch.manual_seed(0)
    model = build_model(TINY_VAE)
    publish_model(store, "tiny", model, TINY_VAE, {**fields(), "attribute_names": ["Smiling"]},
                  latents=latents)  # fmt: skip
    with pytest.raises(CorruptArtifact, match=message):
        load_model(store, "tiny")


def test_a_full_disk_refuses_a_publish_and_a_promote_with_nothing_changed(tmp_path, monkeypatch):
    """ENOSPC mid-publish or mid-promote is a WriteRefused naming the store and the reason,
    not a bare OSError; no version, no staging directory, no half-written alias file and no
    alias change is left behind."""
    import model_store.local

    store = LocalStore(tmp_path / "store")
    publish_tiny(store)
    real, calls = model_store.local.write_durably, []

    def full_after_one(path, data):
        calls.append(path)
        if len(calls) == 1:
            return real(path, data)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data[: len(data) // 2])  # what a full disk leaves: part of the file
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(model_store.local, "write_durably", full_after_one)
    with pytest.raises(WriteRefused, match=r"cannot write 'tiny' into .*: No space left on device"):
        publish_tiny(store, seed=1)
    assert len(calls) == 2  # one file written, the next refused
    assert store.versions("tiny") == [1] and leftovers(store) == []
    before = store.aliases("tiny")
    calls.clear()
    store.set_alias("tiny", "staging", 1)  # one write: the disk still takes it
    with pytest.raises(WriteRefused, match="No space left on device"):
        store.set_alias("tiny", "canary", 1)
    assert store.aliases("tiny") == {**before, "staging": 1}
    assert leftovers(store) == []
