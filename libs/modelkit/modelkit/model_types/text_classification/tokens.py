"""Text inputs: tokenised once into a compact cache, then batched by length with dynamic padding."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from numpy.typing import NDArray
from transformers import PreTrainedTokenizerBase

TOKENIZE_CHUNK = 4096


@dataclass
class TokenizedTexts:
    """Token ids of many texts, concatenated: ``ids[offsets[i]:offsets[i + 1]]`` is text i."""

    ids: NDArray[np.int32]
    offsets: NDArray[np.int64]
    pad_id: int

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> NDArray[np.int64]:
        return np.diff(self.offsets)

    def subset(self, positions: NDArray[np.int64]) -> TokenizedTexts:
        lengths = self.lengths[positions]
        offsets = np.zeros(len(positions) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        ids = (
            np.concatenate([self.ids[self.offsets[p] : self.offsets[p + 1]] for p in positions])
            if len(positions)
            else self.ids[:0]
        )
        return TokenizedTexts(ids.astype(np.int32, copy=False), offsets, self.pad_id)

    def batch(self, positions: Sequence[int] | NDArray[np.int64], *, training: bool = False) -> dict[str, torch.Tensor]:
        """Pad the chosen texts to the longest of them (texts have no training-time augmentation)."""
        width = int(max(self.offsets[p + 1] - self.offsets[p] for p in positions))
        input_ids = np.full((len(positions), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(positions), width), dtype=np.int64)
        for row, position in enumerate(positions):
            tokens = self.ids[self.offsets[position] : self.offsets[position + 1]]
            input_ids[row, : len(tokens)] = tokens
            mask[row, : len(tokens)] = 1
        return {"input_ids": torch.from_numpy(input_ids), "attention_mask": torch.from_numpy(mask)}

    def inference_batches(self, batch_size: int) -> Iterator[NDArray[np.int64]]:
        return length_sorted_batches(self, batch_size)

    def save(self, path: Path) -> None:
        np.savez(path, ids=self.ids, offsets=self.offsets, pad_id=np.array([self.pad_id]))

    @classmethod
    def load(cls, path: Path) -> TokenizedTexts:
        with np.load(path) as data:
            return cls(data["ids"], data["offsets"], int(data["pad_id"][0]))


def tokenize(tokenizer: PreTrainedTokenizerBase, texts: Sequence[str], max_length: int) -> TokenizedTexts:
    """Truncate to ``max_length`` tokens (special tokens included), no padding: padding is per batch."""
    pieces: list[NDArray[np.int32]] = []
    lengths: list[int] = []
    for start in range(0, len(texts), TOKENIZE_CHUNK):
        encoded = tokenizer(list(texts[start : start + TOKENIZE_CHUNK]), truncation=True, max_length=max_length)
        for ids in encoded["input_ids"]:
            pieces.append(np.asarray(ids, dtype=np.int32))
            lengths.append(len(ids))
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(np.asarray(lengths, dtype=np.int64), out=offsets[1:])
    ids = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int32)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    return TokenizedTexts(ids, offsets, int(pad_id))


def length_sorted_batches(texts: TokenizedTexts, batch_size: int) -> Iterator[NDArray[np.int64]]:
    """Batches of similar length (for inference passes): far less padding than in input order."""
    order = np.argsort(texts.lengths, kind="stable")
    for start in range(0, len(order), batch_size):
        yield order[start : start + batch_size]
