"""What a model answers for one input, by family: a classifier's heads, an llm's reply, a detector's boxes, a
segmenter's mask (``Output``, checked by ``output_of``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, TypeAdapter


class HeadPrediction(BaseModel):
    predicted: list[str] = Field(description="by the model's thresholds: one class, or any number when multi-label")
    scores: dict[str, float] = Field(description="every class, highest first")


class Prediction(BaseModel):
    heads: dict[str, HeadPrediction]


class Detection(BaseModel):
    label: str
    score: float
    box: list[float] = Field(description="[x_min, y_min, x_max, y_max] in the input image's pixels")


class Detections(BaseModel):
    """An object detector's answer: the objects found, best first."""

    detections: list[Detection]


class Segmentation(BaseModel):
    """A semantic segmenter's answer: a class per pixel of the input image."""

    mask_png_base64: str = Field(description="a one-channel PNG of the image's size; pixel value i is classes[i]")
    classes: list[str]
    pixel_shares: dict[str, float] = Field(description="each class's share of the image's pixels")


class TokenUsage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class Generation(BaseModel):
    """An llm model's reply."""

    text: str
    finish_reason: Literal["stop", "length"]
    usage: TokenUsage


Output = Prediction | Generation | Detections | Segmentation
_OUTPUT: TypeAdapter[Output] = TypeAdapter(Output)


def output_of(data: Any) -> Output:
    """A replica's answer for one input, as its schema."""
    return _OUTPUT.validate_python(data)
