"""/score: how unusual each image is for the model, calibrated at publish
(`autoencoders.scoring` computes, `service.inference.score` runs it batched)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Response

from autoencoders import family_of, scoring
from service import examples, inference
from service.codec import encode_pngs
from service.dialect_routes import RawRoute, upload_docs
from service.graphs import Tensors
from service.routes.inference import ERRORS, request_images, served
from service.schemas import ImageScore, ScoreRequest, ScoreResponse
from service.state import State, require_api_key

router = APIRouter(tags=["inference"], responses=ERRORS, dependencies=[Depends(require_api_key)])


@router.post(
    "/score",
    openapi_extra=upload_docs(),
    response_model=ScoreResponse,
    summary="How unusual each image is for the model (outlier scores)",
    description="Per image: a score (higher = more unusual: the largest of the negative "
    "log-likelihood, the reconstruction error and the negative log-density of the image's "
    "code under the mixture fitted to the training codes, each in standard deviations of "
    "the model's training images, which holds where likelihood alone fails on simple "
    "images and catches a kind of image the model never saw), its percentile among held-out "
    "in-distribution images, and whether it is above the threshold for the false-positive "
    "rate asked (`fpr`, default 1%; a split-conformal threshold set at publish), with the "
    "parts it is made of. A conditional VAE scores each image against its best-fitting "
    "class and names it.",
)
async def score(
    state: State, body: Annotated[ScoreRequest, Body(openapi_examples=examples.SCORE)]
) -> Response:
    model = await state.model_for(body.model, body.version, state.settings.default_model)
    record, calibration, ref = inference.calibration(model)
    fpr = body.fpr if body.fpr is not None else record.default_fpr
    threshold = scoring.conformal_threshold(calibration, fpr)
    classes = model.manifest.class_names if family_of(model.config).conditional else None

    def prepare() -> Tensors:
        return request_images(model, body.images, state), None

    def finish(out: Tensors) -> ScoreResponse:
        nll, error, error_map, label, code_nll = out
        values, likelihood_z, error_z, code_z = scoring.combine(nll, error, code_nll, ref)
        shares = scoring.percentile(calibration, values)
        maps = encode_pngs(inference.heatmaps(error_map)) if body.heatmap else None
        scores = []
        for i, value in enumerate(values.tolist()):
            scores.append(ImageScore(
                score=value, percentile=float(shares[i]),
                outlier=None if threshold is None else value > threshold,
                threshold=threshold, fpr=fpr, reconstruction_error=float(error[i]),
                negative_log_likelihood_nats=float(nll[i]),
                likelihood_z=float(likelihood_z[i]), error_z=float(error_z[i]),
                code_negative_log_density=None if code_z is None else float(code_nll[i]),
                code_z=None if code_z is None else float(code_z[i]),
                label=classes[int(label[i])] if classes else None,
                heatmap=maps[i] if maps else None,
            ))  # fmt: skip
        outliers = sum(bool(s.outlier) for s in scores)
        state.service.metrics.scored_images(model.manifest.name, model.manifest.version,
                                            len(scores), outliers)  # fmt: skip
        return ScoreResponse(**served(model), scores=scores, method=record.method,
                             calibration_size=record.size)  # fmt: skip

    return await state.infer(model, inference.score, len(body.images), prepare, finish)


def raw_routes() -> dict[str, RawRoute]:
    return RawRoute.table(router, {"/score": (score, ScoreRequest)})
