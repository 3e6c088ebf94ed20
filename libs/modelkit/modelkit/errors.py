"""Errors a model raises about a request it cannot take, torch-free so that the services can name them
without importing torch (a replica raises them; inference-svc maps them to answers)."""

from __future__ import annotations


class PromptTooLong(ValueError):
    """The prompt's tokens and the reply asked for do not fit in the model's context."""

    def __init__(self, prompt_tokens: int, max_new_tokens: int, context: int) -> None:
        super().__init__(
            f"prompt: {prompt_tokens:,} tokens and a reply of up to {max_new_tokens:,} (max_tokens) pass the "
            f"model's context of {context:,} tokens; shorten the prompt or ask for fewer tokens"
        )
        self.prompt_tokens = prompt_tokens
        self.max_new_tokens = max_new_tokens
        self.context = context

    def __reduce__(self) -> tuple[type[PromptTooLong], tuple[int, int, int]]:  # it crosses Ray's process boundary
        return (PromptTooLong, (self.prompt_tokens, self.max_new_tokens, self.context))
