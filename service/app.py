"""The FastAPI app: `create_app(settings)` wires store, registry, routes and docs."""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from importlib.resources import files

import torch
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST

from autoencoders import family_of
from model_store import LoadedModel, open_store, parse_ref
from service import inference, problems
from service.accept import BalancedLoop
from service.batching import Batcher
from service.connections import GuardedHttpProtocol, QuietDisconnects
from service.dialects import Dialects
from service.limits import AdmissionMiddleware, BodyLimitMiddleware, InFlight
from service.memory import release_freed_memory
from service.metrics import Metrics, MetricsMiddleware
from service.registry import Registry
from service.routes import health, models, open_inference, score
from service.routes import inference as inference_routes
from service.settings import Settings
from service.shared_dir import SharedDir
from service.state import ServiceState
from service.workers import Workers

log = logging.getLogger("service")
DESCRIPTION = """
Autoencoders trained by `python -m trainer` and published to a versioned model store.

* Images travel as **base64 PNG** (JPEG accepted on input); other sizes and modes are
  converted to the model's input.
* Every request may name `model` and `version` (number or alias); every response names
  the model and version that served it.
* Errors are `application/problem+json` (RFC 9457) with `errors[].loc` naming the field.

To see the images rather than base64: the [playground](/playground) (draw a digit, edit a
face, read a model's card) calls this same API.
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


def _prepare(batcher: Batcher, graphs: str) -> Callable[[LoadedModel], None]:
    """Before a loaded model serves: trace its operations if `graphs` (AE_GRAPHS) says so,
    and find its row block (see `service.batching`)."""

    def warm(model: LoadedModel) -> None:
        if family_of(model.config).autoencoder:
            examples = inference.examples(model, batcher.max_rows)
            batcher.prepare_model(model, examples, graphs == "trace")
        # Not frozen out of the garbage collector's sight (as what start-up made is, in the
        # lifespan): a version swapped out by a promote or evicted must be freed, and a
        # freeze here also froze the tracing's garbage, which held the model's weights.
        # Tracing and the row-block search run 64-row batches through every operation: their
        # freed activations stayed in glibc's heap, about 220 MB a worker for the six default
        # models (bench/worker_memory.py). Handed back now, before the model serves, and
        # again when the search, which runs after (`on_searched`), ends.
        release_freed_memory()

    return warm


def _alone(in_flight: InFlight) -> Callable[[], bool]:
    """Whether a request is alone in this worker: one open connection at most (a client
    calling in a loop) and no other request in flight. Both, because requests still unread
    in their sockets are not in flight yet: under load, answering a batch empties the count,
    and the next request read would run alone while the others wait for the loop."""
    return lambda: GuardedHttpProtocol.open <= 1 and in_flight.count <= 1


def create_app(settings: Settings) -> FastAPI:
    """The app for `settings`; with `settings.shared_dir`, one of several worker processes
    that share it (`service.shared_dir`: metrics, readiness, connection counts)."""
    store = open_store(settings.store_dir)
    shared = SharedDir.of(settings.shared_dir)
    metrics = Metrics(shared)
    in_flight = InFlight()  # counted by admission, asked by the batcher
    batcher = Batcher(
        settings.max_batch,
        settings.max_batch_wait_ms / 1000,
        settings.max_waiting_inference,
        invariant=settings.batch_invariant,
        threads=settings.torch_threads,
        on_batch=metrics.batched,
        on_depth=metrics.queue_depth.set,
        search_in_background=True,  # /ready waits for no row-block search (cold start)
        on_searched=release_freed_memory,
        inline_when=_alone(in_flight) if settings.inline_when_idle else None,
    )
    state = ServiceState(
        settings=settings,
        registry=Registry(
            store,
            settings.max_loaded_models,
            metrics.model_loaded,
            metrics.alias_switched,
            warm=_prepare(batcher, settings.graphs),
            on_error=metrics.background_error,
        ),
        batcher=batcher,
        metrics=metrics,
        workers=Workers(shared, settings.workers or 1),
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
        for text in settings.preload:  # `name` (the default version) or `name@version`
            ref = parse_ref(text, None if "@" in text else settings.default_version)
            served.append((ref.name, ref.selector))
        optional = [(settings.faces_model, settings.default_version)]
        loader = threading.Thread(
            target=state.registry.run,
            args=(served, stop, settings.alias_poll_s, optional, state.workers.mark_ready),
            name="model-registry",
            daemon=True,
        )
        # A full garbage collection walks every object the process holds (torch, FastAPI,
        # the models: about a million), which stalled one request in a hundred by 100 ms or
        # more. Everything alive at start-up lives until exit: freeze it out of the
        # collector's sight (gc.freeze, as Instagram's Django servers do).
        gc.freeze()
        batcher.start()
        loader.start()
        yield
        stop.set()
        state.workers.leave()
        batcher.stop()
        metrics.close()

    app = FastAPI(
        title="Autoencoders",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        redirect_slashes=False,  # a redirect would reflect the Host header; a 404 says it
    )
    app.state.service = state
    problems.install(app)
    # File uploads and raw image bodies become the routes' JSON (service.dialects), inside
    # the body limit, so every limit applies to what was sent.
    raw_routes = {**inference_routes.raw_routes(), **score.raw_routes()}
    app.add_middleware(Dialects, max_part_bytes=settings.max_body_bytes, service=state,
                       raw_routes=raw_routes)  # fmt: skip
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["content-type", "x-api-key"],
        )
    # The last one added runs first: metrics see every answer, admission's 503s included;
    # admission refuses before CORS, the body limit or a route does any work.
    app.add_middleware(
        AdmissionMiddleware,
        max_requests=settings.max_requests,
        timeout_s=settings.request_timeout_s,
        in_flight=in_flight,
    )
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.add_middleware(health.HeadProbes)
    app.add_middleware(QuietDisconnects)  # outermost: a client gone is one line, no traceback
    routers = (inference_routes.router, score.router, models.router, health.router,
               open_inference.health, open_inference.router)  # fmt: skip
    for router in routers:
        app.include_router(router)
    app.router.routes[0:0] = open_inference.LEAN_ROUTES  # V2 inference, matched first

    # Swagger UI from a local copy (fastapi-offline's assets): /docs works with no internet.
    assets = files("fastapi_offline") / "static"
    app.mount("/docs-assets", StaticFiles(directory=str(assets)), name="docs-assets")

    # The playground: a page that calls the public API (draw a digit, edit a face, model
    # cards), served from the package like the docs' assets, so it needs no network.
    playground = files("service") / "static" / "playground"
    app.mount("/playground-assets", StaticFiles(directory=str(playground)), name="playground")

    @app.get("/playground", include_in_schema=False)
    async def playground_page() -> HTMLResponse:
        return HTMLResponse((playground / "index.html").read_text(encoding="utf-8"))

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


def create_app_from_env() -> FastAPI:
    """The factory each worker process calls (`uvicorn --factory`): settings from AE_*."""
    settings = Settings()
    GuardedHttpProtocol.configure(
        settings.max_header_bytes, settings.header_timeout_s, settings.max_connections
    )
    BalancedLoop.configure(SharedDir.of(settings.shared_dir))
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    return create_app(settings)
