"""The Open Inference Protocol (KServe "V2", as Triton, KServe, MLServer and OpenVINO Model
Server speak it) over the same models: tensor signatures and the request and response
codec, JSON and binary (`service.open_inference_codec`). No HTTP here:
`service.routes.open_inference` serves it.

A store model is several V2 models, one per operation, named `{model}.{operation}` (store
names may hold dots, so the operation is what follows the last one):

- `encode`: `images` FP32 [N, C, H, W] (+ `labels` INT64 [N] for a conditional model) ->
  `codes` FP32 [N, D]; VAEs also `mu` and `logvar`;
- `decode`: `codes` FP32 [N, D] (+ `labels`) -> `images` FP32 [N, C, H, W];
- `reconstruct`: `images` FP32 (+ `labels`) -> `images` FP32 and `errors` FP32 [N];
- `encode-png`, `decode-png`, `reconstruct-png`: the same with `images` as BYTES [N], PNG or
  JPEG files in, PNG files out.

FP32 images are the model's input as it takes it: values in [0, 1], shape its `input`.
Binary tensors (the `binary_tensor_data` extension): a JSON header of
`Inference-Header-Content-Length` bytes, then each binary tensor's bytes in order,
little-endian; a BYTES element is a 4-byte little-endian length and its bytes. In JSON
`data`, a BYTES element is the file in standard base64.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from autoencoders import family_of
from model_store import Manifest
from service.errors import OperationNotFound

OPERATIONS = ("encode", "decode", "reconstruct", "encode-png", "decode-png", "reconstruct-png")


@dataclass(frozen=True)
class TensorSpec:
    name: str
    datatype: str
    shape: tuple[int, ...]  # -1: the batch dimension

    def metadata(self) -> dict[str, Any]:
        return {"name": self.name, "datatype": self.datatype, "shape": list(self.shape)}


@dataclass(frozen=True)
class Signature:
    operation: str  # the row-wise operation: encode, decode or reconstruct
    png: bool  # images as BYTES (PNG/JPEG files) rather than FP32 tensors
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]


def split_name(v2_name: str) -> tuple[str, str]:
    """`mnist-vae.encode` -> (`mnist-vae`, `encode`); a name without a known operation is
    refused, saying what the names look like."""
    store_name, dot, operation = v2_name.rpartition(".")
    if not dot or operation not in OPERATIONS:
        raise OperationNotFound(
            f"no V2 model {v2_name!r}: V2 models are named {{model}}.{{operation}}, operation "
            f"one of {', '.join(OPERATIONS)} (for example mnist-vae.encode); "
            "POST /v2/repository/index lists them"
        )
    return store_name, operation


def operations(manifest: Manifest) -> list[str]:
    """The V2 operations a version offers (its family's encode, decode, reconstruct)."""
    if not family_of(manifest.family).autoencoder:
        return []
    return list(OPERATIONS)


def signature(manifest: Manifest, operation: str) -> Signature:
    if operation not in operations(manifest):
        raise OperationNotFound(
            f"{manifest.name}@{manifest.version} is a {manifest.family} model and offers no "
            f"V2 operations; V2 serves the autoencoders' {', '.join(OPERATIONS)}"
        )
    family = family_of(manifest.family)
    base, _, png = operation.partition("-")
    spec = manifest.input
    if png:
        images = TensorSpec("images", "BYTES", (-1,))
    else:
        images = TensorSpec("images", "FP32", (-1, spec.channels, spec.height, spec.width))
    codes = TensorSpec("codes", "FP32", (-1, manifest.latent_size or 0))
    labels = (TensorSpec("labels", "INT64", (-1,)),) if family.conditional else ()
    if base == "encode":
        inputs = (images, *labels)
        outputs: tuple[TensorSpec, ...] = (codes,)
        if family.variational:
            outputs += (TensorSpec("mu", "FP32", codes.shape),
                        TensorSpec("logvar", "FP32", codes.shape))  # fmt: skip
    elif base == "decode":
        inputs, outputs = (codes, *labels), (images,)
    else:
        inputs, outputs = (images, *labels), (images, TensorSpec("errors", "FP32", (-1,)))
    return Signature(base, bool(png), inputs, outputs)


def model_metadata(manifest: Manifest, operation: str, versions: list[int]) -> dict[str, Any]:
    sig = signature(manifest, operation)
    return {
        "name": f"{manifest.name}.{operation}",
        "versions": [str(v) for v in versions],
        "platform": "pytorch",
        "inputs": [t.metadata() for t in sig.inputs],
        "outputs": [t.metadata() for t in sig.outputs],
    }
