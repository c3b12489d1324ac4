"""What the store holds and what this process has loaded."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Request, Response

from model_store import CorruptArtifact, ModelNotFound, Store
from model_store.refs import NAME_REGEX
from service.catalog_schemas import (
    ModelDetail,
    ModelList,
    ModelSummary,
    TrainingStatus,
    VersionSummary,
)
from service.errors import DamagedVersion, ReportNotFound
from service.inference import capabilities
from service.schemas import Problem
from service.state import State, not_yet, require_api_key

router = APIRouter(
    tags=["models"],
    dependencies=[Depends(require_api_key)],
    responses={
        401: {"model": Problem, "description": "an API key is configured and was not given"},
        503: {
            "model": Problem,
            "description": "the store cannot be read, or too many requests in flight (Retry-After)",
        },
    },
)


def _summary(store: Store, name: str, loaded: list[str]) -> ModelSummary:
    versions = store.versions(name)
    aliases, problem = store.readable_aliases(name)
    return ModelSummary(
        name=name,
        versions=versions,
        aliases=aliases,
        loaded=[v for v in versions if f"{name}@{v}" in loaded],
        problem=problem,
    )


@router.get("/models", response_model=ModelList, summary="Every model in the store")
def list_models(state: State) -> ModelList:
    store, loaded = state.registry.store, state.registry.loaded()
    names = store.names()
    training = [
        TrainingStatus(
            name=t.name,
            epoch=t.epoch,
            epochs=t.epochs,
            queued=t.queued,
            eta_s=t.eta_s,
            detail=t.describe(),
        )
        for t in sorted(state.registry.training().values(), key=lambda t: t.name)
        if t.name not in names
    ]
    return ModelList(models=[_summary(store, n, loaded) for n in names],
                     training=training)  # fmt: skip


@router.get(
    "/models/{name}",
    response_model=ModelDetail,
    summary="One model: versions, aliases, capabilities, metrics, classes, attributes",
    responses={
        404: {"model": Problem, "description": "no such model; lists those that exist"},
        422: {"model": Problem, "description": "invalid model name"},
        503: {"model": Problem, "description": "being trained: its progress (Retry-After)"},
    },
)
def get_model(
    state: State,
    name: str = Path(pattern=NAME_REGEX, examples=["mnist-vae"], max_length=64),
) -> ModelDetail:
    store = state.registry.store
    names = store.names()  # on S3 a listing: once
    if name not in names:  # one a trainer is about to publish: 503, its progress
        raise not_yet(state.registry, ModelNotFound(name, names))
    summary = _summary(store, name, state.registry.loaded())
    by_version: dict[int, list[str]] = {}
    for alias, v in summary.aliases.items():
        by_version.setdefault(v, []).append(alias)
    details, damaged = [], state.registry.damaged(name)  # refused when loaded
    for v in summary.versions:
        if v in damaged:
            continue
        try:
            m = store.manifest(name, v)
        except CorruptArtifact:  # one damaged version does not hide the others
            damaged.append(v)
            continue
        details.append(
            VersionSummary(
                version=v,
                aliases=sorted(by_version.get(v, [])),
                family=m.family,
                created_at=m.created_at.isoformat(),
                latent_size=m.latent_size,
                latent_activity=m.latent_activity,
                input=m.input.model_dump(),
                metrics=m.metrics,
                class_names=m.class_names,
                attribute_names=m.attribute_names,
                dataset=m.dataset.model_dump(),
                capabilities=capabilities(m),
                evaluated_with=m.evaluated_with,
                calibration=m.calibration.model_dump() if m.calibration else None,
                report=(report := sorted(f for f in m.files if f.startswith("report/"))),
                report_urls=[f"/models/{name}/versions/{v}/report/{f[7:]}" for f in report],
            )
        )
    return ModelDetail(**summary.model_dump(), details=details, damaged=sorted(damaged))


REPORT_FILE = r"^[A-Za-z0-9_-]{1,64}\.png$"


@router.get(
    "/models/{name}/versions/{version}/report/{file}",
    summary="A report image a version published (samples, reconstructions, loss curves)",
    description="The PNG as published, checked against the manifest's sha256. Versions are "
    "immutable, so it may be cached for good (`Cache-Control: immutable`, an `ETag`). The "
    "files a version has are listed in `GET /models/{name}` (`report_urls`).",
    response_class=Response,
    responses={
        200: {"content": {"image/png": {}}, "description": "the image"},
        304: {"description": "not modified (If-None-Match)"},
        404: {"model": Problem, "description": "no such model, version or report image"},
        422: {"model": Problem, "description": "invalid name, version or file name"},
        500: {"model": Problem, "description": "the file failed its integrity check"},
    },
)
def report_image(
    state: State,
    request: Request,
    name: str = Path(pattern=NAME_REGEX, examples=["mnist-vae"], max_length=64),
    version: str = Path(
        pattern=r"^[1-9][0-9]{0,8}$", examples=["1"], description="a version number: digits only"
    ),
    file: str = Path(pattern=REPORT_FILE, examples=["samples.png"]),
) -> Response:
    store = state.registry.store
    manifest = store.manifest(name, int(version))  # 404 naming what exists
    rel = f"report/{file}"
    digest = manifest.files.get(rel)
    if digest is None:
        have = sorted(f[7:] for f in manifest.files if f.startswith("report/"))
        raise ReportNotFound(f"{name}@{version} has no report image {file!r}", available=have)
    etag = f'"{digest}"'
    headers = {"Cache-Control": "public, max-age=31536000, immutable", "ETag": etag}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    try:
        data = store.read_file(name, int(version), rel)
    except CorruptArtifact as exc:
        raise DamagedVersion(name, int(version), str(exc)) from exc
    return Response(data, media_type="image/png", headers=headers)
