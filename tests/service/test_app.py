"""The app in process (httpx's ASGITransport, the lifespan run as uvicorn runs it): the error
table, the limits and the deadline, in milliseconds instead of a server process each. What
needs a process (signals, workers, sockets) stays in tests/e2e."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator

import httpx
import numpy as np
import pytest
import torch

from model_store import LocalStore
from service import inference
from service.app import create_app
from service.settings import Settings
from tests.images import png_b64
from tests.model_store.conftest import publish_tiny

PROBLEM = "application/problem+json"


def png(side: int = 28, value: int = 128) -> str:
    return png_b64(np.full((side, side), value, dtype=np.uint8))


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> LocalStore:
    store = LocalStore(tmp_path_factory.mktemp("store"))
    publish_tiny(store)
    return store


def app_for(store: LocalStore, **settings):
    base = {"store_dir": str(store.root), "default_model": "tiny", "cvae_model": "tiny",
            "faces_model": "tiny", "workers": 1, "torch_threads": 1, "alias_poll_s": 0.05}  # fmt: skip
    return create_app(Settings(**{**base, **settings}))


async def started(app) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            for _ in range(500):  # the models load in the background
                if (await client.get("/ready")).status_code == 200:
                    break
                await asyncio.sleep(0.01)
            yield client


def run(app, check) -> None:
    async def main() -> None:
        async for client in started(app):
            await check(client, app.state.service)

    asyncio.run(main())


def is_problem(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    return body


def test_the_error_table(store):
    async def check(client: httpx.AsyncClient, _state) -> None:
        ok = await client.post("/reconstruct", json={"images": [png()]})
        assert ok.status_code == 200 and len(ok.json()["images"]) == 1
        body = is_problem(await client.post("/reconstruct",
                                            json={"model": "nope", "images": [png()]}), 404)  # fmt: skip
        assert "tiny" in body["detail"]  # says what exists
        body = is_problem(await client.post("/reconstruct", json={"images": ["%%%"]}), 415)
        assert body["errors"][0]["loc"][:2] == ["body", "images"]
        is_problem(await client.post("/reconstruct", json={"images": [png()], "bogus": 1}), 422)
        is_problem(await client.post("/reconstruct", json={"images": [png()], "version": 9}), 404)
        body = is_problem(await client.get("/reconstruct"), 405)
        assert "POST" in body["detail"]
        is_problem(await client.post("/reconstruct", content=b"{", headers={
            "content-type": "application/json"}), 400)  # fmt: skip
        is_problem(await client.post("/reconstruct", content=b"hi", headers={
            "content-type": "text/plain"}), 415)  # fmt: skip
        body = is_problem(await client.post("/cvae-sample", json={"labels": [1]}), 422)
        assert "tiny" in body["detail"]  # not conditional: says so
        is_problem(await client.get("/models/nope"), 404)

    run(app_for(store), check)


def test_a_json_body_that_validates_skips_the_router_and_gets_the_routers_answer(store):
    """service.dialects hands a valid JSON body to the route's own function; what it answers
    is what FastAPI's router answers for the same request (here: the same images sent as a
    form, which goes through the router), and an invalid body still gets the router's 422."""
    import base64

    app = app_for(store, api_key="k")
    key = {"x-api-key": "k"}

    async def check(client: httpx.AsyncClient, _state) -> None:
        import fastapi.routing

        real, routed = fastapi.routing.solve_dependencies, []

        async def counting(*args, **kwargs):
            routed.append(kwargs["request"].url.path)
            return await real(*args, **kwargs)

        fastapi.routing.solve_dependencies = counting  # what FastAPI's router runs per request
        try:
            fast = await client.post("/reconstruct", json={"images": [png(value=200)]}, headers=key)
            assert fast.status_code == 200 and routed == []
            form = await client.post("/reconstruct", headers=key, files={
                "images": ("d.png", base64.b64decode(png(value=200)), "image/png")})  # fmt: skip
            assert form.status_code == 200 and routed == ["/reconstruct"]
            assert fast.json() == form.json()
            invalid = await client.post("/reconstruct", json={"images": []}, headers=key)
            body = is_problem(invalid, 422)
            assert body["errors"][0]["loc"] == ["body", "images"] and len(routed) == 2
        finally:
            fastapi.routing.solve_dependencies = real
        denied = await client.post("/reconstruct", json={"images": [png()]})
        is_problem(denied, 401)  # a valid body is still checked for its key
        metrics = (await client.get("/metrics", headers=key)).text
        assert 'endpoint="/reconstruct"' in metrics

    run(app, check)


def test_a_body_past_the_limit_gets_413_and_an_image_past_the_pixel_limit_too(store):
    async def check(client: httpx.AsyncClient, _state) -> None:
        big = {"images": [png()] * 40}  # about 4 KB
        is_problem(await client.post("/reconstruct", json=big), 413)
        body = is_problem(await client.post("/reconstruct", json={"images": [png(60)]}), 413)
        assert "pixels" in body["detail"]

    run(app_for(store, max_body_bytes=3000, max_image_pixels=3000), check)


def hold_inference(state, gate: threading.Event) -> asyncio.Future:
    """A job that holds the worker's inference thread until `gate` is set: the delay a slow
    machine or a long forward pass would make, made on purpose."""
    return asyncio.ensure_future(state.batcher.submit(
        state.registry.get("tiny"), inference.decode, 1,
        lambda: (gate.wait(5), torch.zeros(1, 4), None)[1:], lambda out: out))  # fmt: skip


def test_past_max_requests_a_request_gets_503_with_retry_after_at_once(store):
    gate = threading.Event()

    async def check(client: httpx.AsyncClient, state) -> None:
        blocker = hold_inference(state, gate)
        held = asyncio.ensure_future(client.post("/reconstruct", json={"images": [png()]}))
        await asyncio.sleep(0.2)  # it is in flight, waiting behind the blocker
        refused = await client.post("/reconstruct", json={"images": [png()]})
        body = is_problem(refused, 503)
        assert refused.headers["retry-after"] == "1" and "in flight" in body["detail"]
        gate.set()
        assert (await held).status_code == 200
        await blocker

    run(app_for(store, max_requests=1), check)


def test_a_request_past_its_deadline_gets_504_and_its_forward_pass_is_not_run(store):
    gate = threading.Event()

    async def check(client: httpx.AsyncClient, state) -> None:
        blocker = hold_inference(state, gate)
        await asyncio.sleep(0.05)  # the inference thread is held by the blocker
        ran: list[int] = []
        real = state.batcher.models.graph

        def counting(model, operation):
            graph = real(model, operation)
            return lambda *a: (ran.append(1), graph(*a))[1]

        state.batcher.models.graph = counting
        try:
            late = await client.post("/reconstruct", json={"images": [png()]})
            body = is_problem(late, 504)
            assert "deadline" in body["detail"]
        finally:
            gate.set()
            await blocker
            await asyncio.sleep(0.1)
            state.batcher.models.graph = real
        assert ran == [1]  # the blocker alone: the late request's rows never ran
        metrics = (await client.get("/metrics")).text
        assert "ae_deadline_exceeded_total 1.0" in metrics

    run(app_for(store, request_timeout_s=0.3), check)
