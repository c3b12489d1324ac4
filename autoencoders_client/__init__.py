"""Python client for the autoencoders service. Depends on httpx, Pillow and numpy only."""

from autoencoders_client.client import AsyncClient, Client, Result
from autoencoders_client.errors import (
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    ServiceError,
    Unauthorized,
    Unavailable,
    UnsupportedImage,
)
from autoencoders_client.images import from_base64, to_array, to_base64

__all__ = [
    "AsyncClient",
    "Client",
    "InvalidRequest",
    "NotFound",
    "PayloadTooLarge",
    "Result",
    "ServiceError",
    "Unauthorized",
    "Unavailable",
    "UnsupportedImage",
    "from_base64",
    "to_array",
    "to_base64",
]
