"""The 30-line FastAPI app a user would write instead of ours: the serving benchmark's baseline.

    BASELINE_MODEL_DIR=models/mnist-vae/1 uvicorn bench.plain_app:app --port 8100

One route, base64 PNG in, one forward pass of the same model our service serves (rebuilt from
its manifest and safetensors weights), PNG out, one torch thread. Written as the FastAPI
tutorial suggests: Pydantic models in and out, a plain `def` route.
"""

import base64
import io
import json
import os

import numpy as np
import torch
from fastapi import FastAPI
from PIL import Image
from pydantic import BaseModel
from safetensors.torch import load_file

from autoencoders import ModelConfig, build_model

torch.set_num_threads(1)
folder = os.environ["BASELINE_MODEL_DIR"]
with open(f"{folder}/manifest.json") as f:
    config = ModelConfig.from_dict(json.load(f)["config"])
model = build_model(config).eval()
model.load_state_dict(load_file(f"{folder}/weights.safetensors"))
app = FastAPI()


class Images(BaseModel):
    images: list[str]


class Reconstructions(BaseModel):
    images: list[str]
    errors: list[float]


def to_tensor(b64: str) -> torch.Tensor:
    img = Image.open(io.BytesIO(base64.b64decode(b64))).convert("L").resize((28, 28))
    return torch.from_numpy(np.asarray(img, dtype=np.float32) / 255).unsqueeze(0)


def to_png(t: torch.Tensor) -> str:
    buf = io.BytesIO()
    Image.fromarray((t[0] * 255).round().byte().numpy()).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


@app.post("/reconstruct")
def reconstruct(req: Images) -> Reconstructions:
    x = torch.stack([to_tensor(s) for s in req.images])
    with torch.inference_mode():
        y = model.decode(model.encode(x).z)
    errors = ((y - x) ** 2).mean(dim=(1, 2, 3)).tolist()
    return Reconstructions(images=[to_png(i) for i in y], errors=errors)
