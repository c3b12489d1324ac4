"""What a route offers the service's other ways in (`service.dialects`): `RawRoute`, its
function and body schema, for a body that is handed to it past FastAPI's router (a raw
image, a JSON body that validates), and `upload_docs`, the OpenAPI of its file picker, its
raw image bodies and its PNG answer (what /docs shows)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from service.state import RequestContext

RAW_TYPES = ("image/png", "image/jpeg")


@dataclass(frozen=True)
class RawRoute:
    """What a route that takes bodies past the router needs: its function (called as FastAPI
    would, with the request's context and its validated body), its body's schema, and the
    route itself (for the metrics' label)."""

    handle: Callable[[RequestContext, Any], Awaitable[Any]]
    schema: type[BaseModel]
    route: Any

    @classmethod
    def table(cls, router: Any, handlers: dict[str, tuple[Any, type[BaseModel]]]
              ) -> dict[str, RawRoute]:  # fmt: skip
        """{path: RawRoute} for a router's routes given (handler, schema) by path."""
        routes = {route.path: route for route in router.routes}
        return {path: cls(fn, schema, routes[path]) for path, (fn, schema) in handlers.items()}


def upload_docs(files: tuple[str, ...] = ("images",), raw: bool = True) -> dict[str, Any]:
    """The OpenAPI of a route's other ways in (file picker in /docs) and of its PNG answer."""
    props: dict[str, Any] = {
        name: {"type": "string", "format": "binary"} for name in files
    } if files != ("images",) else {
        "images": {"type": "array", "items": {"type": "string", "format": "binary"},
                   "description": "one or more PNG or JPEG files"},
    }  # fmt: skip
    props.update({
        "model": {"type": "string", "description": "model name (default: the route's)"},
        "version": {"type": "string", "description": "a version number or an alias"},
        "labels": {"type": "string", "description": "JSON list, conditional models: [3, 7]"},
    })  # fmt: skip
    form = {"type": "object", "properties": props, "required": list(files)}
    content: dict[str, Any] = {"multipart/form-data": {"schema": form}}
    if raw:
        for kind in RAW_TYPES:
            content[kind] = {"schema": {"type": "string", "format": "binary"}}
    return {
        "requestBody": {"content": content},
        "responses": {"200": {"content": {"image/png": {
            "schema": {"type": "string", "format": "binary"},
        }}, "description": "JSON by default; with accept: image/png the image itself (several: "
            "one grid), model and version in X-Model and X-Model-Version"}},
    }  # fmt: skip
