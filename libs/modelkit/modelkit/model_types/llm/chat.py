"""Chat formatting for causal LM fine-tuning: one example (a prompt and its completion, or a list of chat
messages) becomes token ids and labels through the base model's own chat template, with -100 on every token
the model is not trained to produce (the prompt, system and user turns, the template's scaffolding before
each assistant reply). Each assistant reply ends with the end-of-sequence token the model will stop on.

The template, the tokenizer's vocabulary and the end-of-sequence token are fingerprinted, so artifacts can
record what training used and serving can refuse a mismatch (the usual cause of a served model that does
not behave like the trained one)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from transformers import PreTrainedTokenizerBase

IGNORE = -100
Role = Literal["system", "user", "assistant"]
ROLES = ("system", "user", "assistant")


class ChatFormatError(ValueError):
    """An example the template cannot take (unknown role, no assistant turn, a template that rewrites history)."""


@dataclass(frozen=True)
class Fingerprint:
    chat_template_sha256: str
    vocab_sha256: str
    eos_token: str
    eos_token_id: int

    @classmethod
    def of(cls, tokenizer: PreTrainedTokenizerBase) -> Fingerprint:
        template = tokenizer.chat_template
        if not isinstance(template, str) or not template:
            raise ChatFormatError("the tokenizer has no chat template")
        if tokenizer.eos_token is None or tokenizer.eos_token_id is None:
            raise ChatFormatError("the tokenizer has no end-of-sequence token")
        vocab = json.dumps(sorted(tokenizer.get_vocab().items()), ensure_ascii=False).encode()
        return cls(
            hashlib.sha256(template.encode()).hexdigest(),
            hashlib.sha256(vocab).hexdigest(),
            str(tokenizer.eos_token),
            int(tokenizer.eos_token_id),
        )

    def differences(self, other: Fingerprint) -> list[str]:
        names = ("chat_template_sha256", "vocab_sha256", "eos_token", "eos_token_id")
        return [
            f"{name}: trained with {getattr(self, name)!r}, now {getattr(other, name)!r}"
            for name in names
            if getattr(self, name) != getattr(other, name)
        ]


@dataclass(frozen=True)
class Encoded:
    input_ids: list[int]
    labels: list[int]  # IGNORE where the model is not trained to produce the token

    def __len__(self) -> int:
        return len(self.input_ids)


def messages_of(
    prompt: str | None, completion: str | None, messages: Sequence[dict[str, Any]] | None
) -> list[dict[str, str]]:
    """One example as chat messages: ``messages`` as given (checked), or a user prompt and the assistant's
    completion."""
    if messages is None:
        if prompt is None or completion is None:
            raise ChatFormatError("an example needs a prompt and a completion, or messages")
        return [{"role": "user", "content": prompt}, {"role": "assistant", "content": completion}]
    checked = []
    for position, message in enumerate(messages):
        role, content = message.get("role"), message.get("content")
        if role not in ROLES or not isinstance(content, str):
            raise ChatFormatError(f"messages[{position}]: needs a role ({', '.join(ROLES)}) and text content")
        checked.append({"role": str(role), "content": content})
    if not any(message["role"] == "assistant" for message in checked):
        raise ChatFormatError("messages: no assistant turn to learn from")
    return checked


def render(tokenizer: PreTrainedTokenizerBase, messages: list[dict[str, str]], *, generation_prompt: bool) -> list[int]:
    rendered: Any = tokenizer.apply_chat_template(messages, tokenize=True, add_generation_prompt=generation_prompt)
    if hasattr(rendered, "keys"):  # a BatchEncoding
        rendered = rendered["input_ids"]
    return [int(token) for token in rendered]


def encode(tokenizer: PreTrainedTokenizerBase, messages: list[dict[str, str]]) -> Encoded:
    """Token ids through the chat template, and labels on the assistant replies only (each with its EOS).

    Each assistant turn's tokens are found as the difference between the conversation rendered up to that turn
    and rendered up to its generation prompt: exactly what the model sees when asked to reply."""
    eos = tokenizer.eos_token_id
    assert eos is not None
    input_ids: list[int] = []
    labels: list[int] = []
    for index, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        before = render(tokenizer, messages[:index], generation_prompt=True)
        through = render(tokenizer, messages[: index + 1], generation_prompt=False)
        if before[: len(input_ids)] != input_ids or through[: len(before)] != before:
            raise ChatFormatError("the chat template renders earlier turns differently as the conversation grows")
        input_ids.extend(before[len(input_ids) :])
        labels.extend([IGNORE] * (len(before) - len(labels)))
        reply = through[len(before) :]
        # What the template puts after the EOS (a newline) is not for the model to produce.
        reply = reply[: reply.index(eos) + 1] if eos in reply else [*reply, eos]
        input_ids.extend(reply)
        labels.extend(reply)
    return Encoded(input_ids, labels)


ELLIPSIS = " … "
SHORTEST_KEPT = 8  # tokens of a prompt worth keeping; with less room the example is left out


@dataclass(frozen=True)
class Fitted:
    messages: list[dict[str, str]]
    encoded: Encoded
    cut: bool  # whether a prompt was shortened to fit


def fit(tokenizer: PreTrainedTokenizerBase, messages: list[dict[str, str]], max_length: int) -> Fitted | None:
    """The example in at most ``max_length`` tokens: as it is, or with the longest prompt-side message (system
    or user, before the last reply) cut in its middle (its start and its end kept, joined by an ellipsis: an
    instruction is often at one end, the question at the other). The replies are never cut: None when they
    alone do not fit."""
    encoded = encode(tokenizer, messages)
    if len(encoded) <= max_length:
        return Fitted(messages, encoded, False)
    last_reply = max(index for index, message in enumerate(messages) if message["role"] == "assistant")
    candidates = [index for index in range(last_reply) if messages[index]["role"] != "assistant"]
    if not candidates:
        return None
    longest = max(candidates, key=lambda index: len(messages[index]["content"]))
    tokens: list[int] = list(tokenizer(messages[longest]["content"], add_special_tokens=False)["input_ids"])
    keep = len(tokens) - (len(encoded) - max_length) - len(tokenizer(ELLIPSIS, add_special_tokens=False)["input_ids"])
    for _ in range(4):  # re-tokenising the joint can shift a count by a token or two: shrink and try again
        if keep < SHORTEST_KEPT:
            return None
        head, tail = tokens[: keep - keep // 2], tokens[len(tokens) - keep // 2 :]
        content = str(tokenizer.decode(head)) + ELLIPSIS + str(tokenizer.decode(tail))
        shortened = [*messages[:longest], {**messages[longest], "content": content}, *messages[longest + 1 :]]
        encoded = encode(tokenizer, shortened)
        if len(encoded) <= max_length:
            return Fitted(shortened, encoded, True)
        keep -= len(encoded) - max_length + 1
    return None


def default_max_length(lengths: Sequence[int], *, floor: int = 128, ceiling: int = 1024, step: int = 64) -> int:
    """The tokens per example a run uses when none is asked for: room for 99% of the training examples (their
    whole length, rounded up to ``step``), at least ``floor`` and at most ``ceiling``; longer prompts are cut."""
    if not lengths:
        return floor
    ordered = sorted(lengths)
    covered = ordered[max(0, -(-99 * len(ordered) // 100) - 1)]  # the 99th percentile, of the rows themselves
    return max(floor, min(ceiling, -(-covered // step) * step))
