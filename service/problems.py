"""One table from errors to HTTP responses, all in one JSON shape (RFC 9457)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from model_store import (
    CorruptArtifact,
    InvalidName,
    ModelNotFound,
    StoreError,
    VersionInUse,
    VersionNotFound,
)
from service.errors import (
    AttributeNotFound,
    DamagedVersion,
    DeadlineExceeded,
    ImageTooLarge,
    InvalidImage,
    InvalidInput,
    InvalidTensor,
    ModelTraining,
    NotAuthenticated,
    NotReady,
    OperationNotFound,
    Overloaded,
    ReportNotFound,
    ServiceError,
    UnsupportedOperation,
)

log = logging.getLogger("service")
MEDIA_TYPE = "application/problem+json"
MAX_ERRORS = 20
TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    408: "Request Timeout",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    431: "Request Header Fields Too Large",
    422: "Unprocessable Content",
    500: "Internal Server Error",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
# Most specific first: the first matching class decides the status.
STATUS: list[tuple[type[Exception], int]] = [
    (ModelTraining, 503),
    (ModelNotFound, 404),
    (VersionNotFound, 404),
    (InvalidName, 422),
    (CorruptArtifact, 503),
    (VersionInUse, 422),
    (StoreError, 503),
    (NotAuthenticated, 401),
    (AttributeNotFound, 404),
    (ReportNotFound, 404),
    (OperationNotFound, 404),
    (InvalidTensor, 400),
    (ImageTooLarge, 413),
    (InvalidImage, 415),
    (InvalidInput, 422),
    (UnsupportedOperation, 422),
    (NotReady, 503),
    (Overloaded, 503),
    (DeadlineExceeded, 504),
    (DamagedVersion, 500),  # permanent, the server's own fault: no Retry-After
]


def problem_body(status: int, detail: str, path: str = "", **extra: Any) -> dict[str, Any]:
    """The one error shape. On the Open Inference Protocol's paths (/v2/...) it also carries
    that protocol's `error`, so that V2 clients (tritonclient, KServe's) read the message."""
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    body.update({k: v for k, v in extra.items() if v is not None})
    if path.startswith("/v2/") or path == "/v2":
        body["error"] = detail
    return body


def problem(
    status: int,
    detail: str,
    headers: dict[str, str] | None = None,
    path: str = "",
    **extra: Any,
) -> JSONResponse:
    body = problem_body(status, detail, path, **extra)
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def _extra(exc: Exception) -> dict[str, Any]:
    if isinstance(exc, ModelNotFound):
        return {"available": exc.available}
    if isinstance(exc, VersionNotFound):
        return {"available": exc.versions, "aliases": exc.aliases}
    if isinstance(exc, ServiceError):
        extra: dict[str, Any] = dict(exc.extra)
        if exc.loc:
            extra["errors"] = [{"loc": list(exc.loc), "msg": str(exc)}]
        return extra
    return {}


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    status = next((code for cls, code in STATUS if isinstance(exc, cls)), 500)
    headers = {"Retry-After": "2"} if status == 503 else None
    if isinstance(exc, ModelTraining):
        headers = {"Retry-After": str(round(min(max(exc.retry_after_s, 2), 60)))}
    if status == 401:
        headers = {"WWW-Authenticate": 'ApiKey header="X-API-Key"'}
    if isinstance(exc, CorruptArtifact):
        log.error("refused corrupt artifact: %s", exc)
        detail = "the requested model version failed its integrity checks"
        return problem(status, detail, headers, request.url.path)
    return problem(status, str(exc), headers, request.url.path, **_extra(exc))


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    # Never echo the input back: it may hold NaN (invalid JSON) or megabytes of base64. At
    # most MAX_ERRORS items, so that the answer stays small whatever was sent.
    # Keys in `loc` come from the request too (an unknown field's name): each is cut.
    errors = exc.errors()
    items = [
        {"loc": [_cut(p) for p in e.get("loc", ())], "msg": _cut(str(e.get("msg", "invalid"))),
         "type": e.get("type")}
        for e in errors[:MAX_ERRORS]
    ]  # fmt: skip
    first = items[0] if items else {"loc": [], "msg": "invalid request"}
    where = ".".join(str(p) for p in first["loc"])
    detail = f"{where}: {first['msg']}" if where else first["msg"]
    if len(errors) > MAX_ERRORS:
        detail += f" ({len(errors)} errors; the first {MAX_ERRORS} are listed)"
    if any(e.get("type") == "json_invalid" for e in errors[:1]):  # unreadable, as other bodies
        return problem(400, f"the body is not valid JSON: {first['msg']}", None, request.url.path)
    return problem(422, detail, None, request.url.path, errors=items, error_count=len(errors))


MAX_ECHO = 64


def _cut(part: object) -> object:
    """A path part or message from the request, at most MAX_ECHO characters."""
    if isinstance(part, str) and len(part) > MAX_ECHO:
        return f"{part[:MAX_ECHO]}... ({len(part)} characters)"
    return part


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    headers = dict(exc.headers) if exc.headers else None
    detail = str(exc.detail)
    allowed = (headers or {}).get("Allow") or (headers or {}).get("allow")
    if exc.status_code == 405 and allowed:
        detail = (f"{request.method} is not allowed on {request.url.path}; use {allowed} "
                  "(the request and its examples: /docs)")  # fmt: skip
    return problem(exc.status_code, detail, headers, request.url.path)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return problem(500, "internal error; the service log has the details", None, request.url.path)


HANDLERS: list[tuple[type[Exception], Any]] = [
    (StoreError, _domain_error),
    (ServiceError, _domain_error),
    (RequestValidationError, _validation_error),
    (StarletteHTTPException, _http_error),
    (Exception, _unexpected),
]


def install(app: FastAPI) -> None:
    for cls, handler in HANDLERS:
        app.add_exception_handler(cls, handler)


async def answer(request: Request, exc: Exception) -> JSONResponse:
    """The answer the app's handlers give `exc`, for code that runs outside the router
    (`service.dialects`' raw image bodies)."""
    handler = next(h for cls, h in HANDLERS if isinstance(exc, cls))
    return await handler(request, exc)
