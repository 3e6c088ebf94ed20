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
from modelkit.model_types.llm.chat import messages_of, render
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
    still become a stop string, and nothing from a stop string on. It lasts across the slices of one
    ``Generation``: each slice's ``generate`` first hands over its input (the prompt, and the reply so far)."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, stops: tuple[str, ...], emit: OnText) -> None:
        self.tokenizer = tokenizer
        self.stops = stops
        self.emit = emit
        self.tokens: list[int] = []
        self.prompt_tokens = 0
        self.input_next = True
        self.shown = 0
        self.holdback = max((len(stop) - 1 for stop in stops), default=0)

    def put(self, value: torch.Tensor) -> None:
        if self.input_next:  # a slice's input: the prompt (and tokens already put)
            self.input_next = False
            return
        self.tokens.extend(int(token) for token in value.reshape(-1).tolist())
        self.flush(final=False)

    def end(self) -> None:
        """The end of a slice, not of the reply (``flush(final=True)`` is that)."""
        self.input_next = True

    def flush(self, final: bool) -> None:
        text = str(self.tokenizer.decode(self.tokens, skip_special_tokens=True))
        shown, stopped = visible(text, self.stops)
        if not final and not stopped:
            if shown.endswith("\ufffd"):  # a character still incomplete
                return
            shown = shown[: max(self.shown, len(shown) - self.holdback)]
        if len(shown) > self.shown:
            self.emit(Piece(shown[self.shown :], self.prompt_tokens, len(self.tokens)))
            self.shown = len(shown)


class _Pause(StoppingCriteria):
    """Ends a slice once ``pause()`` is true: another request waits, and this one has had its turn."""

    def __init__(self, pause: Callable[[], bool]) -> None:
        self.pause = pause
        self.fired = False

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any) -> torch.BoolTensor:
        self.fired = self.fired or self.pause()
        return torch.full((input_ids.shape[0],), self.fired, dtype=torch.bool, device=input_ids.device)  # type: ignore[return-value]


def context_length(model: torch.nn.Module) -> int | None:
    """The most tokens (prompt and reply) the model was built to attend over, from its config."""
    config = getattr(model, "config", None)
    value = getattr(config, "max_position_embeddings", None)
    return int(value) if isinstance(value, int) and value > 0 else None


def _random_state(device: torch.device) -> tuple[torch.Tensor, torch.Tensor | None]:
    cuda = torch.cuda.get_rng_state(device) if device.type == "cuda" else None
    return torch.get_rng_state(), cuda


def _set_random_state(state: tuple[torch.Tensor, torch.Tensor | None], device: torch.device) -> None:
    torch.set_rng_state(state[0])
    if state[1] is not None:
        torch.cuda.set_rng_state(state[1], device)


class Generation:
    """One reply, generated in slices on a model that several requests share: ``advance`` generates until the
    reply is done or ``pause()`` turns true (someone else waits and this one has had its turn), keeping what
    it has (the tokens, the KV cache, a seeded sampler's random state) to go on from there later. The reply
    is the one an unbroken generation would give. It ends early, as cut at its length, once ``cancelled()`` is
    true or ``params.deadline`` passes; a prompt past the model's context is refused here, before any forward
    pass (``PromptTooLong``)."""

    def __init__(
        self,
        model: torch.nn.Module,
        tokenizer: PreTrainedTokenizerBase,
        messages: list[dict[str, str]],
        params: GenerationParams,
        on_text: OnText | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> None:
        self.tokenizer = tokenizer
        self.params = params
        self.cancelled = cancelled
        self.prompt = prompt_ids(tokenizer, messages)
        context = context_length(model)
        self.max_new_tokens = params.max_new_tokens
        if context is not None:
            room = context - len(self.prompt)
            if room < 1 or (self.max_new_tokens > room and not params.fit_to_context):
                # Refused before any forward pass: past its context a model answers nonsense, slowly, in more memory.
                raise PromptTooLong(len(self.prompt), self.max_new_tokens, context)
            self.max_new_tokens = min(self.max_new_tokens, room)
        self.new: list[int] = []
        self.finish: FinishReason | None = None
        self.slices = 0
        self._cache: Any = None
        self._random: tuple[torch.Tensor, torch.Tensor | None] | None = None
        self._stream = _TextStream(tokenizer, params.stop, on_text) if on_text is not None else None
        if self._stream is not None:
            self._stream.prompt_tokens = len(self.prompt)

    @property
    def done(self) -> bool:
        return self.finish is not None

    @torch.no_grad()
    def advance(self, model: torch.nn.Module, pause: Callable[[], bool] | None = None) -> bool:
        """Generate on with ``model`` (the one this generation began with: its cache is that model's) until the
        reply is done (True) or ``pause()`` turns true (False)."""
        assert self.finish is None, "the reply is done"
        tokenizer, params = self.tokenizer, self.params
        device = device_of(model)
        input_ids = torch.tensor([self.prompt + self.new], device=device)
        eos = tokenizer.eos_token_id
        criteria = StoppingCriteriaList([_StopStrings(tokenizer, len(self.prompt), params.stop)] if params.stop else [])
        until = _Until(self.cancelled, params.deadline)
        criteria.append(until)
        paused = _Pause(pause) if pause is not None else None
        if paused is not None:
            criteria.append(paused)
        sample = params.temperature > 0
        options: dict[str, Any] = {
            "max_new_tokens": self.max_new_tokens - len(self.new),
            "do_sample": sample,
            "eos_token_id": eos,
            "pad_token_id": tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos,
            "attention_mask": torch.ones_like(input_ids),
            "stopping_criteria": criteria,
            "return_dict_in_generate": True,
        }
        if self._cache is not None:
            options["past_key_values"] = self._cache
        if self._stream is not None:
            options["streamer"] = self._stream
        if sample:
            options |= {"temperature": params.temperature, "top_p": params.top_p, "top_k": 0}
        else:  # the model's generation config may carry sampling settings; greedy ignores them
            options |= {"temperature": None, "top_p": None, "top_k": None}
        seeded = sample and params.seed is not None
        with _SAMPLING:
            if seeded:
                if self._random is None:
                    torch.manual_seed(params.seed)
                else:
                    _set_random_state(self._random, device)
            output = model.generate(input_ids, **options)  # type: ignore[operator]
            if seeded:
                self._random = _random_state(device)
        self.slices += 1
        self._cache = output.past_key_values
        produced = [int(token) for token in output.sequences[0, input_ids.shape[1] :]]
        if eos in produced:
            self.new += produced[: produced.index(eos)]
            return self._end("stop")
        self.new += produced
        if params.stop and visible(str(tokenizer.decode(self.new, skip_special_tokens=True)), params.stop)[1]:
            return self._end("stop")
        if len(self.new) >= self.max_new_tokens or until.fired or paused is None or not paused.fired:
            return self._end("length")
        return False

    def _end(self, finish: FinishReason) -> bool:
        self.finish = finish
        self._cache = None
        if self._stream is not None:
            self._stream.flush(final=True)
        return True

    def result(self) -> Generated:
        assert self.finish is not None, "the reply is not done"
        text, stopped = visible(str(self.tokenizer.decode(self.new, skip_special_tokens=True)), self.params.stop)
        return Generated(text, len(self.prompt), len(self.new), "stop" if stopped else self.finish)


def generate(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    messages: list[dict[str, str]],
    params: GenerationParams,
    on_text: OnText | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> Generated:
    """The reply to ``messages``, generated at once; with ``on_text``, also each piece of it as it is generated
    (the pieces add up to the reply's text). As ``Generation``, in one slice."""
    generation = Generation(model, tokenizer, messages, params, on_text, cancelled)
    generation.advance(model)
    return generation.result()
