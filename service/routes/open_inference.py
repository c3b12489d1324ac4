"""The Open Inference Protocol's REST endpoints (health, server and model metadata, model
readiness, inference, Triton's repository index) over the same serving path as the JSON
routes: admission, deadline, body limit, API key, batcher, metrics, problem+json errors
(which on /v2 also carry the protocol's `error`). The codec is `service.open_inference`."""

from __future__ import annotations

import re
from typing import Annotated, Any

import torch
from fastapi import APIRouter, Body, Depends, Path, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, StrictBool
from starlette.routing import Route

from model_store import CorruptArtifact, LoadedModel, parse_ref
from model_store.images import png_bytes
from service import inference
from service import open_inference as v2
from service import open_inference_codec as codec
from service.codec import decode_image
from service.errors import ImageTooLarge, InvalidImage, InvalidInput, InvalidTensor
from service.graphs import Tensors
from service.routes.health import not_ready_reason
from service.schemas import MAX_ITEMS, MAX_LATENT_ABS, Problem
from service.state import RequestContext, State, require_api_key

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": Problem, "description": "tensors that do not match the model's signature"},
    401: {"model": Problem, "description": "an API key is configured and was not given"},
    404: {"model": Problem, "description": "no such V2 model or version"},
    422: {"model": Problem, "description": "a body that is not the documented JSON object"},
    503: {"model": Problem, "description": "models loading, or too many requests (Retry-After)"},
    504: {"model": Problem, "description": "not answered within AE_REQUEST_TIMEOUT_S"},
}
TAG = "open inference protocol (v2)"
health = APIRouter(prefix="/v2/health", tags=[TAG])
router = APIRouter(prefix="/v2", tags=[TAG], responses=ERRORS,
                   dependencies=[Depends(require_api_key)])  # fmt: skip


class IndexRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ready: StrictBool = False


INDEX_EXAMPLES = {
    "all": {"summary": "every model and version", "value": {"ready": False}},
    "loaded": {"summary": "only the versions this worker has loaded", "value": {"ready": True}},
}
IndexBody = Annotated[IndexRequest | None, Body(openapi_examples=INDEX_EXAMPLES)]
_VERSION = re.compile(r"[1-9][0-9]{0,8}")


def _selector(version: str | None) -> str | int | None:
    if version is None:
        return None
    return int(version) if _VERSION.fullmatch(version) else version


@health.get("/live", summary="V2 liveness: the process answers")
async def live() -> dict[str, bool]:
    return {"live": True}


@health.get("/ready", summary="V2 readiness: the served models are loaded (as GET /ready)")
async def ready(state: State) -> Any:
    reason = not_ready_reason(state)
    if reason is not None:
        return JSONResponse({"ready": False, "error": reason}, 503, {"Retry-After": "2"})
    return {"ready": True}


@router.get("", summary="V2 server metadata")
async def server_metadata(request: Request) -> dict[str, Any]:
    return {
        "name": "autoencoders",
        "version": request.app.version,
        "extensions": ["binary_tensor_data"],
    }


def _metadata(state: State, model_name: str, version: str | None) -> dict[str, Any]:
    name, operation = v2.split_name(model_name)
    store = state.registry.store
    selector = _selector(version) or state.settings.default_version
    resolved = store.resolve(parse_ref(name, selector))
    return v2.model_metadata(store.manifest(name, resolved), operation, [resolved])


@router.get("/models/{model_name}", summary="V2 model metadata: its tensors")
def model_metadata(state: State, model_name: str) -> dict[str, Any]:
    """The version the service's default selector names (`AE_DEFAULT_VERSION`)."""
    return _metadata(state, model_name, None)


@router.get("/models/{model_name}/versions/{model_version}", summary="V2 model metadata")
def version_metadata(state: State, model_name: str, model_version: str) -> dict[str, Any]:
    return _metadata(state, model_name, model_version)


async def _ready(state: State, model_name: str, version: str | None) -> dict[str, Any]:
    name, operation = v2.split_name(model_name)
    model = await state.model_for(name, _selector(version), name)
    v2.signature(model.manifest, operation)
    return {"name": model_name, "ready": True}


@router.get(
    "/models/{model_name}/ready",
    summary="V2 model readiness",
    description="Loads the version if this worker has not yet (as the first inference would).",
)
async def model_ready(state: State, model_name: str) -> dict[str, Any]:
    return await _ready(state, model_name, None)


@router.get("/models/{model_name}/versions/{model_version}/ready", summary="V2 model readiness")
async def version_ready(state: State, model_name: str, model_version: str) -> dict[str, Any]:
    return await _ready(state, model_name, model_version)


@router.post(
    "/repository/index",
    summary="Every V2 model and version (Triton's repository extension)",
    description="State READY where this worker has loaded the version; the others are "
    'loaded by their first request. Body `{"ready": true}` lists only the loaded ones.',
)
def repository_index(state: State, body: IndexBody = None) -> list[dict[str, str]]:
    store, loaded = state.registry.store, set(state.registry.loaded())
    only_ready = body is not None and body.ready
    out = []
    for name in store.names():
        for version in store.versions(name):
            try:
                manifest = store.manifest(name, version)
            except CorruptArtifact:
                continue
            is_loaded = f"{name}@{version}" in loaded
            if only_ready and not is_loaded:
                continue
            for operation in v2.operations(manifest):
                out.append({
                    "name": f"{name}.{operation}",
                    "version": str(version),
                    "state": "READY" if is_loaded else "",
                    "reason": "" if is_loaded else "in the store; the first request loads it",
                })  # fmt: skip
    return out


INFER_DOCS: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {"type": "object", "required": ["inputs"]},
                "examples": {
                    "decode": {
                        "summary": "decode one code of mnist-vae (model mnist-vae.decode)",
                        "value": {
                            "inputs": [
                                {
                                    "name": "codes",
                                    "shape": [1, 20],
                                    "datatype": "FP32",
                                    "data": [0.0] * 20,
                                }
                            ],
                            "outputs": [{"name": "images"}],
                        },
                    }
                },
            },
            "application/octet-stream": {
                "schema": {"type": "string", "format": "binary"},
                "description": "JSON header of Inference-Header-Content-Length bytes, then "
                "the binary tensors",
            },
        },
    }
}
InferName = Annotated[str, Path(examples=["mnist-vae.decode"])]
InferVersion = Annotated[str, Path(examples=["1"])]
INFER_DESCRIPTION = """Models are named `{model}.{operation}`: `encode`, `decode`, `reconstruct`
with FP32 image tensors [N, C, H, W] in [0, 1], or `encode-png`, `decode-png`,
`reconstruct-png` with images as BYTES (PNG or JPEG files; base64 strings in JSON `data`).
`GET /v2/models/{name}` lists a model's tensors. Binary tensors (`binary_data_size`,
`Inference-Header-Content-Length`) are accepted and, asked with `binary_data`, answered."""


def _images(model: LoadedModel, request: codec.InferRequest, max_pixels: int) -> Any:
    value = request.inputs["images"]
    if not isinstance(value, list):
        return value
    decoded = []
    for i, data in enumerate(value):
        try:
            decoded.append(decode_image(data, model.manifest.input, max_pixels,
                                        ("inputs", "images", i)))  # fmt: skip
        except ImageTooLarge:
            raise
        except InvalidImage as exc:
            raise InvalidTensor(f"input 'images' element {i}: {exc}") from exc
    return torch.stack(decoded)


async def _infer(state: State, request: Request, model_name: str, version: str | None) -> Response:
    name, operation = v2.split_name(model_name)
    model = await state.model_for(name, _selector(version), name)
    sig = v2.signature(model.manifest, operation)
    spec = model.manifest.input
    parsed = codec.parse_request(
        await request.body(), request.headers.get(codec.HEADER_LENGTH), sig, MAX_ITEMS,
        spec.value_range, MAX_LATENT_ABS,
    )  # fmt: skip
    labels = parsed.inputs.get("labels")  # the signature has it exactly when it is needed
    if isinstance(labels, torch.Tensor):
        try:
            labels = labels.new_tensor(inference.label_indices(model, labels.tolist()))
        except InvalidInput as exc:
            raise InvalidTensor(f"input 'labels': {exc}") from None
    operation_fn = {"encode": inference.encode, "decode": inference.decode,
                    "reconstruct": inference.reconstruct}[sig.operation]  # fmt: skip
    max_pixels = state.settings.max_image_pixels

    def prepare() -> Tensors:
        first = parsed.inputs["codes"] if sig.operation == "decode" else None
        return (first if first is not None else _images(model, parsed, max_pixels)), labels

    def finish(out: Tensors) -> tuple[bytes, int | None]:
        if sig.operation == "encode":
            values: dict[str, Any] = {"codes": out[0], "mu": out[1], "logvar": out[2]}
        elif sig.operation == "decode":
            values = {"images": out[0]}
        else:
            values = {"images": out[0], "errors": out[1]}
        if sig.png and "images" in values:
            values["images"] = png_bytes(values["images"])
        return codec.build_response(model_name, model.manifest.version, parsed, sig, values)

    body, header_length = await state.run(model, operation_fn, parsed.rows, prepare, finish)
    if header_length is None:
        return Response(body, media_type="application/json")
    return Response(body, media_type="application/octet-stream",
                    headers={"Inference-Header-Content-Length": str(header_length)})  # fmt: skip


@router.post(
    "/models/{model_name}/infer",
    summary="V2 inference",
    description=INFER_DESCRIPTION,
    openapi_extra=INFER_DOCS,
)
async def infer(state: State, request: Request, model_name: InferName) -> Response:
    return await _infer(state, request, model_name, None)


@router.post(
    "/models/{model_name}/versions/{model_version}/infer",
    summary="V2 inference on one version",
    description=INFER_DESCRIPTION,
    openapi_extra=INFER_DOCS,
)
async def version_infer(
    state: State, request: Request, model_name: InferName, model_version: InferVersion
) -> Response:
    return await _infer(state, request, model_name, model_version)


async def _lean_infer(request: Request) -> Response:
    """Both infer routes as requests reach them (`LEAN_ROUTES`): the same `_infer`, the API
    key checked as `require_api_key` does, without FastAPI's dependency solving and route
    scan. The FastAPI routes above stay for their OpenAPI description."""
    await require_api_key(request, request.headers.get("x-api-key"))
    context = RequestContext(request.app.state.service, request)
    params = request.path_params
    return await _infer(context, request, params["model_name"], params.get("model_version"))


# Put first in the app's routes, they answer before the documented routes of the same paths.
# Measured (bench/serving.py, 16 connections, one digit): FastAPI's per-request machinery
# (route scan over ~45 routes, dependency solving, its request wrapper) was about a third of
# a binary-tensor request's CPU; exception handlers, middleware and the batcher are the same.
LEAN_ROUTES = [
    Route("/v2/models/{model_name}/infer", _lean_infer, methods=["POST"],
          include_in_schema=False),
    Route("/v2/models/{model_name}/versions/{model_version}/infer", _lean_infer,
          methods=["POST"], include_in_schema=False),
]  # fmt: skip
