"""One function from an image to a model's input tensor, for the trainer and the service alike,
so that a model is always served the inputs it was trained on (the manifest's `InputSpec`)."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from model_store.manifest import InputSpec


def prepare_image(img: Image.Image, spec: InputSpec) -> torch.Tensor:
    """A decoded image -> (C, H, W) float32 tensor in [0, 1]: convert to grey or RGB, crop
    (the box scaled from its reference size to this image's), bilinear resize."""
    img = img.convert("L" if spec.channels == 1 else "RGB")
    if spec.crop is not None:
        (left, top, right, bottom), (ref_w, ref_h) = spec.crop.box, spec.crop.reference
        w, h = img.size
        box = (round(left * w / ref_w), round(top * h / ref_h),
               round(right * w / ref_w), round(bottom * h / ref_h))  # fmt: skip
        if box[2] > box[0] and box[3] > box[1]:  # a tiny image keeps what it has
            img = img.crop(box)
    if img.size != (spec.width, spec.height):
        img = img.resize((spec.width, spec.height), Image.BILINEAR)
    array = np.asarray(img, dtype=np.float32)
    if spec.channels == 1:
        return torch.from_numpy(array / 255.0).unsqueeze(0)
    return torch.from_numpy(array.transpose(2, 0, 1) / 255.0)
