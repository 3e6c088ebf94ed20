"""A labelled set: a model type's inputs plus one target array per head, and its stratified validation split."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Self

import numpy as np
import torch
from numpy.typing import NDArray

from modelkit.losses import HeadTargets


class ModelInputs(Protocol):
    """Many inputs, pre-processed once (token ids, decoded pixels), batched into the tensors the model's
    ``embed`` takes by keyword."""

    def __len__(self) -> int: ...
    def subset(self, positions: NDArray[np.int64]) -> Self: ...
    def batch(self, positions: Sequence[int] | NDArray[np.int64], *, training: bool = False) -> dict[str, torch.Tensor]:
        """``training``: with the type's training-time augmentations, if it has any."""
        ...

    def inference_batches(self, batch_size: int) -> Iterator[NDArray[np.int64]]:
        """Every position once, in the order cheapest to run (texts by length)."""
        ...

    def save(self, path: Path) -> None: ...


@dataclass
class Examples:
    inputs: ModelInputs
    targets: list[HeadTargets]
    keys: list[bytes] | None = None  # each input's digest (``embedding_cache.row_key``), where known

    def __len__(self) -> int:
        return len(self.inputs)

    def subset(self, positions: NDArray[np.int64]) -> Examples:
        return Examples(
            self.inputs.subset(positions),
            [HeadTargets(t.values[positions], t.multilabel) for t in self.targets],
            [self.keys[int(p)] for p in positions] if self.keys is not None else None,
        )

    def target_tensors(self, positions: NDArray[np.int64]) -> list[torch.Tensor]:
        return [torch.from_numpy(t.values[positions]) for t in self.targets]


def stratum_keys(targets: list[HeadTargets]) -> NDArray[np.int64]:
    """A row's stratum: its class on the first head that labels it (multi-label: its first label)."""
    keys = np.full(len(targets[0].values), -1, dtype=np.int64)
    offset = 0
    for target in targets:
        if target.multilabel:
            labelled = target.values[:, 0] >= 0
            first = np.where(labelled & (target.values.max(axis=1) > 0), target.values.argmax(axis=1), 0)
            width = target.values.shape[1]
        else:
            labelled = target.values >= 0
            first = target.values
            width = int(target.values.max(initial=0)) + 1
        free = (keys < 0) & labelled
        keys[free] = offset + first[free]
        offset += width
    return keys


def validation_split(targets: list[HeadTargets], pct: float, seed: int) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Deterministic stratified hold-out: ``pct`` percent of each stratum (at least one row of any stratum
    with two or more rows) goes to validation."""
    rng = np.random.default_rng(seed)
    keys = stratum_keys(targets)
    validation: list[NDArray[np.int64]] = []
    for key in np.unique(keys):
        rows = np.flatnonzero(keys == key)
        rng.shuffle(rows)
        take = round(len(rows) * pct / 100)
        if len(rows) >= 2:
            take = min(max(take, 1), len(rows) - 1)
        validation.append(rows[:take])
    held = np.sort(np.concatenate(validation)) if validation else np.zeros(0, dtype=np.int64)
    mask = np.ones(len(keys), dtype=bool)
    mask[held] = False
    return np.flatnonzero(mask), held
