"""Typed clients for the autoencoders service, sync and async, on httpx.

    from autoencoders_client import Client
    with Client("http://127.0.0.1:8000") as api:
        faces = api.edit_attribute([photo], {"Smiling": 1.0})

Images go in as PIL images, numpy arrays, PNG/JPEG bytes or paths, and come back as PIL
images (`autoencoders_client.to_array` turns one into numpy). Error responses raise the
exceptions in `autoencoders_client.errors`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from PIL import Image

from autoencoders_client.errors import error_for
from autoencoders_client.images import ImageLike, from_base64, to_base64

Edits = Mapping[str, float] | Sequence[tuple[str, float]]


@dataclass
class Result:
    """What every inference call returns: the images, and who served them."""

    model: str
    version: int
    images: list[Image.Image] = field(default_factory=list)
    codes: list[list[float]] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


def _selector(model: str | None, version: int | str | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if model is not None:
        out["model"] = model
    if version is not None:
        out["version"] = version
    return out


def _result(body: dict[str, Any]) -> Result:
    return Result(
        model=body["model"],
        version=body["version"],
        images=[from_base64(b) for b in body.get("images", [])],
        codes=body.get("codes") or [],
        raw=body,
    )


def _scores(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [s | {"heatmap": from_base64(s["heatmap"]) if s.get("heatmap") else None}
            for s in body["scores"]]  # fmt: skip


def _edits(edits: Edits) -> list[dict[str, Any]]:
    pairs = edits.items() if isinstance(edits, Mapping) else edits
    return [{"attribute": a, "strength": float(s)} for a, s in pairs]


class _Requests:
    """The requests each endpoint sends; shared by the sync and async clients."""

    @staticmethod
    def encode(images, labels, model, version) -> dict[str, Any]:
        body = {"images": [to_base64(i) for i in images], **_selector(model, version)}
        return body | ({"labels": list(labels)} if labels is not None else {})

    @staticmethod
    def score(images, fpr, heatmap, model, version) -> dict[str, Any]:
        body = {"images": [to_base64(i) for i in images], "heatmap": heatmap,
                **_selector(model, version)}  # fmt: skip
        return body | ({"fpr": fpr} if fpr is not None else {})

    @staticmethod
    def decode(codes, labels, model, version) -> dict[str, Any]:
        body = {"codes": [list(map(float, c)) for c in codes], **_selector(model, version)}
        return body | ({"labels": list(labels)} if labels is not None else {})

    @staticmethod
    def sample(count, seed, temperature, model, version) -> dict[str, Any]:
        body = {"count": count, "temperature": temperature, **_selector(model, version)}
        return body | ({"seed": seed} if seed is not None else {})

    @staticmethod
    def cvae_sample(labels, count_per_label, shared_noise, seed, temperature, model, version):
        body = {
            "count_per_label": count_per_label,
            "shared_noise": shared_noise,
            "temperature": temperature,
            **_selector(model, version),
        }
        if labels is not None:
            body["labels"] = list(labels)
        return body | ({"seed": seed} if seed is not None else {})

    @staticmethod
    def edit(images, edits, direction, model, version) -> dict[str, Any]:
        return {
            "images": [to_base64(i) for i in images],
            "edits": _edits(edits),
            "direction": direction,
            **_selector(model, version),
        }

    @staticmethod
    def interpolate(start, end, steps, model, version) -> dict[str, Any]:
        return {
            "start": to_base64(start),
            "end": to_base64(end),
            "steps": steps,
            **_selector(model, version),
        }


def _check(response: httpx.Response) -> dict[str, Any]:
    if response.status_code >= 400:
        try:
            problem = response.json()
        except ValueError:
            problem = {"title": response.reason_phrase, "detail": response.text[:500]}
        raise error_for(response.status_code, problem, response.headers.get("retry-after"))
    return response.json()


def _groups(body: dict[str, Any]) -> dict[str, list[Image.Image]]:
    return {g["label"]: [from_base64(b) for b in g["images"]] for g in body["groups"]}


def _headers(api_key: str | None) -> dict[str, str]:
    return {"X-API-Key": api_key} if api_key else {}


class Client:
    """Blocking client. Every method may name `model` and `version` (number or alias)."""

    def __init__(self, base_url: str = "http://127.0.0.1:8000", api_key: str | None = None,
                 timeout: float = 60.0, **httpx_options: Any) -> None:  # fmt: skip
        self._http = httpx.Client(
            base_url=base_url, timeout=timeout, headers=_headers(api_key), **httpx_options
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return _check(self._http.post(path, json=body))

    def _get(self, path: str) -> dict[str, Any]:
        return _check(self._http.get(path))

    def encode(self, images: Sequence[ImageLike], labels=None, model=None, version=None) -> Result:
        """Codes per image (`result.codes`); VAEs also `result.raw['mu']`, `['logvar']`."""
        return _result(self._post("/encode", _Requests.encode(images, labels, model, version)))

    def decode(
        self, codes: Sequence[Sequence[float]], labels=None, model=None, version=None
    ) -> Result:
        return _result(self._post("/decode", _Requests.decode(codes, labels, model, version)))

    def reconstruct(
        self, images: Sequence[ImageLike], labels=None, model=None, version=None
    ) -> Result:
        """Reconstructions; `result.raw['errors']` holds the MSE per pixel of each image."""
        return _result(self._post("/reconstruct", _Requests.encode(images, labels, model, version)))

    def score(self, images: Sequence[ImageLike], fpr: float | None = None,
              heatmap: bool = False, model=None, version=None) -> list[dict[str, Any]]:  # fmt: skip
        """One dict per image: `score`, `percentile`, `outlier`, `threshold` and the parts
        (`heatmap` a PNG image when asked for)."""
        body = self._post("/score", _Requests.score(images, fpr, heatmap, model, version))
        return _scores(body)

    def sample(self, count: int = 8, seed: int | None = None, temperature: float = 1.0,
               model=None, version=None) -> Result:  # fmt: skip
        return _result(
            self._post("/sample", _Requests.sample(count, seed, temperature, model, version))
        )

    def cvae_sample(self, labels=None, count_per_label: int = 1, shared_noise: bool = True,
                    seed: int | None = None, temperature: float = 1.0, model=None,
                    version=None) -> dict[str, list[Image.Image]]:  # fmt: skip
        """Images by class name, e.g. {"3": [...], "8": [...]}."""
        body = _Requests.cvae_sample(
            labels, count_per_label, shared_noise, seed, temperature, model, version
        )
        return _groups(self._post("/cvae-sample", body))

    def edit_attribute(self, images: Sequence[ImageLike], edits: Edits,
                       direction: str = "corrected", model=None,
                       version=None) -> Result:  # fmt: skip
        """`edits`: {"Smiling": 1.0} or [("Smiling", 1.0), ("Eyeglasses", -1.0)]."""
        return _result(
            self._post("/edit-attribute", _Requests.edit(images, edits, direction, model, version))
        )

    def interpolate(
        self, start: ImageLike, end: ImageLike, steps: int = 8, model=None, version=None
    ) -> Result:
        return _result(
            self._post("/interpolate", _Requests.interpolate(start, end, steps, model, version))
        )

    def models(self) -> list[dict[str, Any]]:
        return self._get("/models")["models"]

    def model(self, name: str) -> dict[str, Any]:
        return self._get(f"/models/{name}")

    def ready(self) -> bool:
        return self._http.get("/ready").status_code == 200


class AsyncClient:
    """The same calls as `Client`, awaitable."""

    def __init__(self, base_url: str = "http://127.0.0.1:8000", api_key: str | None = None,
                 timeout: float = 60.0, **httpx_options: Any) -> None:  # fmt: skip
        self._http = httpx.AsyncClient(
            base_url=base_url, timeout=timeout, headers=_headers(api_key), **httpx_options
        )

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return _check(await self._http.post(path, json=body))

    async def _get(self, path: str) -> dict[str, Any]:
        return _check(await self._http.get(path))

    async def encode(self, images, labels=None, model=None, version=None) -> Result:
        return _result(
            await self._post("/encode", _Requests.encode(images, labels, model, version))
        )

    async def decode(self, codes, labels=None, model=None, version=None) -> Result:
        return _result(await self._post("/decode", _Requests.decode(codes, labels, model, version)))

    async def reconstruct(self, images, labels=None, model=None, version=None) -> Result:
        return _result(
            await self._post("/reconstruct", _Requests.encode(images, labels, model, version))
        )

    async def score(self, images, fpr=None, heatmap=False, model=None, version=None):
        body = await self._post("/score", _Requests.score(images, fpr, heatmap, model, version))
        return _scores(body)

    async def sample(self, count=8, seed=None, temperature=1.0, model=None, version=None) -> Result:
        body = _Requests.sample(count, seed, temperature, model, version)
        return _result(await self._post("/sample", body))

    async def cvae_sample(self, labels=None, count_per_label=1, shared_noise=True, seed=None,
                          temperature=1.0, model=None,
                          version=None) -> dict[str, list[Image.Image]]:  # fmt: skip
        body = _Requests.cvae_sample(
            labels, count_per_label, shared_noise, seed, temperature, model, version
        )
        return _groups(await self._post("/cvae-sample", body))

    async def edit_attribute(self, images, edits: Edits, direction="corrected", model=None,
                             version=None) -> Result:  # fmt: skip
        body = _Requests.edit(images, edits, direction, model, version)
        return _result(await self._post("/edit-attribute", body))

    async def interpolate(self, start, end, steps=8, model=None, version=None) -> Result:
        body = _Requests.interpolate(start, end, steps, model, version)
        return _result(await self._post("/interpolate", body))

    async def models(self) -> list[dict[str, Any]]:
        return (await self._get("/models"))["models"]

    async def model(self, name: str) -> dict[str, Any]:
        return await self._get(f"/models/{name}")

    async def ready(self) -> bool:
        return (await self._http.get("/ready")).status_code == 200
