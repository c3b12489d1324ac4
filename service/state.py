"""What routes need, handed to them through dependencies (never globals)."""

from __future__ import annotations

import hmac
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader

from model_store import LoadedModel
from service.errors import NotAuthenticated, NotReady
from service.gate import InferenceGate
from service.metrics import Metrics
from service.registry import Registry
from service.settings import Settings


@dataclass
class ServiceState:
    settings: Settings
    registry: Registry
    gate: InferenceGate
    metrics: Metrics


@dataclass
class RequestContext:
    """The service's state seen from one request; records which model served it."""

    service: ServiceState
    request: Request

    @property
    def settings(self) -> Settings:
        return self.service.settings

    @property
    def gate(self) -> InferenceGate:
        return self.service.gate

    @property
    def registry(self) -> Registry:
        return self.service.registry

    def model_for(
        self, requested: str | None, version: str | int | None, default: str
    ) -> LoadedModel:
        registry = self.service.registry
        if not registry.ready:
            raise NotReady(registry.not_ready_reason())
        selector = version if version is not None else self.settings.default_version
        model = registry.get(requested or default, selector)
        self.request.state.served = (model.manifest.name, model.manifest.version)
        return model

    def forward(self, size: int) -> AbstractContextManager[None]:
        """A slot for one forward pass of `size` items (bounded; 503 when overloaded)."""
        self.service.metrics.batch.labels(self.request.url.path).observe(size)
        return self.service.gate.slot()


def _context(request: Request) -> RequestContext:
    return RequestContext(request.app.state.service, request)


State = Annotated[RequestContext, Depends(_context)]

api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="required when AE_API_KEY is set"
)


def require_api_key(
    request: Request, key: Annotated[str | None, Security(api_key_header)] = None
) -> None:
    """401 unless the configured key is given; compared in constant time. Off by default."""
    expected = request.app.state.service.settings.api_key
    if expected is None:
        return
    given = (key or "").encode()
    if not hmac.compare_digest(given, expected.get_secret_value().encode()):
        raise NotAuthenticated("missing or wrong API key: send it in the X-API-Key header")
