"""Request and response shapes of the HTTP API (public shapes; the stored one is the manifest)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from model_store.refs import NAME_REGEX, SELECTOR_REGEX

# Images or codes one request may carry (not AE_MAX_BATCH: the rows of one forward pass,
# which may hold several requests).
MAX_ITEMS = 64
MAX_SAMPLES = 64
MAX_PER_LABEL = 16
MAX_LATENT_ABS = 1000.0
MAX_LATENT_SIZE = 4096  # numbers in one code: checked before any number is
MAX_IMAGE_CHARS = 2_000_000
MAX_SEED = 2**63 - 1

ImageB64 = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_IMAGE_CHARS,
        description=(
            "PNG or JPEG, standard base64 with padding; an optional "
            "`data:image/png;base64,` prefix is allowed. Other sizes and modes are "
            "converted to the model's input (grey or RGB, bilinear resize)."
        ),
    ),
]
LatentValue = Annotated[float, Field(allow_inf_nan=False, ge=-MAX_LATENT_ABS, le=MAX_LATENT_ABS)]
Code = Annotated[list[LatentValue], Field(min_length=1, max_length=MAX_LATENT_SIZE)]
Label = Annotated[
    int | Annotated[str, Field(min_length=1, max_length=64)],
    Field(description="class index (0-9) or class name ('7')"),
]
Seed = Annotated[int, Field(ge=0, le=MAX_SEED, description="same seed, same images")]
Temperature = Annotated[
    float,
    Field(
        gt=0,
        le=5,
        allow_inf_nan=False,
        description="scales the spread of the distribution sampled; 1 is as fitted",
    ),
]


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    model: str | None = Field(
        None,
        pattern=NAME_REGEX,
        max_length=64,
        description="model name; default: the endpoint's configured model",
    )
    version: (
        Annotated[int, Field(ge=1)]
        | Annotated[str, Field(pattern=SELECTOR_REGEX, max_length=64)]
        | None
    ) = Field(None, description="version number or alias (`production`, `staging`, `latest`)")


class ImagesRequest(Request):
    images: list[ImageB64] = Field(min_length=1, max_length=MAX_ITEMS)
    labels: list[Label] | None = Field(
        None, max_length=MAX_ITEMS, description="one class per image; conditional models only"
    )


class ScoreRequest(Request):
    images: list[ImageB64] = Field(min_length=1, max_length=MAX_ITEMS)
    fpr: float | None = Field(
        None, ge=0.001, le=0.5, allow_inf_nan=False,
        description="false-positive rate the outlier threshold is set for; default: the "
        "model's calibrated rate (1%)",
    )  # fmt: skip
    heatmap: bool = Field(False, description="also return each image's squared error per "
                          "pixel as a PNG (white: the largest error in that image)")  # fmt: skip


class DecodeRequest(Request):
    codes: list[Code] = Field(
        min_length=1,
        max_length=MAX_ITEMS,
        description="one code per image, each of the model's latent size, "
        f"values within ±{MAX_LATENT_ABS:g}",
    )
    labels: list[Label] | None = Field(
        None, max_length=MAX_ITEMS, description="conditional models only"
    )


class SampleRequest(Request):
    count: int = Field(8, ge=1, le=MAX_SAMPLES)
    seed: Seed | None = Field(None, description="omit for a random seed (returned in the response)")
    temperature: Temperature = 1.0


class CvaeSampleRequest(Request):
    labels: list[Label] | None = Field(
        None, min_length=1, max_length=32, description="classes to draw; omit for every class"
    )
    count_per_label: int = Field(1, ge=1, le=MAX_PER_LABEL)
    shared_noise: bool = Field(
        True,
        description="true: the same random codes drawn as every label (style kept, class changed); "
        "false: independent codes per label",
    )
    seed: Seed | None = None
    temperature: Temperature = 1.0


class AttributeEdit(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    attribute: str = Field(
        min_length=1, max_length=64, description="e.g. Smiling; `GET /models/{name}` lists them"
    )
    strength: float = Field(
        1.0,
        ge=-10,
        le=10,
        allow_inf_nan=False,
        description="1 adds the full direction, 0 changes nothing, negative removes",
    )


class EditRequest(Request):
    images: list[ImageB64] = Field(min_length=1, max_length=MAX_ITEMS)
    edits: list[AttributeEdit] = Field(
        min_length=1, max_length=8,
        description='a list of {"attribute", "strength"}, or an object of attribute: strength '
        '({"Smiling": 1.0, "Eyeglasses": -1.0}), as the Python client takes them',
    )  # fmt: skip

    @field_validator("edits", mode="before")
    @classmethod
    def _edits_as_object(cls, value: Any) -> Any:
        """{"Smiling": 1.0} is the list [{"attribute": "Smiling", "strength": 1.0}]."""
        if isinstance(value, dict):
            return [{"attribute": k, "strength": v} for k, v in value.items()]
        return value

    direction: Literal["corrected", "plain"] = Field(
        "corrected",
        description="corrected (the default): each attribute with the others held fixed, so "
        "that smiling does not also open the mouth or change, say, gender; plain: mean code "
        "of faces with the attribute minus mean code of faces without (the write-up's smile "
        "vector), which carries the attributes that co-occur with it",
    )


class InterpolateRequest(Request):
    start: ImageB64
    end: ImageB64
    steps: int = Field(8, ge=2, le=32, description="frames, both ends included")


class Served(BaseModel):
    model: str = Field(description="the model that served the request")
    version: int = Field(description="its version")


class EncodeResponse(Served):
    codes: list[list[float]]
    mu: list[list[float]] | None = Field(None, description="posterior mean (VAEs)")
    logvar: list[list[float]] | None = Field(None, description="posterior log-variance (VAEs)")


class ImagesResponse(Served):
    images: list[str] = Field(description="base64 PNG")


class ReconstructResponse(ImagesResponse):
    errors: list[float] = Field(description="mean squared error per pixel, per image (0..1)")


class ImageScore(BaseModel):
    score: float = Field(description="the largest of likelihood_z, error_z and code_z; "
                         "higher = more unusual")  # fmt: skip
    percentile: float = Field(description="share of held-out in-distribution images with a "
                              "lower score (0..1)")  # fmt: skip
    outlier: bool | None = Field(description="score above threshold; None when the "
                                 "calibration split is too small for this rate")  # fmt: skip
    threshold: float | None
    fpr: float = Field(description="the false-positive rate the threshold is set for")
    reconstruction_error: float = Field(description="mean squared error per pixel (0..1)")
    negative_log_likelihood_nats: float = Field(
        description="the model's: negative ELBO at the posterior mean for VAEs, the Bernoulli "
        "reconstruction term for plain autoencoders"
    )
    likelihood_z: float = Field(description="the negative log-likelihood in standard "
                                "deviations above the training images' mean")  # fmt: skip
    error_z: float = Field(description="the reconstruction error in standard deviations "
                           "above the training images' mean")  # fmt: skip
    code_negative_log_density: float | None = Field(
        None, description="the negative log-density (nats) of the image's code under the "
        "Gaussian mixture fitted to the training codes; None for versions scored without it "
        "(conditional VAEs, versions calibrated before it)"
    )
    code_z: float | None = Field(None, description="code_negative_log_density in standard "
                                 "deviations above the training images' mean")  # fmt: skip
    label: int | str | None = Field(
        None, description="conditional models: the class scored against"
    )
    heatmap: str | None = Field(None, description="base64 PNG, when asked for")


class ScoreResponse(Served):
    scores: list[ImageScore]
    method: str = Field(description="how the score is made and calibrated")
    calibration_size: int = Field(description="held-out images behind percentile and threshold")


class SampleResponse(ImagesResponse):
    codes: list[list[float]]
    seed: int


class EditResponse(ImagesResponse):
    codes: list[list[float]] = Field(description="the edited codes")
    edits: list[AttributeEdit] = Field(description="the edits applied, with canonical names")
    direction: str


class InterpolateResponse(ImagesResponse):
    codes: list[list[float]]


class LabelGroup(BaseModel):
    label: str
    index: int
    images: list[str]


class CvaeSampleResponse(Served):
    groups: list[LabelGroup]
    codes: list[list[float]] = Field(
        description="shared noise: one code per column; else one per image"
    )
    seed: int
    shared_noise: bool


class ProblemItem(BaseModel):
    loc: list[str | int]
    msg: str
    type: str | None = None


class Problem(BaseModel):
    """RFC 9457 problem details; extra members (`available`, ...) say what exists."""

    model_config = ConfigDict(extra="allow")
    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[ProblemItem] | None = Field(None, description="at most the first 20")
    error_count: int | None = Field(None, description="how many validation errors in all")
