"""Checking predict inputs against what the model takes and the service's limits, before anything is sent
to a replica: the kind of each input, how many there are, how long each text is."""

from __future__ import annotations

from collections.abc import Sequence

from automl_proto.inference import ImageInput, PredictInput, PromptInput
from inference_svc.errors import TextTooLong, TooManyInputs, WrongInputKind


def _kind(value: PredictInput) -> str:
    if isinstance(value, ImageInput):
        return "an image"
    if isinstance(value, PromptInput):
        return "a prompt"
    return "a text"


def texts_of(inputs: Sequence[PredictInput], model_type: str, *, max_inputs: int, max_chars: int) -> list[str]:
    if len(inputs) > max_inputs:
        raise TooManyInputs(f"inputs: {len(inputs)} inputs in one call; at most {max_inputs} (send several calls)")
    if model_type != "text_classification":
        raise WrongInputKind(f"a {model_type} model cannot be served yet")
    texts = []
    for position, value in enumerate(inputs):
        if not isinstance(value, str):
            raise WrongInputKind(f"inputs[{position}]: {_kind(value)}, but this {model_type} model takes text")
        if len(value) > max_chars:
            raise TextTooLong(f"inputs[{position}]: {len(value)} characters; at most {max_chars}")
        texts.append(value)
    return texts
