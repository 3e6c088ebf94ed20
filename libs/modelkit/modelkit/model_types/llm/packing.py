"""Padding-free packing: examples laid end to end in rows of at most ``max_length`` tokens, with position ids
that restart at each example. transformers (5.x) reads restarting position ids, when no attention mask is
given and no cache is made, as packed sequences and masks attention across them, so an example attends only
to itself. So a packed batch must be run with ``use_cache=False``: with a cache (transformers' default, in
training too) the model makes one and the rows are read as one long sequence each."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from modelkit.model_types.llm.chat import IGNORE, Encoded


@dataclass(frozen=True)
class Packed:
    rows: list[list[int]]  # example indexes per row, in order

    def batch(self, examples: Sequence[Encoded], pad_id: int) -> dict[str, torch.Tensor]:
        """One row per packed row; the rows' tails padded (pad positions continue counting, labels ignored)."""
        width = max(sum(len(examples[i]) for i in row) for row in self.rows)
        input_ids = torch.full((len(self.rows), width), pad_id, dtype=torch.long)
        labels = torch.full((len(self.rows), width), IGNORE, dtype=torch.long)
        position_ids = torch.zeros((len(self.rows), width), dtype=torch.long)
        for r, row in enumerate(self.rows):
            start = 0
            for index in row:
                example = examples[index]
                end = start + len(example)
                input_ids[r, start:end] = torch.tensor(example.input_ids)
                labels[r, start:end] = torch.tensor(example.labels)
                labels[r, start] = IGNORE  # the first token of an example is never predicted from the previous one
                position_ids[r, start:end] = torch.arange(len(example))
                start = end
            position_ids[r, start:] = torch.arange(width - start) + (position_ids[r, start - 1] + 1 if start else 0)
        return {"input_ids": input_ids, "labels": labels, "position_ids": position_ids}


def pack(lengths: Sequence[int], max_length: int) -> tuple[Packed, list[int]]:
    """First-fit decreasing into rows of ``max_length`` tokens; the indexes of examples longer than that are
    returned apart (left out, with a reason, by the caller)."""
    too_long = [index for index, length in enumerate(lengths) if length > max_length]
    order = sorted((index for index, length in enumerate(lengths) if length <= max_length), key=lambda i: -lengths[i])
    rows: list[list[int]] = []
    room: list[int] = []
    for index in order:
        for r, free in enumerate(room):
            if lengths[index] <= free:
                rows[r].append(index)
                room[r] -= lengths[index]
                break
        else:
            rows.append([index])
            room.append(max_length - lengths[index])
    return Packed([sorted(row) for row in rows]), too_long
