"""Liveness and readiness: open without a key, answered on the event loop (no inference)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from service.problems import problem
from service.schemas import Health, Problem, Readiness
from service.state import State

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health, summary="Liveness: the process answers")
async def health() -> Health:
    return Health(status="ok")


@router.head("/health", include_in_schema=False)
async def health_head() -> Response:
    """Load balancers probe with HEAD: the GET's status, no body."""
    return Response(status_code=200)


@router.head("/ready", include_in_schema=False)
async def ready_head(state: State) -> Response:
    status, headers = (200, {}) if not_ready_reason(state) is None else (503, {"Retry-After": "2"})
    return Response(status_code=status, headers=headers)


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
