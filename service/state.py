"""What routes need, handed to them through dependencies (never globals)."""

from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, TypeVar

from fastapi import Depends, Request, Response, Security
from fastapi.security import APIKeyHeader
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from model_store import LoadedModel, ModelNotFound
from service.batching import Batcher
from service.errors import (
    DeadlineExceeded,
    ModelTraining,
    NotAuthenticated,
    NotReady,
    ServiceError,
)
from service.graphs import Operation, Tensors
from service.limits import deadline
from service.metrics import Metrics
from service.registry import Registry
from service.settings import Settings
from service.workers import Workers

T = TypeVar("T")


@dataclass
class ServiceState:
    settings: Settings
    registry: Registry
    batcher: Batcher
    metrics: Metrics
    workers: Workers


@dataclass
class RequestContext:
    """The service's state seen from one request; records which model served it."""

    service: ServiceState
    request: Request

    @property
    def settings(self) -> Settings:
        return self.service.settings

    @property
    def registry(self) -> Registry:
        return self.service.registry

    def _deadline_passed(self) -> DeadlineExceeded:
        self.service.metrics.deadlines.inc()
        return DeadlineExceeded(
            f"the request was not answered within its deadline of "
            f"{self.settings.request_timeout_s:g} s (AE_REQUEST_TIMEOUT_S); fewer images per "
            "request answer sooner"
        )

    async def model_for(
        self, requested: str | None, version: str | int | None, default: str
    ) -> LoadedModel:
        """The loaded model a request asks for: from memory on the event loop when it is
        there (the usual case), else resolved and loaded in a worker thread."""
        registry = self.service.registry
        if not registry.ready:
            raise NotReady(registry.not_ready_reason())
        selector = version if version is not None else self.settings.default_version
        name = requested or default
        model = registry.cached(name, selector)
        if model is None:
            loading = run_in_threadpool(registry.get, name, selector)
            ends = deadline(self.request.scope)
            try:
                left = None if ends is None else max(ends - time.monotonic(), 0)
                model = await asyncio.wait_for(loading, left)
            except TimeoutError:
                raise self._deadline_passed() from None
            except ModelNotFound as exc:
                raise not_yet(registry, exc) from exc
        self.request.state.served = (model.manifest.name, model.manifest.version)
        return model

    async def run(
        self,
        model: LoadedModel,
        operation: Operation,
        rows: int,
        prepare: Callable[[], Tensors],
        finish: Callable[[Tensors], T],
    ) -> T:
        """Run `operation` on this request's rows in the batcher's next forward pass, within
        the request's deadline; `finish` (which serializes) runs there too, off the event
        loop, and its value is returned."""
        ends = deadline(self.request.scope)
        try:
            return await self.service.batcher.submit(model, operation, rows, prepare, finish, ends)
        except TimeoutError:
            raise self._deadline_passed() from None

    async def infer(
        self,
        model: LoadedModel,
        operation: Operation,
        rows: int,
        prepare: Callable[[], Tensors],
        finish: Callable[[Tensors], BaseModel],
    ) -> Response:
        """`run`, answering `finish`'s model as JSON (pydantic-core, off the event loop)."""

        def to_json(outputs: Tensors) -> bytes:
            return finish(outputs).model_dump_json().encode()

        body = await self.run(model, operation, rows, prepare, to_json)
        return Response(body, media_type="application/json")


def not_yet(registry: Registry, missing: ModelNotFound) -> ServiceError | ModelNotFound:
    """What to answer for a model the store lacks: a running trainer's record of it makes
    it a 503 with its progress and Retry-After; else the 404 as it is."""
    training = registry.training().get(missing.name)
    if training is None:
        return missing
    return ModelTraining(
        f"{training.describe()}; retry shortly (GET /models shows its progress)",
        training.eta_s if training.eta_s is not None else 30,
    )


async def _context(request: Request) -> RequestContext:
    return RequestContext(request.app.state.service, request)


State = Annotated[RequestContext, Depends(_context)]

api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="required when AE_API_KEY is set"
)


async def require_api_key(
    request: Request, key: Annotated[str | None, Security(api_key_header)] = None
) -> None:
    """401 unless the configured key is given; compared in constant time. Off by default."""
    expected = request.app.state.service.settings.api_key
    if expected is None:
        return
    given = (key or "").encode()
    if not hmac.compare_digest(given, expected.get_secret_value().encode()):
        raise NotAuthenticated("missing or wrong API key: send it in the X-API-Key header")
