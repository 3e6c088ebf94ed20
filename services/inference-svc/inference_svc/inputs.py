"""Checking predict inputs against what the model's type takes (the registry says: texts or images) and the
service's limits, before anything is sent to a replica. Images come by URL (fetched with the SSRF guard) or as
base64, and are opened here (decodable, within the byte and pixel limits) so a replica never sees a bad one;
replicas receive their bytes."""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Sequence
from typing import Any

from automl_common.errors import InvalidRequest
from automl_common.ssrf import FetchError, GuardedFetcher
from automl_proto.inference import ImageInput, PredictInput, PromptInput
from inference_svc.errors import ImageRefused, TextTooLong, TooManyInputs, WrongInputKind
from inference_svc.serving.loader import ModelInput
from inference_svc.settings import InferenceSettings
from modelkit import model_types


def _kind(value: PredictInput) -> str:
    if isinstance(value, ImageInput):
        return "an image"
    if isinstance(value, PromptInput):
        return "a prompt"
    return "a text"


def served_type(model_type: str, field: str = "model_id") -> model_types.ModelTypeInfo:
    """The registry's line for a model type this service can serve; a clear 400 for one it cannot."""
    try:
        return model_types.info(model_type)
    except model_types.UnknownModelType as e:
        raise InvalidRequest(f"{field}: {e}") from e


GENERATION_SHARE_OF_TIMEOUT = 0.9


class InputReader:
    def __init__(self, settings: InferenceSettings, images: GuardedFetcher) -> None:
        self.settings = settings
        self.images = images

    async def read(
        self, inputs: Sequence[PredictInput], model_type: str, *, max_inputs: int | None = None
    ) -> list[ModelInput]:
        limit = max_inputs or self.settings.max_inputs_per_request
        if len(inputs) > limit:
            raise TooManyInputs(f"inputs: {len(inputs)} inputs in one call; at most {limit} (send several calls)")
        try:
            kind = model_types.info(model_type).input_kind
        except model_types.UnknownModelType as e:
            raise WrongInputKind(str(e)) from e
        if kind == "image":
            detects = model_types.info(model_type).can("detects")
            return list(
                await asyncio.gather(
                    *(self.image_ask(position, value, model_type, detects) for position, value in enumerate(inputs))
                )
            )
        if kind == "chat":
            return [self.prompt(position, value, model_type) for position, value in enumerate(inputs)]
        out: list[ModelInput] = []
        for position, value in enumerate(inputs):
            if not isinstance(value, str):
                raise WrongInputKind(f"inputs[{position}]: {_kind(value)}, but this {model_type} model takes text")
            if len(value) > self.settings.max_text_chars:
                raise TextTooLong(
                    f"inputs[{position}]: {len(value)} characters; at most {self.settings.max_text_chars}"
                )
            out.append(value)
        return out

    def prompt(
        self, position: int, value: PredictInput, model_type: str, *, max_tokens_given: bool | None = None
    ) -> dict[str, Any]:
        """A generation request as the replica takes it (plain JSON). ``max_tokens_given``: whether the caller
        chose ``max_new_tokens`` (default: whether it was in the input); a default one is cut to fit the
        model's context, a chosen one that does not fit is refused."""
        if not isinstance(value, PromptInput):
            raise WrongInputKind(
                f"inputs[{position}]: {_kind(value)}, but this {model_type} model takes a prompt or messages "
                '({"prompt": ...} or {"messages": [{"role": "user", "content": ...}]})'
            )
        if value.characters() > self.settings.max_prompt_chars:
            raise TextTooLong(
                f"inputs[{position}]: {value.characters()} characters of prompt; at most "
                f"{self.settings.max_prompt_chars}"
            )
        if value.max_new_tokens > self.settings.max_new_tokens:
            raise InvalidRequest(
                f"inputs[{position}].max_new_tokens: {value.max_new_tokens}; at most {self.settings.max_new_tokens}"
            )
        # The replica stops generating a little before this caller stops waiting (the predict timeout): the
        # reply then ends, cut at its length, as an answer (spent and metered) rather than a timeout.
        timeout_s = self.settings.predict_timeout_s * GENERATION_SHARE_OF_TIMEOUT
        given = "max_new_tokens" in value.model_fields_set if max_tokens_given is None else max_tokens_given
        return value.model_dump(mode="json", exclude_none=True) | {
            "timeout_s": timeout_s,
            "max_new_tokens_given": given,
        }

    async def image_ask(self, position: int, value: PredictInput, model_type: str, detects: bool) -> ModelInput:
        """An image's bytes; for a detector, with what the caller keeps of its detections."""
        data = await self.image(position, value)
        assert isinstance(value, ImageInput)
        options = value.model_dump(include={"score_threshold", "max_detections"}, exclude_none=True)
        if detects:
            return {"image": data, **options} if options else data
        if options:
            raise InvalidRequest(
                f"inputs[{position}].{next(iter(options))}: only object detection models take it "
                f"(this model is {model_type})"
            )
        return data

    async def image(self, position: int, value: PredictInput) -> bytes:
        if not isinstance(value, ImageInput):
            raise WrongInputKind(
                f"inputs[{position}]: {_kind(value)}, but this model takes images "
                '({"image_url": ...} or {"image_base64": ...})'
            )
        limit = self.settings.max_image_bytes
        if value.image_base64 is not None:
            field = f"inputs[{position}].image_base64"
            if len(value.image_base64) > (limit + 2) // 3 * 4 + 4:
                raise ImageRefused(f"{field}: more than {limit} bytes")
            try:
                data = base64.b64decode(value.image_base64, validate=True)
            except (binascii.Error, ValueError) as e:
                raise ImageRefused(f"{field}: not valid base64 ({e})") from e
        else:
            assert value.image_url is not None
            field = f"inputs[{position}].image_url"
            try:
                data = (await self.images.fetch(value.image_url)).body
            except FetchError as e:
                raise ImageRefused(f"{field}: {e.detail}") from e
        if len(data) > limit:
            raise ImageRefused(f"{field}: {len(data)} bytes; at most {limit}")
        from modelkit.model_types.image_classification.images import ImageError, open_image

        try:
            await asyncio.to_thread(open_image, data, self.settings.max_image_pixels)
        except ImageError as e:
            raise ImageRefused(f"{field}: {e}") from e
        return data


def _stored(value: ModelInput) -> Any:
    if isinstance(value, bytes):
        return {"image_base64": base64.b64encode(value).decode()}
    if isinstance(value, dict) and isinstance(value.get("image"), bytes):  # a detector's image with its options
        return {key: item for key, item in value.items() if key != "image"} | _stored(value["image"])
    return value


def stored(values: Sequence[ModelInput]) -> list[Any]:
    """Inputs as a task row keeps them (JSON): texts and generation requests as they are, images as base64
    (with a detector's options beside)."""
    return [_stored(value) for value in values]


def _restored(value: Any) -> ModelInput:
    if isinstance(value, dict) and "image_base64" in value:
        image = base64.b64decode(value["image_base64"])
        options = {key: item for key, item in value.items() if key != "image_base64"}
        return {"image": image, **options} if options else image
    return value  # type: ignore[no-any-return]


def restored(values: Sequence[Any]) -> list[ModelInput]:
    return [_restored(value) for value in values]
