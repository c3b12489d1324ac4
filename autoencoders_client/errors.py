"""Exceptions for the service's error responses (RFC 9457 problem details)."""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """An error response. `problem` is the decoded body: title, detail, errors[], extras."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        self.status = status
        self.problem = problem
        self.detail: str = str(problem.get("detail", ""))
        self.errors: list[dict[str, Any]] = list(problem.get("errors") or [])
        self.available: list[Any] | None = problem.get("available")
        super().__init__(f"{status} {problem.get('title', '')}: {self.detail}".strip())


class InvalidRequest(ServiceError):
    """400 or 422: the request was refused; `errors` names each field."""


class Unauthorized(ServiceError):
    """401: the service requires an API key (`api_key=`)."""


class NotFound(ServiceError):
    """404: unknown model, version or attribute; `available` lists what exists."""


class PayloadTooLarge(ServiceError):
    """413: body or image over the service's limit."""


class UnsupportedImage(ServiceError):
    """415: bytes that are not a PNG or JPEG, or base64 outside the rule."""


class Unavailable(ServiceError):
    """503: models still loading or the service is overloaded; retry after `retry_after` s."""

    def __init__(self, status: int, problem: dict[str, Any], retry_after: float | None) -> None:
        super().__init__(status, problem)
        self.retry_after = retry_after


_BY_STATUS: dict[int, type[ServiceError]] = {
    400: InvalidRequest,
    401: Unauthorized,
    404: NotFound,
    413: PayloadTooLarge,
    415: UnsupportedImage,
    422: InvalidRequest,
}


def error_for(status: int, problem: dict[str, Any], retry_after: str | None) -> ServiceError:
    if status == 503:
        return Unavailable(status, problem, float(retry_after) if retry_after else None)
    return _BY_STATUS.get(status, ServiceError)(status, problem)
