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
    include_usage: bool = Field(
        default=False, description="accepted for OpenAI compatibility; the last chunk always carries the usage"
    )


class _Sampling(BaseModel):
    model_config = _STRICT
    model: str | None = Field(default=None, max_length=200, description="informative: the deployment decides")
    max_tokens: int | None = Field(default=None, ge=1, le=4096, description="default 256")
    max_completion_tokens: int | None = Field(default=None, ge=1, le=4096, description="the newer name of max_tokens")
    temperature: float = Field(
        description="0: greedy (the same reply each time); higher: more varied (default 1)", default=1.0, ge=0, le=2
    )
    top_p: float = Field(
        description="sample from the smallest set of tokens whose probabilities add up to this", default=1.0, gt=0, le=1
    )
    stop: str | list[str] | None = Field(default=None, description="up to 4 strings")
    seed: int | None = Field(
        description="with a temperature above 0: the same seed gives the same reply", default=None, ge=0, le=2**31 - 1
    )
    n: int = Field(default=1, ge=1, le=1, description="one reply per request")
    stream: bool = Field(
        default=False, description="true: the reply as server-sent events, a chunk a piece, then [DONE]"
    )
    stream_options: StreamOptions | None = Field(default=None, description="accepted for OpenAI compatibility")

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
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "messages": [{"role": "user", "content": "Is this review positive? Quick delivery."}],
                    "max_tokens": 16,
                }
            ]
        },
    )
    messages: list[ChatMessage] = Field(
        description="the conversation to reply to (1-500 messages)", min_length=1, max_length=500
    )

    def prompt_input(self) -> PromptInput:
        return PromptInput.model_validate({"messages": [m.model_dump() for m in self.messages], **self.options()})


class CompletionRequest(_Sampling):
    prompt: str = Field(description="the text to continue", max_length=200_000)

    def prompt_input(self) -> PromptInput:
        return PromptInput.model_validate({"prompt": self.prompt, **self.options()})


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class ChatChoice(BaseModel):
    index: int
    message: AssistantMessage
    finish_reason: Literal["stop", "length"]


class ChatDelta(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None


class ChatChunkChoice(BaseModel):
    index: int
    delta: ChatDelta
    finish_reason: Literal["stop", "length"] | None = None


class ChatCompletionChunk(BaseModel):
    """One event of a streamed chat reply (``stream: true``): a piece of the reply in ``delta``; the last has
    the finish reason and the usage."""

    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChatChunkChoice]
    usage: TokenUsage | None = None


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
