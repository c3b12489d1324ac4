"""What routes need, handed to them through a dependency (never globals)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from model_store import LoadedModel
from service.errors import NotReady
from service.gate import InferenceGate
from service.registry import Registry
from service.settings import Settings


@dataclass
class ServiceState:
    settings: Settings
    registry: Registry
    gate: InferenceGate

    def model_for(
        self, requested: str | None, version: str | int | None, default: str
    ) -> LoadedModel:
        if not self.registry.ready:
            raise NotReady(
                "models are still loading"
                + (f": {self.registry.load_error}" if self.registry.load_error else "")
            )
        return self.registry.get(
            requested or default, version if version is not None else self.settings.default_version
        )


def _state(request: Request) -> ServiceState:
    return request.app.state.service


State = Annotated[ServiceState, Depends(_state)]
