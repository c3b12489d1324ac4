"""While a trainer trains a model into the store, the API says so: 503 with Retry-After and
the epoch (its routes and GET /models/{name}), /models lists it with its progress, /ready
names it and stays green; once the trainer is gone, the model is "not found" again (a
crashed trainer leaves no ghost)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import httpx

from tests.conftest import ROOT, start_server, stop_server


def test_a_model_being_trained_answers_503_with_its_progress(trained_store, tmp_path):
    store = tmp_path / "store"
    shutil.copytree(trained_store, store)
    trainer = subprocess.Popen(
        [sys.executable, "-m", "trainer", "--store", str(store), "--quiet", "train",
         "--name", "faces-new", "--family", "conv-ae", "--dataset", "synthetic-faces:600",
         "--epochs", "200", "--iwae-k", "0"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    server = start_server(store, tmp_path / "server.log")
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:  # the record appears once the data is ready
                listed = client.get("/models").json()["training"]
                if listed and listed[0]["epoch"] >= 1:
                    break
                time.sleep(0.5)
            assert listed and listed[0]["name"] == "faces-new" and listed[0]["epochs"] == 200
            assert listed[0]["eta_s"] > 0 and "epoch" in listed[0]["detail"]
            r = client.post("/sample", json={"model": "faces-new"})
            assert r.status_code == 503, r.text
            assert "faces-new is being trained (epoch" in r.json()["detail"]
            assert 2 <= int(r.headers["retry-after"]) <= 60
            detail = client.get("/models/faces-new")  # what a newcomer looks up first
            assert detail.status_code == 503 and int(detail.headers["retry-after"]) >= 2
            assert "faces-new is being trained (epoch" in detail.json()["detail"]
            assert client.get("/models/nope").status_code == 404
            ready = client.get("/ready")
            assert ready.status_code == 200 and ready.json()["training"] == ["faces-new"]
            assert client.post("/sample", json={"model": "nope"}).status_code == 404

            os.killpg(trainer.pid, signal.SIGKILL)  # a crash: its record stays on disk
            trainer.wait(30)
            r = client.post("/sample", json={"model": "faces-new"})
            assert r.status_code == 404 and "faces-new" not in r.json()["available"]
            assert client.get("/models/faces-new").status_code == 404
            assert client.get("/models").json()["training"] == []
    finally:
        if trainer.poll() is None:
            os.killpg(trainer.pid, signal.SIGKILL)
        stop_server(server)
