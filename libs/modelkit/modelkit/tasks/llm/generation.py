"""Generating from a causal LM the way it was trained: the prompt (or messages) through the same chat template
with its generation prompt, stopping at the end-of-sequence token the replies were trained to end with, or at
a stop string, or after ``max_new_tokens``. Greedy when ``temperature`` is 0; sampled otherwise, seeded."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
from transformers import PreTrainedTokenizerBase, StoppingCriteria, StoppingCriteriaList
from transformers.generation.streamers import BaseStreamer

from modelkit.errors import PromptTooLong
from modelkit.tasks.llm.chat import messages_of, render
from modelkit.training.loop import device_of

FinishReason = Literal["stop", "length"]
# torch's global generator is seeded per call; two calls must not interleave their sampling
_SAMPLING = threading.Lock()


@dataclass(frozen=True)
class GenerationParams:
    max_new_tokens: int = 64
    temperature: float = 0.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int | None = None
    deadline: float | None = None  # time.monotonic() past which the reply ends where it is ("length")
    # max_new_tokens was a default, not the caller's: a reply that would pass the context is cut there instead
    fit_to_context: bool = False


@dataclass(frozen=True)
class Generated:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: FinishReason


@dataclass(frozen=True)
class Piece:
    """A new piece of a reply as it is generated, with the tokens read and generated so far: what a reply cut
    here (a dropped stream) has cost."""

    text: str
    prompt_tokens: int
    completion_tokens: int


OnText = Callable[[Piece], None]


def prompt_messages(prompt: str | None, messages: Sequence[dict[str, Any]] | None) -> list[dict[str, str]]:
    """What to generate a reply to: a prompt as one user turn, or a conversation ending with a user turn."""
    if messages is None:
        if prompt is None:
            raise ValueError("give a prompt or messages")
        return [{"role": "user", "content": prompt}]
    checked = messages_of(None, None, [*messages, {"role": "assistant", "content": ""}])[:-1]
    if not checked:
        raise ValueError("messages: at least one message is needed")
    return checked


def prompt_ids(tokenizer: PreTrainedTokenizerBase, messages: list[dict[str, str]]) -> list[int]:
    return render(tokenizer, messages, generation_prompt=True)


class _Until(StoppingCriteria):
    """Stops a generation whose caller went away (``cancelled``) or whose time ran out (``deadline``, on
    ``time.monotonic``): a reply nobody waits for must not hold the model (and whoever waits behind it)."""

    def __init__(self, cancelled: Callable[[], bool] | None, deadline: float | None) -> None:
        self.cancelled = cancelled
        self.deadline = deadline
        self.fired = False

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any) -> torch.BoolTensor:
        self.fired = self.fired or bool(
            (self.cancelled is not None and self.cancelled())
            or (self.deadline is not None and time.monotonic() >= self.deadline)
        )
        return torch.full((input_ids.shape[0],), self.fired, dtype=torch.bool, device=input_ids.device)  # type: ignore[return-value]


class _StopStrings(StoppingCriteria):
    def __init__(self, tokenizer: PreTrainedTokenizerBase, start: int, stops: tuple[str, ...]) -> None:
        self.tokenizer = tokenizer
        self.start = start
        self.stops = stops

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any) -> torch.BoolTensor:
        text = self.tokenizer.decode(input_ids[0, self.start :], skip_special_tokens=True)
        done = any(stop in text for stop in self.stops)
        return torch.full((input_ids.shape[0],), done, dtype=torch.bool, device=input_ids.device)  # type: ignore[return-value]


def visible(text: str, stops: tuple[str, ...]) -> tuple[str, bool]:
    """The reply as far as it may be shown: cut before the first stop string (and whether one was found)."""
    cut = min((text.index(stop) for stop in stops if stop in text), default=None)
    return (text, False) if cut is None else (text[:cut], True)


class _TextStream(BaseStreamer):
    """Hands each new piece of the reply to ``emit`` as tokens arrive: the reply decoded whole each time (a
    token may complete a character only with the next), less what was shown, holding back an end that could
    still become a stop string, and nothing from a stop string on."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, stops: tuple[str, ...], emit: OnText) -> None:
        self.tokenizer = tokenizer
        self.stops = stops
        self.emit = emit
        self.tokens: list[int] = []
        self.prompt_tokens: int | None = None
        self.shown = 0
        self.holdback = max((len(stop) - 1 for stop in stops), default=0)

    def put(self, value: torch.Tensor) -> None:
        if self.prompt_tokens is None:  # generate() first hands over the prompt
            self.prompt_tokens = int(value.numel())
            return
        self.tokens.extend(int(token) for token in value.reshape(-1).tolist())
        self._flush(final=False)

    def end(self) -> None:
        self._flush(final=True)

    def _flush(self, final: bool) -> None:
        text = str(self.tokenizer.decode(self.tokens, skip_special_tokens=True))
        shown, stopped = visible(text, self.stops)
        if not final and not stopped:
            if shown.endswith("\ufffd"):  # a character still incomplete
                return
            shown = shown[: max(self.shown, len(shown) - self.holdback)]
        if len(shown) > self.shown:
            self.emit(Piece(shown[self.shown :], self.prompt_tokens or 0, len(self.tokens)))
            self.shown = len(shown)


def context_length(model: torch.nn.Module) -> int | None:
    """The most tokens (prompt and reply) the model was built to attend over, from its config."""
    config = getattr(model, "config", None)
    value = getattr(config, "max_position_embeddings", None)
    return int(value) if isinstance(value, int) and value > 0 else None


@torch.no_grad()
def generate(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    messages: list[dict[str, str]],
    params: GenerationParams,
    on_text: OnText | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> Generated:
    """The reply to ``messages``; with ``on_text``, also each piece of it as it is generated (the pieces add
    up to the reply's text). It ends early, as cut at its length, once ``cancelled()`` is true or
    ``params.deadline`` passes."""
    ids = prompt_ids(tokenizer, messages)
    context = context_length(model)
    max_new_tokens = params.max_new_tokens
    if context is not None:
        room = context - len(ids)
        if room < 1 or (max_new_tokens > room and not params.fit_to_context):
            # Refused before any forward pass: past its context a model answers nonsense, slowly, in more memory.
            raise PromptTooLong(len(ids), max_new_tokens, context)
        max_new_tokens = min(max_new_tokens, room)
    device = device_of(model)
    input_ids = torch.tensor([ids], device=device)
    eos = tokenizer.eos_token_id
    criteria = StoppingCriteriaList([_StopStrings(tokenizer, len(ids), params.stop)] if params.stop else [])
    if cancelled is not None or params.deadline is not None:
        criteria.append(_Until(cancelled, params.deadline))
    sample = params.temperature > 0
    options: dict[str, Any] = {
        "max_new_tokens": max_new_tokens,
        "do_sample": sample,
        "eos_token_id": eos,
        "pad_token_id": tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos,
        "attention_mask": torch.ones_like(input_ids),
        "stopping_criteria": criteria,
    }
    if on_text is not None:
        options["streamer"] = _TextStream(tokenizer, params.stop, on_text)
    if sample:
        options |= {"temperature": params.temperature, "top_p": params.top_p, "top_k": 0}
    else:  # the model's generation config may carry sampling settings; greedy ignores them
        options |= {"temperature": None, "top_p": None, "top_k": None}
    with _SAMPLING:
        if params.seed is not None:
            torch.manual_seed(params.seed)
        output = model.generate(input_ids, **options)  # type: ignore[operator]
    new = [int(token) for token in output[0, len(ids) :]]
    finish: FinishReason = "length"
    if eos in new:
        new = new[: new.index(eos)]
        finish = "stop"
    text, stopped = visible(str(tokenizer.decode(new, skip_special_tokens=True)), params.stop)
    return Generated(text, len(ids), len(new), "stop" if stopped else finish)
