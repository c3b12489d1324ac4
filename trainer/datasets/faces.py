"""Synthetic faces: a procedural, seeded generator of RGB faces with known attributes.

The offline default for face models (LFW cannot be fetched here), and what makes
attribute edits measurable: every image comes with exact binary labels.

Attributes: Male (short hair, or long hair for the rest), Smiling (a wider mouth with
its corners up and upper teeth showing, narrowed eyes, rosy cheeks), Mouth Open (a dark
cavity), Eyeglasses. Some are correlated on purpose, as in
real photos: men smile less often and wear glasses more often here, and open
mouths go with smiles. Nuisance variation: position, scale, skin tone, hair
colour, background, lighting direction and pixel noise.

Faces are drawn at twice the size and averaged down, so edges are anti-aliased.
"""

from __future__ import annotations

import numpy as np
import torch

from trainer.datasets import Dataset

ATTRIBUTES = ("Male", "Smiling", "Mouth Open", "Eyeglasses")
HAIR = np.array(
    [
        [0.08, 0.06, 0.05],
        [0.35, 0.22, 0.12],
        [0.85, 0.72, 0.40],
        [0.60, 0.25, 0.10],
        [0.60, 0.60, 0.60],
    ]
)
SKIN_LIGHT = np.array([0.96, 0.80, 0.69])
SKIN_DARK = np.array([0.42, 0.28, 0.18])


def sample_attributes(n: int, rng: np.random.Generator) -> np.ndarray:
    """Binary attributes with the correlations described above: (n, 4) in ATTRIBUTES order."""
    male = rng.random(n) < 0.5
    smiling = rng.random(n) < np.where(male, 0.35, 0.6)
    mouth_open = rng.random(n) < np.where(smiling, 0.55, 0.15)
    glasses = rng.random(n) < np.where(male, 0.4, 0.2)
    return np.stack([male, smiling, mouth_open, glasses], axis=1).astype(np.float32)


def _paint(canvas: np.ndarray, mask: np.ndarray, colour: np.ndarray, alpha: float = 1.0) -> None:
    """canvas (n, H, W, 3) <- colour (n, 3) where mask (n, H, W), blended by alpha."""
    target = colour[:, None, None, :].astype(np.float32)
    if alpha == 1.0:
        np.copyto(canvas, np.broadcast_to(target, canvas.shape), where=mask[..., None])
    else:
        canvas -= mask[..., None] * np.float32(alpha) * (canvas - target)


def render(attrs: np.ndarray, rng: np.random.Generator, size: int = 45) -> np.ndarray:
    """Faces for the given attributes: (n, 3, size, size) float32 in [0, 1]."""
    n = len(attrs)
    male, smiling, mouth_open, glasses = (attrs[:, i].astype(bool) for i in range(4))
    big = 2 * size
    grid = ((np.arange(big) + 0.5) / big * 2 - 1).astype(np.float32)  # [-1, 1]
    v, u = np.meshgrid(grid, grid, indexing="ij")
    u, v = u[None], v[None]

    def col(x):
        return np.asarray(x, dtype=np.float32)[:, None, None]

    # Faces are roughly aligned, as in LFW's deep-funneled photos: small shifts and scales.
    cx, cy = col(rng.uniform(-0.04, 0.04, n)), col(rng.uniform(-0.02, 0.05, n))
    s = col(rng.uniform(0.93, 1.04, n))
    skin_t = rng.uniform(0, 1, n)[:, None]
    skin = (1 - skin_t) * SKIN_LIGHT + skin_t * SKIN_DARK
    hair = HAIR[rng.integers(0, len(HAIR), n)] * rng.uniform(0.85, 1.15, (n, 1))
    background = rng.uniform(0.2, 0.9, (n, 1)) + rng.uniform(-0.12, 0.12, (n, 3))
    dark = np.tile([0.05, 0.04, 0.04], (n, 1))

    canvas = np.broadcast_to(background[:, None, None, :], (n, big, big, 3)).astype(np.float32)
    ell = lambda x0, y0, rx, ry: ((u - x0) / rx) ** 2 + ((v - y0) / ry) ** 2 <= 1  # noqa: E731

    # Long hair behind the face (not male), then the face, then short hair on top (male).
    long_hair = ell(cx, cy + 0.12 * s, 0.72 * s, 0.92 * s) & (v > cy - 0.8 * s)
    _paint(canvas, long_hair & ~male[:, None, None], hair)
    face = ell(cx, cy + 0.05 * s, 0.55 * s, 0.7 * s)
    _paint(canvas, face, skin)
    top = ell(cx, cy - 0.12 * s, 0.6 * s, 0.62 * s) & (v < cy - 0.38 * s)
    _paint(canvas, top, hair)

    # Eyes and brows; a smile narrows the eyes and raises rosy cheeks, as real smiles do.
    eye_h = np.where(smiling, 0.035, 0.06)[:, None, None] * s
    for side in (-1, 1):
        ex = cx + side * 0.22 * s
        ey = cy - 0.08 * s
        cheek = ell(cx + side * 0.3 * s, cy + 0.2 * s, 0.13 * s, 0.09 * s)
        _paint(canvas, cheek & smiling[:, None, None], np.tile([0.9, 0.45, 0.42], (n, 1)), 0.45)
        _paint(canvas, ell(ex, ey, 0.085 * s, eye_h), np.tile([0.95, 0.95, 0.95], (n, 1)))
        _paint(canvas, ell(ex, ey, 0.04 * s, np.minimum(eye_h, 0.045 * s)), dark)
        brow = (np.abs(v - (ey - 0.12 * s)) < 0.025 * s) & (np.abs(u - ex) < 0.1 * s)
        _paint(canvas, brow, hair * 0.7)
        lens = ell(ex, ey, 0.115 * s, 0.085 * s)
        ring = ell(ex, ey, 0.16 * s, 0.13 * s) & ~lens
        _paint(canvas, ring & glasses[:, None, None], dark)
    bridge = (np.abs(v - (cy - 0.08 * s)) < 0.03 * s) & (np.abs(u - cx) < 0.08 * s)
    _paint(canvas, bridge & glasses[:, None, None], dark)

    # Mouth: a smile is wider, lifts its corners and shows the upper teeth (the most visible
    # smile cue at this size, in photos too). An open mouth is a dark cavity whose bottom the
    # jaw sets, smile or not: a smile covers its top with teeth but adds no dark pixels, so
    # the two attributes add up in pixels as they do in faces.
    my = cy + 0.36 * s
    w = np.where(smiling, 0.28, 0.2)[:, None, None] * s
    t = np.clip((u - cx) / w, -1.5, 1.5)
    inside = np.abs(u - cx) < w
    arc = np.clip(1 - t**2, 0, None)
    curve = np.where(smiling[:, None, None], my - 0.16 * s * t**2, my + 0.0 * t)
    teeth_h = np.where(smiling[:, None, None], 0.08 * s * arc, 0.0)
    cavity_w = 0.2 * s  # a serious mouth's half-width, smile or not
    jaw = my + 0.02 * s + 0.17 * s * np.sqrt(np.clip(1 - ((u - cx) / cavity_w) ** 2, 0, None))
    lips = np.tile([0.65, 0.25, 0.25], (n, 1))
    _paint(canvas, inside & (np.abs(v - curve) < 0.045 * s), lips)
    below = v > curve + 0.01 * s
    cavity = below & (v < jaw) & (np.abs(u - cx) < cavity_w) & mouth_open[:, None, None]
    _paint(canvas, cavity, np.tile([0.12, 0.02, 0.03], (n, 1)))
    _paint(
        canvas,
        inside & below & (v < curve + 0.01 * s + teeth_h),
        np.tile([0.97, 0.96, 0.9], (n, 1)),
    )

    # Lighting from one side, then average 2x2 blocks down to the final size.
    light = 1 + col(rng.uniform(-0.25, 0.25, n)) * u
    canvas *= light[..., None]
    small = canvas.reshape(n, size, 2, size, 2, 3).mean(axis=(2, 4))
    small += rng.normal(0, 0.015, small.shape)
    return np.clip(small, 0, 1).transpose(0, 3, 1, 2).astype(np.float32)


def generate(n: int, seed: int, size: int = 45, chunk: int = 256) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    attrs = sample_attributes(n, rng)
    images = np.concatenate([render(attrs[i : i + chunk], rng, size) for i in range(0, n, chunk)])
    return images, attrs


def load_synthetic_faces(
    train: int = 20000, test: int = 2000, seed: int = 0, size: int = 45
) -> Dataset:
    """A fixed split: the test set comes from its own seed, never from the training stream."""
    tx, ta = generate(train, seed, size)
    vx, va = generate(test, seed + 10_000, size)
    zeros = torch.zeros
    return Dataset(
        name=f"synthetic-faces[seed={seed},size={size}]",
        train_x=torch.from_numpy(tx),
        train_y=zeros(train, dtype=torch.long),
        test_x=torch.from_numpy(vx),
        test_y=zeros(test, dtype=torch.long),
        class_names=(),
        attribute_names=ATTRIBUTES,
        train_attrs=torch.from_numpy(ta),
        test_attrs=torch.from_numpy(va),
    )
