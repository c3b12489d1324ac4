"""Inference endpoints. Plain `def`: FastAPI runs them in its thread pool, so the
event loop stays free while torch works. Each parses, calls `service.inference`,
and serializes; a batch in one request is one forward pass."""

from __future__ import annotations

import secrets
from typing import Annotated, Any

import torch
from fastapi import APIRouter, Body, Depends

from model_store import LoadedModel
from service import examples, inference
from service.codec import decode_images, encode_png
from service.errors import InvalidInput
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
    413: {"model": Problem, "description": "body or image over its limit"},
    415: {"model": Problem, "description": "an image that is not PNG or JPEG, or bad base64"},
    422: {"model": Problem, "description": "invalid request; `errors` names each field"},
    503: {"model": Problem, "description": "models loading or service overloaded (Retry-After)"},
}
router = APIRouter(tags=["inference"], responses=ERRORS, dependencies=[Depends(require_api_key)])


def _served(model: LoadedModel) -> dict[str, Any]:
    return {"model": model.manifest.name, "version": model.manifest.version}


def _labels(model: LoadedModel, labels: list[int | str] | None) -> torch.Tensor | None:
    return None if labels is None else torch.tensor(inference.label_indices(model, labels))


def _images(model: LoadedModel, items: list[str], state: State) -> torch.Tensor:
    return decode_images(items, model.config.input_shape, state.settings.max_image_pixels)


def _rows(t: torch.Tensor | None) -> list[list[float]] | None:
    return None if t is None else torch.nan_to_num(t).tolist()


@router.post(
    "/encode",
    response_model=EncodeResponse,
    summary="Images to latent codes",
    description="Returns one code per image; VAEs also return the posterior mean and "
    "log-variance (the code is the mean). A conditional VAE needs one label per image.",
)
def encode(
    state: State, body: Annotated[ImagesRequest, Body(openapi_examples=examples.ENCODE)]
) -> EncodeResponse:
    model = state.model_for(body.model, body.version, state.settings.default_model)
    x = _images(model, body.images, state)
    with state.forward(len(x)):
        enc = inference.encode(model, x, _labels(model, body.labels))
    return EncodeResponse(
        **_served(model), codes=_rows(enc.z), mu=_rows(enc.mu), logvar=_rows(enc.logvar)
    )


@router.post(
    "/decode",
    response_model=ImagesResponse,
    summary="Latent codes to images",
    description="Each code must have the model's latent size (`GET /models/{name}` tells).",
)
def decode(
    state: State, body: Annotated[DecodeRequest, Body(openapi_examples=examples.DECODE)]
) -> ImagesResponse:
    model = state.model_for(body.model, body.version, state.settings.default_model)
    lengths = {len(c) for c in body.codes}
    if lengths != {model.config.latent_dim}:
        raise InvalidInput(
            f"every code must have {model.config.latent_dim} numbers for {model.ref}; got "
            f"{sorted(lengths)}",
            ("body", "codes"),
        )
    z = torch.tensor(body.codes, dtype=torch.float32)
    with state.forward(len(z)):
        images = inference.decode(model, z, _labels(model, body.labels))
    return ImagesResponse(**_served(model), images=[encode_png(i) for i in images])


@router.post(
    "/reconstruct",
    response_model=ReconstructResponse,
    summary="Images through encoder and decoder",
    description="The deterministic reconstruction (posterior mean for VAEs) and its mean squared "
    "error per pixel: a low error means the model knows images like this one.",
)
def reconstruct(
    state: State, body: Annotated[ImagesRequest, Body(openapi_examples=examples.RECONSTRUCT)]
) -> ReconstructResponse:
    model = state.model_for(body.model, body.version, state.settings.default_model)
    x = _images(model, body.images, state)
    with state.forward(len(x)):
        images, errors = inference.reconstruct(model, x, _labels(model, body.labels))
    return ReconstructResponse(
        **_served(model), images=[encode_png(i) for i in images], errors=errors.tolist()
    )


@router.post(
    "/sample",
    response_model=SampleResponse,
    summary="New images from the latent space",
    description="VAEs draw from their standard normal prior; plain autoencoders from the "
    "Gaussian fitted to their training codes. The same seed gives the same images.",
)
def sample(
    state: State, body: Annotated[SampleRequest, Body(openapi_examples=examples.SAMPLE)]
) -> SampleResponse:
    model = state.model_for(body.model, body.version, state.settings.default_model)
    seed = body.seed if body.seed is not None else secrets.randbelow(2**31)
    with state.forward(body.count):
        images, z = inference.sample(model, body.count, seed, body.temperature)
    return SampleResponse(
        **_served(model), images=[encode_png(i) for i in images], codes=_rows(z), seed=seed
    )


@router.post(
    "/cvae-sample",
    response_model=CvaeSampleResponse,
    summary="Digits of chosen classes from a conditional VAE",
    description="With `shared_noise` the same random codes are drawn as every requested label "
    "(one handwriting style, every digit); without it each image gets its own code.",
)
def cvae_sample(
    state: State, body: Annotated[CvaeSampleRequest, Body(openapi_examples=examples.CVAE_SAMPLE)]
) -> CvaeSampleResponse:
    model = state.model_for(body.model, body.version, state.settings.cvae_model)
    inference.require(model, "cvae-sample")
    names = model.manifest.class_names
    labels = inference.label_indices(model, body.labels) if body.labels else list(range(len(names)))
    seed = body.seed if body.seed is not None else secrets.randbelow(2**31)
    n = body.count_per_label
    with state.forward(len(labels) * n):
        images, z = inference.cvae_sample(
            model, labels, n, seed, body.shared_noise, body.temperature
        )
    encoded = [encode_png(i) for i in images]
    groups = [
        LabelGroup(label=names[label], index=label, images=encoded[k * n : (k + 1) * n])
        for k, label in enumerate(labels)
    ]
    codes = z[:n] if body.shared_noise else z
    return CvaeSampleResponse(
        **_served(model),
        groups=groups,
        codes=_rows(codes),
        seed=seed,
        shared_noise=body.shared_noise,
    )


@router.post(
    "/edit-attribute",
    response_model=EditResponse,
    summary="Add or remove attributes (the smile vector)",
    description="Encodes each image, adds `strength` times each attribute's direction to its "
    "code (the mean code of faces with the attribute minus that of faces without), and "
    "decodes. Strength 0 gives the plain reconstruction; negative strengths remove the "
    "attribute. `GET /models/{name}` lists a model's attributes.",
)
def edit_attribute(
    state: State, body: Annotated[EditRequest, Body(openapi_examples=examples.EDIT_ATTRIBUTE)]
) -> EditResponse:
    model = state.model_for(body.model, body.version, state.settings.faces_model)
    indices = inference.attribute_indices(model, [e.attribute for e in body.edits])
    x = _images(model, body.images, state)
    strengths = [e.strength for e in body.edits]
    with state.forward(len(x)):
        images, z = inference.edit_attributes(model, x, indices, strengths, body.direction)
    names = model.manifest.attribute_names
    return EditResponse(
        **_served(model),
        images=[encode_png(i) for i in images],
        codes=_rows(z),
        edits=[
            AttributeEdit(attribute=names[i], strength=s)
            for i, s in zip(indices, strengths, strict=True)
        ],
        direction=body.direction,
    )


@router.post(
    "/interpolate",
    response_model=InterpolateResponse,
    summary="Morph one image into another",
    description="Decodes `steps` codes on the straight line between the two images' codes, "
    "both ends included.",
)
def interpolate(
    state: State, body: Annotated[InterpolateRequest, Body(openapi_examples=examples.INTERPOLATE)]
) -> InterpolateResponse:
    model = state.model_for(body.model, body.version, state.settings.default_model)
    pair = _images(model, [body.start, body.end], state)
    with state.forward(body.steps):
        images, path = inference.interpolate(model, pair[0], pair[1], body.steps)
    return InterpolateResponse(
        **_served(model), images=[encode_png(i) for i in images], codes=_rows(path)
    )
