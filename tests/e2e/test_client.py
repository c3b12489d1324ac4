"""The Python client against a real server: PIL and numpy in, PIL out, typed errors."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from autoencoders_client import (
    AsyncClient,
    Client,
    InvalidRequest,
    NotFound,
    UnsupportedImage,
    to_array,
)
from service.examples import SERIOUS_FACE
from tests.images import real_digits


@pytest.fixture
def api(server):
    with Client(server.url) as c:
        yield c


def test_every_call_takes_arrays_and_returns_pil_images(api):
    digits, _ = real_digits(3)
    rec = api.reconstruct(list(digits))
    assert (rec.model, rec.version) == ("mnist-vae", 1)
    assert [i.size for i in rec.images] == [(28, 28)] * 3 and len(rec.raw["errors"]) == 3
    enc = api.encode([digits[0] / 255.0])  # float arrays in [0, 1] work too
    assert len(enc.codes[0]) == 20
    verdicts = api.score(list(digits), heatmap=True)
    assert len(verdicts) == 3 and verdicts[0]["heatmap"].size == (28, 28)
    assert {"score", "percentile", "outlier", "threshold"} <= verdicts[0].keys()
    assert to_array(api.decode(enc.codes).images[0]).shape == (28, 28)
    assert len(api.sample(count=2, seed=1).images) == 2
    groups = api.cvae_sample(labels=[1, 2], count_per_label=2, seed=0)
    assert list(groups) == ["1", "2"] and len(groups["2"]) == 2
    face = api.edit_attribute([_face_bytes()], {"Smiling": 1.0})
    assert face.images[0].size == (45, 45) and face.raw["edits"] == [
        {"attribute": "Smiling", "strength": 1.0}
    ]
    assert len(api.interpolate(digits[0], digits[1], steps=3).images) == 3
    assert {m["name"] for m in api.models()} >= {"mnist-vae", "faces-ae-conv"}
    assert api.model("mnist-cvae")["details"][0]["family"] == "cvae" and api.ready()


def _face_bytes() -> bytes:
    import base64

    return base64.b64decode(SERIOUS_FACE)


def test_errors_raise_typed_exceptions(api):
    with pytest.raises(NotFound) as err:
        api.sample(model="nope")
    assert "mnist-vae" in err.value.available
    with pytest.raises(InvalidRequest) as err:
        api.decode([[0.0] * 3])
    assert err.value.status == 422 and err.value.errors[0]["loc"] == ["body", "codes"]
    with pytest.raises(UnsupportedImage):
        api.reconstruct([b"not an image"])


def test_async_client_gives_the_same_images(server):
    async def main():
        async with AsyncClient(server.url) as api:
            return await asyncio.gather(api.sample(count=2, seed=5), api.sample(count=2, seed=5))

    a, b = asyncio.run(main())
    assert [np.asarray(i).tolist() for i in a.images] == [np.asarray(i).tolist() for i in b.images]
    with Client(server.url) as api:
        sync = api.sample(count=2, seed=5)
    assert np.array_equal(np.asarray(sync.images[0]), np.asarray(a.images[0]))
