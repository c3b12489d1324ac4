"""The Open Inference Protocol's wire codec: a V2 inference request, JSON or binary, read
into tensors checked against the operation's signature, and the answer written back the way
it was asked for (`service.open_inference` describes the models and the formats)."""

from __future__ import annotations

import base64
import binascii
import json
import math
import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from service.errors import InvalidTensor
from service.open_inference import Signature, TensorSpec

NUMPY = {"FP32": np.dtype("<f4"), "INT64": np.dtype("<i8")}
HEADER_LENGTH = "inference-header-content-length"

# -- requests


@dataclass
class InferRequest:
    id: str | None
    rows: int
    inputs: dict[str, torch.Tensor | list[bytes]]
    outputs: list[tuple[str, bool]]  # (name, binary), in the order to answer them
    parameters: dict[str, Any] = field(default_factory=dict)


def _header(body: bytes, header_length: str | None) -> tuple[dict[str, Any], bytes]:
    if header_length is None:
        size = len(body)
    else:
        try:
            size = int(header_length)
        except ValueError:
            size = -1
        if not 0 <= size <= len(body):
            raise InvalidTensor(
                f"Inference-Header-Content-Length is {header_length!r}; it must be the JSON "
                f"header's length in bytes, at most the body's {len(body)}"
            )
    try:
        header = json.loads(body[:size])
    except (UnicodeDecodeError, ValueError):
        raise InvalidTensor(
            "the request's JSON header could not be read: send an inference request "
            '({"inputs": [{"name": ..., "shape": [...], "datatype": ..., "data": [...]}]}); '
            "with binary tensors, set Inference-Header-Content-Length to its length"
        ) from None
    if not isinstance(header, dict) or not isinstance(header.get("inputs"), list):
        raise InvalidTensor('the inference request needs a list "inputs"')
    return header, body[size:]


def _shape(tensor: dict[str, Any], spec: TensorSpec, max_rows: int) -> tuple[int, ...]:
    shape = tensor.get("shape")
    if not isinstance(shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) for d in shape
    ):
        raise InvalidTensor(f"input {spec.name!r}: shape must be a list of integers")
    expected = "[" + ", ".join("N" if d < 0 else str(d) for d in spec.shape) + "]"
    if len(shape) != len(spec.shape) or any(
        d >= 0 and d != s for d, s in zip(spec.shape, shape, strict=True)
    ):
        raise InvalidTensor(f"input {spec.name!r} has shape {shape}; the model takes {expected}")
    if not 1 <= shape[0] <= max_rows:
        raise InvalidTensor(
            f"input {spec.name!r} has {shape[0]} rows; send between 1 and {max_rows} per request"
        )
    return tuple(shape)


def _bytes_elements(raw: bytes, count: int, name: str) -> list[bytes]:
    out, at = [], 0
    for _ in range(count):
        if at + 4 > len(raw):
            raise InvalidTensor(f"input {name!r}: its binary data ends inside an element")
        (size,) = struct.unpack_from("<I", raw, at)
        at += 4
        if at + size > len(raw):
            raise InvalidTensor(f"input {name!r}: an element's length runs past its data")
        out.append(raw[at : at + size])
        at += size
    if at != len(raw):
        raise InvalidTensor(f"input {name!r}: {len(raw) - at} bytes after its {count} elements")
    return out


def _json_elements(data: Any, count: int, name: str) -> list[bytes]:
    if (
        not isinstance(data, list)
        or len(data) != count
        or not all(isinstance(s, str) for s in data)
    ):
        raise InvalidTensor(f"input {name!r}: data must be {count} base64 strings")
    out = []
    for s in data:
        try:
            out.append(binascii.a2b_base64(s, strict_mode=True))
        except (binascii.Error, ValueError):
            raise InvalidTensor(f"input {name!r}: an element is not standard base64") from None
    return out


def _numbers(data: Any, spec: TensorSpec, shape: tuple[int, ...]) -> np.ndarray:
    try:
        array = np.asarray(data, dtype=NUMPY[spec.datatype])
    except (TypeError, ValueError, OverflowError):
        raise InvalidTensor(f"input {spec.name!r}: data must be numbers") from None
    if array.size != math.prod(shape):
        raise InvalidTensor(
            f"input {spec.name!r}: {array.size} numbers for shape {list(shape)} "
            f"({math.prod(shape)})"
        )
    return array.reshape(shape)


def parse_request(
    body: bytes,
    header_length: str | None,
    sig: Signature,
    max_rows: int,
    value_range: tuple[float, float] = (0.0, 1.0),
    max_abs: float = math.inf,
) -> InferRequest:
    """An inference request's inputs, checked against the signature: names, datatypes,
    shapes, sizes, finite values within range. Every refusal is an InvalidTensor (400)."""
    header, binary = _header(body, header_length)
    specs = {t.name: t for t in sig.inputs}
    given: dict[str, Any] = {}
    offset, rows = 0, None
    for tensor in header["inputs"]:
        name = tensor.get("name") if isinstance(tensor, dict) else None
        if name not in specs:
            raise InvalidTensor(f"unknown input {name!r}; this model takes {', '.join(specs)}")
        if name in given:
            raise InvalidTensor(f"input {name!r} is given twice")
        spec = specs[name]
        if tensor.get("datatype") != spec.datatype:
            raise InvalidTensor(
                f"input {name!r} is {tensor.get('datatype')!r}; the model takes {spec.datatype}"
            )
        shape = _shape(tensor, spec, max_rows)
        if rows is not None and shape[0] != rows:
            raise InvalidTensor(f"input {name!r} has {shape[0]} rows; the others have {rows}")
        rows = shape[0]
        size = (tensor.get("parameters") or {}).get("binary_data_size")
        if size is not None:
            if not isinstance(size, int) or not 0 <= size <= len(binary) - offset:
                raise InvalidTensor(
                    f"input {name!r}: binary_data_size {size!r} runs past the body's "
                    f"{len(binary) - offset} remaining bytes"
                )
            raw, offset = binary[offset : offset + size], offset + size
            if spec.datatype == "BYTES":
                given[name] = _bytes_elements(raw, rows, name)
            else:
                expected = math.prod(shape) * NUMPY[spec.datatype].itemsize
                if size != expected:
                    raise InvalidTensor(
                        f"input {name!r}: binary_data_size is {size}; shape {list(shape)} of "
                        f"{spec.datatype} is {expected} bytes"
                    )
                given[name] = np.frombuffer(raw, dtype=NUMPY[spec.datatype]).reshape(shape)
        elif "data" not in tensor:
            raise InvalidTensor(f"input {name!r} has neither data nor binary_data_size")
        elif spec.datatype == "BYTES":
            given[name] = _json_elements(tensor["data"], rows, name)
        else:
            given[name] = _numbers(tensor["data"], spec, shape)
    if offset != len(binary):
        raise InvalidTensor(
            f"{len(binary) - offset} bytes after the binary tensors the header describes"
        )
    missing = [n for n in specs if n not in given]
    if missing:
        raise InvalidTensor(f"missing input {', '.join(map(repr, missing))}")
    inputs: dict[str, torch.Tensor | list[bytes]] = {}
    for name, value in given.items():
        if isinstance(value, list):
            inputs[name] = value
            continue
        if specs[name].datatype == "FP32":
            low, high = value_range if name == "images" else (-max_abs, max_abs)
            if not np.isfinite(value).all():
                raise InvalidTensor(f"input {name!r} holds NaN or infinite values")
            if value.size and (value.min() < low or value.max() > high):
                hint = " (divide 0-255 pixels by 255)" if name == "images" else ""
                raise InvalidTensor(f"input {name!r}: values must be within [{low:g}, "
                                    f"{high:g}]{hint}")  # fmt: skip
        inputs[name] = torch.from_numpy(np.array(value, dtype=value.dtype.newbyteorder("=")))
    parameters = header.get("parameters") if isinstance(header.get("parameters"), dict) else {}
    binary_default = bool(parameters.get("binary_data_output", False))
    known = {t.name for t in sig.outputs}
    outputs: list[tuple[str, bool]] = []
    asked = header.get("outputs")
    if asked is None:
        outputs = [(t.name, binary_default) for t in sig.outputs]
    elif not isinstance(asked, list):
        raise InvalidTensor('"outputs" must be a list of {"name": ...}')
    for item in asked or []:
        name = item.get("name") if isinstance(item, dict) else None
        if name not in known:
            raise InvalidTensor(f"unknown output {name!r}; this model has {', '.join(known)}")
        binary_out = (item.get("parameters") or {}).get("binary_data", binary_default)
        outputs.append((name, bool(binary_out)))
    request_id = header.get("id")
    return InferRequest(
        id=request_id if isinstance(request_id, str) else None,
        rows=rows or 0,
        inputs=inputs,
        outputs=outputs,
        parameters=parameters,
    )


# -- responses


def _binary(datatype: str, value: torch.Tensor | list[bytes]) -> bytes:
    if datatype == "BYTES":
        return b"".join(struct.pack("<I", len(v)) + v for v in value)  # type: ignore[arg-type]
    assert isinstance(value, torch.Tensor)
    return value.detach().cpu().numpy().astype(NUMPY[datatype], copy=False).tobytes()


def _json_data(datatype: str, value: torch.Tensor | list[bytes]) -> list[Any]:
    if datatype == "BYTES":
        return [base64.b64encode(v).decode("ascii") for v in value]  # type: ignore[arg-type]
    assert isinstance(value, torch.Tensor)
    return torch.nan_to_num(value).flatten().tolist()


def build_response(
    model_name: str,
    version: int,
    request: InferRequest,
    sig: Signature,
    values: dict[str, torch.Tensor | list[bytes]],
) -> tuple[bytes, int | None]:
    """The response body and, when it carries binary tensors, its JSON header's length (for
    the Inference-Header-Content-Length response header)."""
    specs = {t.name: t for t in sig.outputs}
    outputs, blobs = [], []
    for name, binary in request.outputs:
        spec, value = specs[name], values[name]
        rows = len(value)
        shape = [rows] if spec.datatype == "BYTES" else list(value.shape)  # type: ignore[union-attr]
        entry: dict[str, Any] = {"name": name, "datatype": spec.datatype, "shape": shape}
        if binary:
            blob = _binary(spec.datatype, value)
            entry["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        else:
            entry["data"] = _json_data(spec.datatype, value)
        outputs.append(entry)
    answer: dict[str, Any] = {
        "model_name": model_name,
        "model_version": str(version),
        "outputs": outputs,
    }
    if request.id is not None:
        answer["id"] = request.id
    header = json.dumps(answer, separators=(",", ":")).encode()
    if not blobs:
        return header, None
    return header + b"".join(blobs), len(header)
