"""What cross-request batching and worker processes change, against real server processes."""

from __future__ import annotations

import base64
import re
import threading
import time

import httpx
import pytest

from model_store import LocalStore
from service.examples import DIGIT_7
from tests import loadgen
from tests.conftest import start_server, stop_server
from tests.e2e.test_operations import ENV, publish


def concurrently(url: str, calls: list[tuple[str, dict]]) -> list[httpx.Response]:
    """Every call at once, each on its own connection, released together."""
    results: list[httpx.Response | None] = [None] * len(calls)
    start = threading.Barrier(len(calls))

    def call(i: int, path: str, body: dict) -> None:
        with httpx.Client(base_url=url, timeout=60) as c:
            c.get("/health")  # connected before the barrier
            start.wait()
            results[i] = c.post(path, json=body)

    threads = [threading.Thread(target=call, args=(i, *c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def metric(text: str, name: str) -> float:
    return sum(
        float(v) for v in re.findall(rf"^{re.escape(name)}(?:{{[^}}]*}})? (\S+)$", text, re.M)
    )


@pytest.fixture(scope="module")
def one_worker(trained_store, tmp_path_factory):
    """One worker, so that concurrent requests meet in one batcher; a wait that lets
    batches fill."""
    log = tmp_path_factory.mktemp("batching") / "server.log"
    env = {"AE_WORKERS": "1", "AE_MAX_BATCH_WAIT_MS": "20"}
    server = start_server(trained_store, log, env)
    yield server
    stop_server(server)


def test_concurrent_requests_batch_and_answer_as_they_do_alone(one_worker):
    calls = [("/sample", {"count": n, "seed": seed}) for seed, n in enumerate([1, 3, 2, 5, 1, 4])]
    calls += [("/cvae-sample", {"labels": [seed % 10], "count_per_label": 2, "seed": seed})
              for seed in range(4)]  # fmt: skip
    calls += [("/reconstruct", {"images": [DIGIT_7] * n}) for n in (1, 2)]
    before = httpx.get(one_worker.url + "/metrics").text
    together = concurrently(one_worker.url, calls * 2)
    after = httpx.get(one_worker.url + "/metrics").text
    batches = metric(after, "ae_inference_batch_requests_count") - metric(
        before, "ae_inference_batch_requests_count"
    )
    assert all(r.status_code == 200 for r in together), [r.text[:200] for r in together]
    assert batches < len(together)  # some forward passes served several requests
    with httpx.Client(base_url=one_worker.url, timeout=60) as c:
        for (path, body), batched in zip(calls * 2, together, strict=True):
            alone = c.post(path, json=body)
            assert alone.json() == batched.json(), (path, body)


def test_a_bad_image_fails_only_its_own_request(one_worker):
    junk = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(range(200))).decode()
    calls = [("/reconstruct", {"images": [DIGIT_7] * 2})] * 6
    calls.insert(3, ("/reconstruct", {"images": [DIGIT_7, junk]}))
    results = concurrently(one_worker.url, calls)
    assert [r.status_code for r in results] == [200] * 3 + [415] + [200] * 3
    assert results[3].json()["errors"][0]["loc"] == ["body", "images", 1]
    alone = httpx.post(one_worker.url + "/reconstruct", json={"images": [DIGIT_7] * 2}).json()
    assert all(r.json() == alone for i, r in enumerate(results) if i != 3)


def test_queue_depth_and_batch_sizes_are_in_metrics(one_worker):
    text = httpx.get(one_worker.url + "/metrics").text
    assert "ae_inference_queue_depth" in text
    assert 'ae_inference_batch_size_bucket{le="64.0",operation="decode"}' in text
    assert 'ae_inference_batch_requests_bucket{le="1.0",operation="reconstruct"}' in text


@pytest.mark.slow
def test_every_worker_follows_a_promote_and_metrics_add_up_across_workers(tmp_path):
    store = LocalStore(tmp_path / "store")
    publish(store, 0)
    server = start_server(store.root, tmp_path / "log", {**ENV, "AE_WORKERS": "2"})
    try:
        for _ in range(20):  # a new connection each: both workers answer some
            assert httpx.post(server.url + "/sample", json={"count": 1}).status_code == 200
        text = httpx.get(server.url + "/metrics").text
        pids = set(re.findall(r'^ae_alias_version{.*pid="(\d+)"', text, re.M))
        assert len(pids) == 2  # one value per live worker
        assert metric(text, 'ae_requests_total{endpoint="/sample",model="digits",'
                            'status="200",version="1"}') == 20  # fmt: skip

        publish(store, 1)
        promoted = time.monotonic()
        store.set_alias("digits", "production", 2)
        while True:
            text = httpx.get(server.url + "/metrics").text
            served = re.findall(r'^ae_alias_version{.*model="digits".*} (\S+)$', text, re.M)
            if served and all(float(v) == 2 for v in served):
                break
            assert time.monotonic() - promoted < 5, f"not every worker switched: {served}"
            time.sleep(0.05)
        versions = {
            httpx.post(server.url + "/sample", json={"count": 1}).json()["version"]
            for _ in range(20)
        }
        assert versions == {2}
    finally:
        stop_server(server)


@pytest.mark.slow
def test_a_few_keep_alive_clients_spread_over_both_workers(tmp_path):
    """Issue 9's 4-connection case: left to the kernel, all four connections often landed
    on one worker. The board each worker keeps (service.accept) shows where they went."""
    store = LocalStore(tmp_path / "store")
    publish(store, 0)
    board = tmp_path / "shared"
    board.mkdir()
    env = {**ENV, "AE_WORKERS": "2", "AE_SHARED_DIR": str(board)}
    server = start_server(store.root, tmp_path / "log", env)
    try:
        splits = []
        # One round first, not counted, so that each worker has answered a first request: a
        # fresh-clone run saw 0/4 and 1/3 in the first two rounds after start and 2/2 in every
        # other (not seen in four runs alone; the cause is not known). What is checked is how
        # a running service spreads keep-alive clients.
        for _ in range(9):
            clients = [httpx.Client(base_url=server.url, timeout=30) for _ in range(4)]
            go = threading.Barrier(4)

            def connect(c: httpx.Client, go: threading.Barrier) -> None:
                go.wait()  # four connections at once, as wrk -c4 opens them
                assert c.post("/sample", json={"count": 1}).status_code == 200

            threads = [threading.Thread(target=connect, args=(c, go)) for c in clients]
            try:
                for t in threads:
                    t.start()
                for t in threads:
                    t.join(30)
                counts = sorted(int.from_bytes((board / f.name).read_bytes()[:8], "little")
                                for f in board.glob("conns_*"))  # fmt: skip
                splits.append(counts)
            finally:
                for c in clients:
                    c.close()
            time.sleep(0.3)  # the workers see the connections close
        splits = splits[1:]
        assert all(len(s) == 2 and min(s) >= 1 for s in splits), splits
        assert splits.count([2, 2]) >= 6, splits
    finally:
        stop_server(server)


@pytest.mark.slow
def test_forked_workers_keep_little_memory_of_their_own(tmp_path):
    """Workers forked from the main process share its imports (torch): each holds little
    private memory (USS). Spawned, as uvicorn does by itself, each held about 350 MiB."""
    store = LocalStore(tmp_path / "store")
    publish(store, 0)
    server = start_server(store.root, tmp_path / "log", {**ENV, "AE_WORKERS": "2"})
    try:
        with server.client() as client:
            for _ in range(20):
                assert client.post("/reconstruct", json={"images": [DIGIT_7]}).status_code == 200
        uss = [loadgen.uss(p) / 2**20 for p in loadgen.process_tree(server.proc.pid)[1:]]
    finally:
        stop_server(server)
    assert len(uss) == 2 and max(uss) < 200, uss
