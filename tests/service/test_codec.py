from __future__ import annotations

import base64
import io

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from model_store import Crop, InputSpec
from service.codec import decode_base64, decode_image, decode_images, encode_png
from service.errors import ImageTooLarge, InvalidImage
from tests.images import decode_png, png_b64
from tests.pngcraft import declared_size_png, text_bomb_png

LOC = ("body", "images", 0)
DIGIT = (np.arange(28 * 28).reshape(28, 28) % 256).astype(np.uint8)
MAX_PIXELS = 4_000_000
DIGIT_INPUT = InputSpec(channels=1, height=28, width=28)


def test_png_round_trips_exactly():
    x = decode_images([png_b64(DIGIT)], DIGIT_INPUT, MAX_PIXELS)
    assert x.shape == (1, 1, 28, 28)
    assert np.array_equal((x[0, 0].numpy() * 255).round().astype(np.uint8), DIGIT)
    assert np.allclose(decode_png(encode_png(x[0])), DIGIT / 255.0)


def test_data_url_prefix_is_accepted():
    b64 = png_b64(DIGIT)
    assert decode_base64("data:image/png;base64," + b64, LOC) == base64.b64decode(b64)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("not base64!", id="junk-characters"),
        pytest.param("iVBORw0KGgo", id="missing-padding"),
        pytest.param("iVBO Rw0K", id="whitespace"),
        pytest.param("iVBORw0KGgo-_==", id="url-safe-alphabet"),
        pytest.param("iVBORw==AAAA", id="trailing-data-after-padding"),
        pytest.param("data:text/html;base64,PGI+", id="other-data-url"),
    ],
)
def test_base64_outside_the_documented_rule_is_refused_without_echoing(text):
    with pytest.raises(InvalidImage) as err:
        decode_base64(text, LOC)
    assert text not in str(err.value)
    assert err.value.loc == LOC


def test_jpeg_and_rgb_are_converted_to_the_models_grey_input():
    rgb = np.stack([DIGIT] * 3, axis=2)
    x = decode_image(base64.b64decode(png_b64(rgb, "JPEG")), DIGIT_INPUT, MAX_PIXELS, LOC)
    assert x.shape == (1, 28, 28)
    assert np.abs(x[0].numpy() * 255 - DIGIT).mean() < 12  # JPEG is lossy


def test_other_sizes_are_resized_to_the_models_input():
    big = np.kron(DIGIT, np.ones((4, 4), np.uint8))  # 112x112
    x = decode_image(
        base64.b64decode(png_b64(big)), InputSpec(channels=3, height=45, width=45), MAX_PIXELS, LOC
    )
    assert x.shape == (3, 45, 45)


@pytest.mark.parametrize(
    "side", [pytest.param(3000, id="over-our-limit"), pytest.param(30000, id="over-pillows")]
)
def test_a_decompression_bomb_is_refused_before_decoding(side):
    bomb = declared_size_png(side, side)
    assert len(bomb) < 1000
    with pytest.raises(ImageTooLarge, match="limit"):
        decode_image(bomb, DIGIT_INPUT, MAX_PIXELS, LOC)


@pytest.mark.parametrize("size", [(1, 4_000_000), (4_000_000, 1), (8193, 2)],
                         ids=["one-column", "one-row", "just-over-the-side"])  # fmt: skip
def test_a_thin_image_is_refused_before_decoding(size):
    """Rows cost as pixels do: 1x4,000,000 grey pixels (7.8 KB) took 194 ms to prepare."""
    out = io.BytesIO()
    Image.new("L", size, 128).save(out, format="PNG")
    with pytest.raises(ImageTooLarge, match="pixels a side"):
        decode_image(out.getvalue(), DIGIT_INPUT, 4_000_000, LOC)


def test_a_long_but_allowed_image_is_prepared():
    out = io.BytesIO()
    Image.new("L", (8192, 2), 128).save(out, format="PNG")
    assert decode_image(out.getvalue(), DIGIT_INPUT, 4_000_000, LOC).shape == (1, 28, 28)


def test_a_text_chunk_bomb_is_refused():
    with pytest.raises(InvalidImage):
        decode_image(text_bomb_png(), DIGIT_INPUT, MAX_PIXELS, LOC)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"", id="empty"),
        pytest.param(base64.b64decode(png_b64(DIGIT))[:60], id="truncated-png"),
        pytest.param(b"GIF89a" + b"\0" * 40, id="gif"),
        pytest.param(b"<svg xmlns='http://www.w3.org/2000/svg'/>", id="svg"),
    ],
)
def test_what_is_not_a_whole_png_or_jpeg_is_refused(data):
    with pytest.raises(InvalidImage):
        decode_image(data, DIGIT_INPUT, MAX_PIXELS, LOC)


def test_gif_is_refused_even_when_valid():
    buf = io.BytesIO()
    Image.fromarray(DIGIT).save(buf, format="GIF")
    with pytest.raises(InvalidImage, match="not a PNG or JPEG"):
        decode_image(buf.getvalue(), DIGIT_INPUT, MAX_PIXELS, LOC)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_random_bytes_are_refused_or_decoded_never_crash(data):
    try:
        x = decode_image(data, DIGIT_INPUT, MAX_PIXELS, LOC)
    except (InvalidImage, ImageTooLarge):
        return
    assert x.shape == (1, 28, 28)


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=8, max_size=400).map(lambda b: base64.b64decode(png_b64(DIGIT))[:33] + b))
def test_png_headers_followed_by_garbage_are_refused_or_decoded(data):
    try:
        decode_image(data, DIGIT_INPUT, MAX_PIXELS, LOC)
    except (InvalidImage, ImageTooLarge):
        pass


@pytest.mark.parametrize("channels", [1, 3], ids=["grey", "rgb"])
def test_encoded_pngs_are_read_by_pillow_pixel_for_pixel(channels):
    gen = np.random.default_rng(0)
    pixels = gen.integers(0, 256, size=(channels, 45, 31), dtype=np.uint8)
    png = base64.b64decode(encode_png(torch.from_numpy(pixels).float() / 255))
    img = Image.open(io.BytesIO(png))
    img.verify()  # chunk CRCs and structure
    img = Image.open(io.BytesIO(png))
    assert img.format == "PNG" and img.mode == ("L" if channels == 1 else "RGB")
    got = np.asarray(img)
    assert np.array_equal(got if channels == 3 else got[None], pixels.transpose(1, 2, 0)
                          if channels == 3 else pixels)  # fmt: skip


def test_a_models_crop_is_scaled_to_the_photo_it_is_sent():
    """LFW's recipe (centre 90x90 of 250x250) on a 500x500 photo takes its centre 180x180."""
    spec = InputSpec(channels=3, height=45, width=45,
                     crop=Crop(box=(80, 80, 170, 170), reference=(250, 250)))  # fmt: skip
    photo = np.full((500, 500, 3), 250, np.uint8)
    photo[160:340, 160:340] = 10  # the centre 180x180: all the model should see
    x = decode_image(base64.b64decode(png_b64(photo)), spec, MAX_PIXELS, LOC)
    assert x.shape == (3, 45, 45) and float(x.max()) == pytest.approx(10 / 255)
