"""The directory the workers share: what a run starts from and what it leaves."""

from __future__ import annotations

import os

from service.shared_dir import CONNECTIONS, READY, SharedDir


def test_a_given_directory_is_cleared_of_an_earlier_run_and_kept(tmp_path):
    given = tmp_path / "shared"
    given.mkdir()
    stale = ["counter_123.db", "gauge_livesum_123.db", "ready_123", "conns_123"]
    for name in [*stale, "notes.txt"]:
        (given / name).write_text("x")
    with SharedDir.for_run(given) as shared:
        assert sorted(p.name for p in given.iterdir()) == ["notes.txt"]  # a dead worker's
        shared.file(READY).touch()  # marker no longer counts as ready
        shared.file(CONNECTIONS, 77).touch()
        assert shared.pids(READY) == [os.getpid()] and shared.pids(CONNECTIONS) == [77]
    assert given.is_dir()


def test_a_fresh_directory_is_removed_at_exit(tmp_path):
    with SharedDir.for_run(None) as shared:
        shared.file(READY).touch()
        made = shared.path
        assert made.is_dir()
    assert not made.exists()
