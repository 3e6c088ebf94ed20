"""A frozen encoder's embeddings kept between runs, so that a head retrained on an edited dataset embeds only
the rows whose input changed.

A cache is one folder per encoder (``identity``: the model type, the encoder's weights, the pre-processing
settings and the precision it ran at; the caller names them): chunks of ``(row key, embedding)`` pairs, one
written per run that embedded something new, each written whole and renamed into place (so two runs that
share the folder never read a half-written chunk). A row's key is the digest of its input (``row_key``).
Chunks read are touched, and the least recently used ones are deleted once the folder is over ``max_bytes``."""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from modelkit.training.data import ModelInputs

KEY_BYTES = 32
DEFAULT_MAX_BYTES = 2 * 1024**3


def row_key(value: Any) -> bytes:
    """The digest of one row's input (a text, an image's digest, anything else by its ``repr``)."""
    if isinstance(value, str):
        data = b"s" + value.encode()
    elif isinstance(value, bytes):
        data = b"b" + value
    else:
        data = b"r" + repr(value).encode()
    return hashlib.sha256(data).digest()


@dataclass
class Embedded:
    vectors: torch.Tensor  # (rows, hidden), in the inputs' order
    computed: int  # rows that went through the encoder (the rest came from the cache)


class EmbeddingCache:
    def __init__(self, root: Path, identity: str, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.folder = root / hashlib.sha256(identity.encode()).hexdigest()[:40]
        self.max_bytes = max_bytes

    def embed(
        self, inputs: ModelInputs, keys: Sequence[bytes], hidden: int, compute: Callable[[ModelInputs], torch.Tensor]
    ) -> Embedded:
        """The ``hidden``-wide embeddings of ``inputs`` (``keys[i]`` is input i's ``row_key``): the cached ones
        read, the others computed by ``compute`` (one encoder pass over them) and added to the cache."""
        if len(keys) != len(inputs):
            raise ValueError(f"{len(keys)} keys for {len(inputs)} inputs")
        out = torch.empty(len(inputs), hidden)
        wanted: dict[bytes, list[int]] = {}
        for position, key in enumerate(keys):
            wanted.setdefault(key, []).append(position)  # an input twice in the rows: both filled
        found = np.zeros(len(inputs), dtype=bool)
        for chunk in self._chunks():
            chunk_keys, vectors = self._read(chunk)
            if vectors is None or vectors.shape[1] != hidden:
                continue
            rows, positions = [], []
            for row, key in enumerate(chunk_keys):
                for position in wanted.get(key.tobytes(), ()):
                    if not found[position]:
                        rows.append(row)
                        positions.append(position)
            if not rows:
                continue
            at = np.array(positions, dtype=np.int64)
            out[torch.from_numpy(at)] = torch.from_numpy(vectors[np.array(rows, dtype=np.int64)].astype(np.float32))
            found[at] = True
            _touch(chunk)
        missing = np.flatnonzero(~found)
        if len(missing):
            fresh = compute(inputs.subset(missing)).float()
            out[torch.from_numpy(missing)] = fresh
            self._write(np.frombuffer(b"".join(keys[int(p)] for p in missing), dtype=np.uint8), fresh.numpy())
        return Embedded(out, len(missing))

    # -- the folder ---------------------------------------------------------------------------------------
    def _chunks(self) -> list[Path]:
        """Newest first (a key written twice is read from its newest chunk)."""
        try:
            chunks = [path for path in self.folder.iterdir() if path.suffix == ".npz" and not path.name.startswith(".")]
        except FileNotFoundError:
            return []
        return sorted(chunks, key=_mtime, reverse=True)

    @staticmethod
    def _read(chunk: Path) -> tuple[NDArray[np.uint8], NDArray[np.float32] | None]:
        try:
            with np.load(chunk) as stored:
                return stored["keys"], stored["vectors"]
        except (OSError, ValueError, KeyError):  # deleted by another run's eviction, or not a chunk
            return np.zeros((0, KEY_BYTES), dtype=np.uint8), None

    def _write(self, keys: NDArray[np.uint8], vectors: NDArray[np.float32]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"{time.time_ns()}-{os.getpid()}.npz"
        partial = self.folder / f".{name}"
        with partial.open("wb") as out:
            np.savez(out, keys=keys.reshape(-1, KEY_BYTES), vectors=vectors.astype(np.float32))
        partial.replace(self.folder / name)
        self._evict()

    def _evict(self) -> None:
        """The least recently used chunks deleted until the folder is within ``max_bytes``."""
        chunks = self._chunks()
        sizes = {chunk: _size(chunk) for chunk in chunks}
        total = sum(sizes.values())
        for chunk in reversed(chunks):
            if total <= self.max_bytes:
                break
            chunk.unlink(missing_ok=True)
            total -= sizes[chunk]


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return 0.0


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _touch(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.utime(path)
