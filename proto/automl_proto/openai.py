"""OpenAI-compatible generation contracts for llm deployments: ``POST /v1/deployments/{id}/chat/completions``
and ``/completions``, so OpenAI's clients work against a deployment with its base URL changed. Fields this
platform does not implement are refused by name (not silently ignored)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from automl_proto.inference import ChatMessage, PromptInput, TokenUsage

_STRICT = ConfigDict(extra="forbid")


class StreamOptions(BaseModel):
    model_config = _STRICT
    include_usage: bool = False


class _Sampling(BaseModel):
    model_config = _STRICT
    model: str | None = Field(default=None, max_length=200, description="informative: the deployment decides")
    max_tokens: int | None = Field(default=None, ge=1, le=4096, description="default 256")
    max_completion_tokens: int | None = Field(default=None, ge=1, le=4096, description="the newer name of max_tokens")
    temperature: float = Field(default=1.0, ge=0, le=2)
    top_p: float = Field(default=1.0, gt=0, le=1)
    stop: str | list[str] | None = Field(default=None, description="up to 4 strings")
    seed: int | None = Field(default=None, ge=0, le=2**31 - 1)
    n: int = Field(default=1, ge=1, le=1, description="one reply per request")
    stream: bool = False
    stream_options: StreamOptions | None = None

    def options(self) -> dict[str, object]:
        stop = [self.stop] if isinstance(self.stop, str) else list(self.stop or [])
        return {
            "max_new_tokens": self.max_completion_tokens or self.max_tokens or 256,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "stop": stop,
            "seed": self.seed,
        }


class ChatCompletionRequest(_Sampling):
    messages: list[ChatMessage] = Field(min_length=1, max_length=500)

    def prompt_input(self) -> PromptInput:
        return PromptInput.model_validate({"messages": [m.model_dump() for m in self.messages], **self.options()})


class CompletionRequest(_Sampling):
    prompt: str = Field(max_length=200_000)

    def prompt_input(self) -> PromptInput:
        return PromptInput.model_validate({"prompt": self.prompt, **self.options()})


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class ChatChoice(BaseModel):
    index: int
    message: AssistantMessage
    finish_reason: Literal["stop", "length"]


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[ChatChoice]
    usage: TokenUsage


class CompletionChoice(BaseModel):
    index: int
    text: str
    finish_reason: Literal["stop", "length"]


class Completion(BaseModel):
    id: str
    object: Literal["text_completion"] = "text_completion"
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: TokenUsage
