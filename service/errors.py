"""Errors the service raises on purpose. No HTTP codes here: `problems.py` maps them."""

from __future__ import annotations

from collections.abc import Sequence


class ServiceError(Exception):
    def __init__(self, message: str, loc: Sequence[str | int] = (), **extra: object) -> None:
        super().__init__(message)
        self.loc, self.extra = tuple(loc), extra


class InvalidInput(ServiceError):
    """A request that parses but cannot be served as asked (wrong length, unknown label)."""


class InvalidImage(ServiceError):
    """Bytes that are not a PNG or JPEG image, or base64 that does not decode."""


class ImageTooLarge(ServiceError):
    """An image whose declared size is over the pixel limit; refused before decoding."""


class InvalidTensor(ServiceError):
    """An Open Inference Protocol request whose tensors do not match the model's signature
    (name, datatype, shape, size, values), or whose binary framing does not add up."""


class OperationNotFound(ServiceError):
    """A V2 model name that names no operation a store model offers."""


class AttributeNotFound(ServiceError):
    """An edit naming an attribute the model has no direction for."""


class ReportNotFound(ServiceError):
    """A report image the version did not publish."""


class UnsupportedOperation(ServiceError):
    """A model asked to do what its family cannot (e.g. /cvae-sample on a plain VAE)."""


class NotAuthenticated(ServiceError):
    """An API key is configured and the request does not carry it."""


class NotReady(ServiceError):
    """Models are still loading."""


class ModelTraining(ServiceError):
    """A model not yet in the store that a running trainer is about to publish."""

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class Overloaded(ServiceError):
    """More requests are waiting for inference than the service queues."""


class DeadlineExceeded(ServiceError):
    """A request not answered within the configured deadline (AE_REQUEST_TIMEOUT_S)."""


class DamagedVersion(ServiceError):
    """A model version that failed its integrity checks: refused for good, not retried."""

    def __init__(self, name: str, version: int, reason: str) -> None:
        super().__init__(
            f"version {version} of {name!r} failed its integrity checks and is not served "
            "(the service log and GET /models/{name} say more); ask for another version"
        )
        self.name, self.version, self.reason = name, version, reason
