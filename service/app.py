"""The FastAPI app: `create_app(settings)` wires store, registry, routes and docs."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.resources import files

import torch
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST

from model_store import LocalStore
from service import problems
from service.gate import InferenceGate
from service.limits import BodyLimitMiddleware
from service.metrics import Metrics, MetricsMiddleware
from service.registry import Registry
from service.routes import health, inference, models
from service.settings import Settings
from service.state import ServiceState

log = logging.getLogger("service")
DESCRIPTION = """
Autoencoders trained by `python -m trainer` and published to a versioned model store.

* Images travel as **base64 PNG** (JPEG accepted on input); other sizes and modes are
  converted to the model's input.
* Every request may name `model` and `version` (number or alias); every response names
  the model and version that served it.
* Errors are `application/problem+json` (RFC 9457) with `errors[].loc` naming the field.
"""


def _problem_media_types(schema: dict) -> dict:
    """Error responses are served as application/problem+json: say so in the schema."""
    for path in schema.get("paths", {}).values():
        for op in path.values():
            for status, response in op.get("responses", {}).items():
                content = response.get("content", {})
                if status[0] in "45" and "application/json" in content:
                    content["application/problem+json"] = content.pop("application/json")
    return schema


def _without_security(schema: dict) -> dict:
    """Auth is off: the docs should not ask for a key, nor document 401."""
    schema.get("components", {}).pop("securitySchemes", None)
    for path in schema.get("paths", {}).values():
        for op in path.values():
            op.pop("security", None)
            op.get("responses", {}).pop("401", None)
    return schema


def create_app(settings: Settings) -> FastAPI:
    store = LocalStore(settings.store_dir)
    metrics = Metrics()
    state = ServiceState(
        settings=settings,
        registry=Registry(
            store, settings.max_loaded_models, metrics.model_loaded, metrics.alias_switched
        ),
        gate=InferenceGate(settings.max_concurrent_inference, settings.max_waiting_inference),
        metrics=metrics,
    )
    if settings.torch_threads:
        torch.set_num_threads(settings.torch_threads)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Load in the background: the port opens at once, /health answers, /ready turns
        # green when the served models are loaded and verified; then the same thread
        # follows alias moves (promote, rollback) and swaps versions without a restart.
        stop = threading.Event()
        served = [
            (settings.default_model, settings.default_version),
            (settings.cvae_model, settings.default_version),
        ]
        served += [
            (ref, settings.default_version) if "@" not in ref else tuple(ref.split("@", 1))
            for ref in settings.preload
        ]
        loader = threading.Thread(
            target=state.registry.run,
            args=(served, stop, settings.alias_poll_s),
            name="model-registry",
            daemon=True,
        )
        loader.start()
        yield
        stop.set()

    app = FastAPI(
        title="Autoencoders",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.service = state
    problems.install(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["content-type", "x-api-key"],
        )
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    for router in (inference.router, models.router, health.router):
        app.include_router(router)

    # Swagger UI from a local copy (fastapi-offline's assets): /docs works with no internet.
    assets = files("fastapi_offline") / "static"
    app.mount("/docs-assets", StaticFiles(directory=str(assets)), name="docs-assets")

    @app.get("/metrics", include_in_schema=False)
    async def prometheus() -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="Autoencoders - API docs",
            swagger_js_url="/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/docs-assets/swagger-ui.css",
            swagger_favicon_url="/docs-assets/favicon.png",
        )

    original_openapi = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = _problem_media_types(original_openapi())
            if settings.api_key is None:
                schema = _without_security(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
