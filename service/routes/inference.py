"""Inference endpoints. Each parses and validates on the event loop (cheap), then hands the
batcher three things: `prepare` (decode the images or draw the codes), a row-wise operation
from `service.inference`, and `finish` (encode the images, build the response). The batcher's
thread runs all three, gathering concurrent requests into one forward pass, so no route
blocks the event loop and none waits in a thread pool."""

from __future__ import annotations

import secrets
from typing import Annotated, Any

import torch
from fastapi import APIRouter, Body, Depends, Response

from autoencoders.latent import interpolate as interpolate_codes
from model_store import LoadedModel
from service import examples, inference
from service.codec import decode_base64, decode_image, decode_images, encode_pngs
from service.dialect_routes import RawRoute, upload_docs
from service.errors import InvalidInput
from service.graphs import Tensors
from service.schemas import (
    AttributeEdit,
    CvaeSampleRequest,
    CvaeSampleResponse,
    DecodeRequest,
    EditRequest,
    EditResponse,
    EncodeResponse,
    ImagesRequest,
    ImagesResponse,
    InterpolateRequest,
    InterpolateResponse,
    LabelGroup,
    Problem,
    ReconstructResponse,
    SampleRequest,
    SampleResponse,
)
from service.state import State, require_api_key

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "an API key is configured and was not given"},
    400: {"model": Problem, "description": "a body that cannot be read as JSON text"},
    404: {"model": Problem, "description": "unknown model or version; lists what exists"},
    408: {"model": Problem, "description": "the body did not arrive within AE_REQUEST_TIMEOUT_S"},
    413: {"model": Problem, "description": "body or image over its limit"},
    415: {"model": Problem, "description": "an image that is not PNG or JPEG, or bad base64"},
    422: {"model": Problem, "description": "invalid request; `errors` names each field"},
    500: {
        "model": Problem,
        "description": "the model version asked for failed its integrity checks (damaged; "
        "not retried: ask for another version)",
    },
    503: {
        "model": Problem,
        "description": "models loading, or too many requests in flight or waiting (Retry-After)",
    },
    504: {"model": Problem, "description": "not answered within AE_REQUEST_TIMEOUT_S"},
}
router = APIRouter(tags=["inference"], responses=ERRORS, dependencies=[Depends(require_api_key)])


def served(model: LoadedModel) -> dict[str, Any]:
    return {"model": model.manifest.name, "version": model.manifest.version}


def _labels(model: LoadedModel, labels: list[int | str] | None, count: int) -> torch.Tensor | None:
    given = None if labels is None else torch.tensor(inference.label_indices(model, labels))
    return inference.check_labels(model, given, count)


def request_images(model: LoadedModel, items: list[str], state: State) -> torch.Tensor:
    return decode_images(items, model.manifest.input, state.settings.max_image_pixels)


def _rows(t: torch.Tensor | None) -> list[list[float]] | None:
    return None if t is None else torch.nan_to_num(t).tolist()


@router.post(
    "/encode",
    openapi_extra=upload_docs(),
    response_model=EncodeResponse,
    summary="Images to latent codes",
    description="Returns one code per image; VAEs also return the posterior mean and "
    "log-variance (the code is the mean). A conditional VAE needs one label per image.",
)
async def encode(
    state: State, body: Annotated[ImagesRequest, Body(openapi_examples=examples.ENCODE)]
) -> Response:
    model = await state.model_for(body.model, body.version, state.settings.default_model)
    inference.require(model, "encode")
    labels = _labels(model, body.labels, len(body.images))

    def finish(out: Tensors) -> EncodeResponse:
        z, mu, logvar = out
        return EncodeResponse(**served(model), codes=_rows(z), mu=_rows(mu), logvar=_rows(logvar))

    return await state.infer(
        model, inference.encode, len(body.images),
        lambda: (request_images(model, body.images, state), labels), finish,
    )  # fmt: skip


@router.post(
    "/decode",
    response_model=ImagesResponse,
    summary="Latent codes to images",
    description="Each code must have the model's latent size (`GET /models/{name}` tells).",
)
async def decode(
    state: State, body: Annotated[DecodeRequest, Body(openapi_examples=examples.DECODE)]
) -> Response:
    model = await state.model_for(body.model, body.version, state.settings.default_model)
    inference.require(model, "decode")
    lengths = {len(c) for c in body.codes}
    if lengths != {model.config.latent_dim}:
        raise InvalidInput(
            f"every code must have {model.config.latent_dim} numbers for {model.ref}; got "
            f"{sorted(lengths)}",
            ("body", "codes"),
        )
    labels = _labels(model, body.labels, len(body.codes))
    return await state.infer(
        model, inference.decode, len(body.codes),
        lambda: (torch.tensor(body.codes, dtype=torch.float32), labels),
        lambda out: ImagesResponse(**served(model), images=encode_pngs(out[0])),
    )  # fmt: skip


@router.post(
    "/reconstruct",
    openapi_extra=upload_docs(),
    response_model=ReconstructResponse,
    summary="Images through encoder and decoder",
    description="The deterministic reconstruction (posterior mean for VAEs) and its mean squared "
    "error per pixel: a low error means the model knows images like this one.",
)
async def reconstruct(
    state: State, body: Annotated[ImagesRequest, Body(openapi_examples=examples.RECONSTRUCT)]
) -> Response:
    model = await state.model_for(body.model, body.version, state.settings.default_model)
    inference.require(model, "reconstruct")
    labels = _labels(model, body.labels, len(body.images))
    return await state.infer(
        model, inference.reconstruct, len(body.images),
        lambda: (request_images(model, body.images, state), labels),
        lambda out: ReconstructResponse(
            **served(model), images=encode_pngs(out[0]), errors=out[1].tolist()
        ),
    )  # fmt: skip


@router.post(
    "/sample",
    response_model=SampleResponse,
    summary="New images from the latent space",
    description="Codes drawn from the Gaussian mixture fitted to the model's training codes "
    "at publish (a VAE's: to draws of its posterior, whose samples read better than its "
    "prior's; VAE versions published before that draw from their own prior), decoded. The "
    "same seed gives the same images, whatever other requests are served alongside.",
)
async def sample(
    state: State, body: Annotated[SampleRequest, Body(openapi_examples=examples.SAMPLE)]
) -> Response:
    model = await state.model_for(body.model, body.version, state.settings.default_model)
    seed = body.seed if body.seed is not None else secrets.randbelow(2**31)
    inference.require_prior(model)
    codes: list[torch.Tensor] = []

    def prepare() -> Tensors:
        codes.append(inference.prior_codes(model, body.count, seed, body.temperature))
        return codes[0], None

    return await state.infer(
        model, inference.decode, body.count, prepare,
        lambda out: SampleResponse(
            **served(model), images=encode_pngs(out[0]), codes=_rows(codes[0]), seed=seed
        ),
    )  # fmt: skip


@router.post(
    "/cvae-sample",
    response_model=CvaeSampleResponse,
    summary="Digits of chosen classes from a conditional VAE",
    description="With `shared_noise` the same random codes are drawn as every requested label "
    "(one handwriting style, every digit); without it each image gets its own code.",
)
async def cvae_sample(
    state: State, body: Annotated[CvaeSampleRequest, Body(openapi_examples=examples.CVAE_SAMPLE)]
) -> Response:
    model = await state.model_for(body.model, body.version, state.settings.cvae_model)
    inference.require(model, "cvae-sample")
    names = model.manifest.class_names
    labels = inference.label_indices(model, body.labels) if body.labels else list(range(len(names)))
    seed = body.seed if body.seed is not None else secrets.randbelow(2**31)
    n = body.count_per_label
    codes: list[torch.Tensor] = []

    def prepare() -> Tensors:
        z, y = inference.cvae_codes(model, labels, n, seed, body.shared_noise, body.temperature)
        codes.append(z[:n] if body.shared_noise else z)
        return z, y

    def finish(out: Tensors) -> CvaeSampleResponse:
        encoded = encode_pngs(out[0])
        groups = [
            LabelGroup(label=names[label], index=label, images=encoded[k * n : (k + 1) * n])
            for k, label in enumerate(labels)
        ]
        return CvaeSampleResponse(
            **served(model), groups=groups, codes=_rows(codes[0]), seed=seed,
            shared_noise=body.shared_noise,
        )  # fmt: skip

    return await state.infer(model, inference.decode, len(labels) * n, prepare, finish)


@router.post(
    "/edit-attribute",
    openapi_extra=upload_docs(),
    response_model=EditResponse,
    summary="Add or remove attributes (the smile vector)",
    description="Encodes each image, adds `strength` times each attribute's direction to its "
    "code, and decodes. The default `corrected` direction is fitted with the other attributes "
    "held fixed (a smile that does not also open the mouth); `plain` is the write-up's smile "
    "vector, the mean code of faces with the attribute minus that of faces without. Strength 0 "
    "gives the plain reconstruction; negative strengths remove the attribute. "
    "`GET /models/{name}` lists a model's attributes.",
)
async def edit_attribute(
    state: State, body: Annotated[EditRequest, Body(openapi_examples=examples.EDIT_ATTRIBUTE)]
) -> Response:
    model = await state.model_for(body.model, body.version, state.settings.faces_model)
    indices = inference.attribute_indices(model, [e.attribute for e in body.edits])
    strengths = [e.strength for e in body.edits]
    delta = inference.edit_delta(model, indices, strengths, body.direction)
    names = model.manifest.attribute_names
    rows = len(body.images)

    def finish(out: Tensors) -> EditResponse:
        return EditResponse(
            **served(model), images=encode_pngs(out[0]), codes=_rows(out[1]),
            edits=[AttributeEdit(attribute=names[i], strength=s)
                   for i, s in zip(indices, strengths, strict=True)],
            direction=body.direction,
        )  # fmt: skip

    return await state.infer(
        model, inference.edit, rows,
        lambda: (request_images(model, body.images, state), delta.expand(rows, -1)), finish,
    )  # fmt: skip


@router.post(
    "/interpolate",
    openapi_extra=upload_docs(("start", "end"), raw=False),
    response_model=InterpolateResponse,
    summary="Morph one image into another",
    description="Decodes `steps` codes on the straight line between the two images' codes, "
    "both ends included.",
)
async def interpolate(
    state: State, body: Annotated[InterpolateRequest, Body(openapi_examples=examples.INTERPOLATE)]
) -> Response:
    model = await state.model_for(body.model, body.version, state.settings.default_model)
    inference.require(model, "interpolate")
    ends: list[torch.Tensor] = []

    def keep_codes(out: Tensors) -> Tensors:
        ends.append(out[0])
        return out

    def both_ends() -> Tensors:  # each end's error names its own field
        spec, limit = model.manifest.input, state.settings.max_image_pixels
        return torch.stack([
            decode_image(decode_base64(text, ("body", key)), spec, limit, ("body", key))
            for key, text in (("start", body.start), ("end", body.end))
        ]), None  # fmt: skip

    await state.run(model, inference.encode, 2, both_ends, keep_codes)
    path = interpolate_codes(ends[0][0], ends[0][1], body.steps)
    return await state.infer(
        model, inference.decode, body.steps, lambda: (path, None),
        lambda out: InterpolateResponse(
            **served(model), images=encode_pngs(out[0]), codes=_rows(path)
        ),
    )  # fmt: skip


def raw_routes() -> dict[str, RawRoute]:
    """The routes here that take one raw PNG or JPEG body (`service.dialects`), by path."""
    return RawRoute.table(router, {
        "/encode": (encode, ImagesRequest),
        "/reconstruct": (reconstruct, ImagesRequest),
        "/edit-attribute": (edit_attribute, EditRequest),
    })  # fmt: skip
