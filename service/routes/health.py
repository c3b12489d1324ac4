"""Liveness and readiness: open without a key, answered on the event loop (no inference)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from service.catalog_schemas import Health, Readiness
from service.problems import problem
from service.schemas import Problem
from service.state import State

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health, summary="Liveness: the process answers")
async def health() -> Health:
    return Health(status="ok")


class HeadProbes:
    """Load balancers probe with HEAD: on /health and /ready it is served as the GET, and
    uvicorn, which saw the HEAD, sends the status and headers without the body."""

    PATHS = frozenset({"/health", "/ready"})

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "HEAD" and scope["path"] in self.PATHS:
            scope = {**scope, "method": "GET"}
        await self.app(scope, receive, send)


@router.get(
    "/ready",
    response_model=Readiness,
    summary="Readiness: the served models are loaded",
    responses={
        503: {
            "model": Problem,
            "description": "models still loading in this or another worker (Retry-After)",
        }
    },
)
async def ready(state: State) -> Readiness | JSONResponse:
    reason = not_ready_reason(state)
    if reason is None:
        return Readiness(
            status="ready", loaded=state.registry.loaded(), problems=state.registry.problems(),
            training=sorted(state.registry.training()),
        )  # fmt: skip
    return problem(503, reason, {"Retry-After": "2"}, loaded=state.registry.loaded())


def not_ready_reason(state: State) -> str | None:
    """None when this worker and every other has loaded the served models."""
    workers = state.service.workers
    if not state.registry.ready:
        return state.registry.not_ready_reason()
    if not workers.all_ready():
        return f"{workers.ready()} of {workers.expected} worker processes have loaded the models"
    return None
