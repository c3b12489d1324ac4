"""The synthetic face generator: seeded, labelled truthfully, correlated on purpose."""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image

from service.examples import SERIOUS_FACE
from trainer.datasets.faces import ATTRIBUTES, generate, render, sample_attributes

MALE, SMILING, MOUTH_OPEN, GLASSES = range(4)


def test_same_seed_same_faces_and_pixels_in_range():
    a, la = generate(40, 7)
    b, lb = generate(40, 7)
    assert a.shape == (40, 3, 45, 45) and a.dtype == np.float32
    assert np.array_equal(a, b) and np.array_equal(la, lb)
    assert 0 <= a.min() and a.max() <= 1
    assert not np.array_equal(a, generate(40, 8)[0])


def test_attributes_are_correlated_as_documented():
    attrs = sample_attributes(20_000, np.random.default_rng(0))
    assert attrs.shape == (20_000, len(ATTRIBUTES))
    men, women = attrs[:, MALE] == 1, attrs[:, MALE] == 0
    assert attrs[men, SMILING].mean() < attrs[women, SMILING].mean() - 0.15
    assert attrs[men, GLASSES].mean() > attrs[women, GLASSES].mean() + 0.1
    smiles = attrs[:, SMILING] == 1
    assert attrs[smiles, MOUTH_OPEN].mean() > attrs[~smiles, MOUTH_OPEN].mean() + 0.3


def _toggle(attribute: int) -> np.ndarray:
    """|difference| per pixel between faces drawn with the same randomness, attribute off/on."""
    base = np.zeros((16, 4), dtype=np.float32)
    on = base.copy()
    on[:, attribute] = 1
    off_img = render(base, np.random.default_rng(1))
    on_img = render(on, np.random.default_rng(1))
    return np.abs(on_img - off_img).mean(axis=(0, 1))  # (45, 45)


def test_a_smile_changes_the_mouth_cheeks_and_eyes_not_the_hair():
    diff = _toggle(SMILING)
    assert diff[25:34, 11:34].mean() > 0.03  # mouth and cheeks
    assert diff[18:23].max() > 0.1  # eyes narrow
    assert diff[:17].max() < 1e-6 and diff[36:].max() < 1e-6  # hair, chin, background


def test_a_smile_adds_no_dark_pixels_to_an_open_mouth():
    """The jaw sets the cavity, smile or not: the smile covers its top with teeth. So the two
    attributes add up in pixels, and a smile direction carries no open mouth into closed
    ones (the earlier drawing made about 7 pixels per face newly dark, up to 11)."""
    opened = np.zeros((64, 4), dtype=np.float32)
    opened[:, MOUTH_OPEN] = 1
    smiling = opened.copy()
    smiling[:, SMILING] = 1
    off = render(opened, np.random.default_rng(1))[:, 1]  # green: the cavity's darkest channel
    on = render(smiling, np.random.default_rng(1))[:, 1]
    newly_dark = ((on < 0.1) & (off >= 0.1)).sum(axis=(1, 2))
    assert newly_dark.mean() < 1 and newly_dark.max() <= 3


def test_glasses_change_only_the_eye_band():
    diff = _toggle(GLASSES)
    assert diff[17:25, 13:32].mean() > 0.05
    assert diff[:17].max() < 1e-6 and diff[25:].max() < 1e-6


def test_the_docs_example_face_is_the_generators_serious_face():
    images, attrs = generate(8, 3)
    assert attrs[0, SMILING] == attrs[0, MOUTH_OPEN] == attrs[0, GLASSES] == 0
    example = np.asarray(Image.open(io.BytesIO(base64.b64decode(SERIOUS_FACE))))
    drawn = (images[0].transpose(1, 2, 0) * 255).round().astype(np.uint8)
    assert np.array_equal(example, drawn)
