"""Replies from a loaded causal LM, for replicas and the playground: each request a prompt or messages with its
generation parameters (checked by inference-svc before), each answer its text, why it ended, and the tokens
it took. The held-out prompts the worker answered at the end of training (``parity.json``) travel with it."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from transformers import PreTrainedTokenizerBase

from modelkit.model_types import llm_task
from modelkit.model_types.llm import LLMManifest
from modelkit.model_types.llm.generation import (
    Generated,
    Generation,
    GenerationParams,
    OnText,
    generate,
    prompt_messages,
)


def params_of(request: dict[str, Any]) -> GenerationParams:
    """``timeout_s``: the caller stops waiting after this long (inference-svc's predict timeout), so the
    generation stops then too."""
    timeout_s = request.get("timeout_s")
    return GenerationParams(
        max_new_tokens=int(request.get("max_new_tokens") or 64),
        temperature=float(request.get("temperature") or 0.0),
        top_p=float(request.get("top_p") or 1.0),
        stop=tuple(request.get("stop") or ()),
        seed=request.get("seed"),
        deadline=time.monotonic() + float(timeout_s) if timeout_s else None,
        fit_to_context=request.get("max_new_tokens_given") is False,
    )


def answer(generated: Generated) -> dict[str, Any]:
    return {
        "text": generated.text,
        "finish_reason": generated.finish_reason,
        "usage": {
            "prompt_tokens": generated.prompt_tokens,
            "completion_tokens": generated.completion_tokens,
            "total_tokens": generated.prompt_tokens + generated.completion_tokens,
        },
    }


class LLMPredictor:
    def __init__(
        self,
        model: torch.nn.Module,
        tokenizer: PreTrainedTokenizerBase,
        manifest: LLMManifest,
        parity: list[dict[str, Any]] | None = None,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.manifest = manifest
        self.parity = parity or []

    @classmethod
    def load(cls, directory: Path, base_dir: Path | None, device: str = "cpu") -> LLMPredictor:
        """On ``device``, in fp32 as the worker generated its parity replies (greedy replies must match)."""
        model, tokenizer, manifest = llm_task(LLMManifest.read(directory).model_type).load(directory, base_dir)
        model.to(device)
        parity_file = directory / "parity.json"
        parity = json.loads(parity_file.read_text()) if parity_file.is_file() else []
        return cls(model, tokenizer, manifest, parity)

    def generate(
        self,
        request: dict[str, Any],
        on_text: OnText | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> dict[str, Any]:
        messages = prompt_messages(request.get("prompt"), request.get("messages"))
        return answer(generate(self.model, self.tokenizer, messages, params_of(request), on_text, cancelled))

    def begin(
        self,
        request: dict[str, Any],
        on_text: OnText | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> Generation:
        """The reply to ``request``, to generate in slices (``Generation.advance`` with this model)."""
        messages = prompt_messages(request.get("prompt"), request.get("messages"))
        return Generation(self.model, self.tokenizer, messages, params_of(request), on_text, cancelled)

    def predict(self, raw: Sequence[Any]) -> list[dict[str, Any]]:
        """One reply per request, in order."""
        return [self.generate(dict(request)) for request in raw]
