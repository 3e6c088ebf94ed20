"""The embedding cache of last-layer training: a second run on the same rows embeds none of them, one on
edited rows only the edited ones, with the embeddings (and so the trained head) exactly those of an uncached
run; a cache of another encoder is not read; the least recently used chunks go once the cache is full."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from automl_proto.models import TrainingOptions
from modelkit.classifier import MultiHeadClassifier
from modelkit.losses import HeadTargets
from modelkit.model_types.text_classification import load_tokenizer
from modelkit.model_types.text_classification.tokens import tokenize
from modelkit.training.data import Examples
from modelkit.training.embedding_cache import EmbeddingCache, row_key
from modelkit.training.trainer import embed, fit
from tests.support.loop import Hooks, model
from tests.support.tiny_models import NEGATIVE, POSITIVE, build_tiny_bert

OPTIONS = TrainingOptions(max_epochs=3, batch_size=8, learning_rate=1e-2, seed=3)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_bert(tmp_path_factory.mktemp("tiny") / "base")


def texts(count: int = 80) -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, count)
    rows = [f"{index} " + " ".join(rng.choice(POSITIVE if y else NEGATIVE, 4)) for index, y in enumerate(labels)]
    return rows, labels


def examples(base: Path, rows: list[str], labels: np.ndarray) -> Examples:
    inputs = tokenize(load_tokenizer(base), rows, 16)
    return Examples(inputs, [HeadTargets(labels, False)], [row_key(text) for text in rows])


def last_layer(base: Path) -> MultiHeadClassifier:
    built = model(base)
    built.encoder.requires_grad_(False)
    return built


def test_a_retrained_head_embeds_only_the_edited_rows_and_learns_the_same(base: Path, tmp_path: Path) -> None:
    rows, labels = texts()
    cache = EmbeddingCache(tmp_path / "cache", "tiny-bert:fp32:cpu")
    empty = Examples(tokenize(load_tokenizer(base), [], 16), [HeadTargets(labels[:0], False)], [])
    first = fit(last_layer(base), "last_layer", OPTIONS, examples(base, rows, labels), empty, Hooks(), cache=cache)
    assert first.embedded_rows == len(rows)

    again = fit(last_layer(base), "last_layer", OPTIONS, examples(base, rows, labels), empty, Hooks(), cache=cache)
    assert again.embedded_rows == 0

    edited = list(rows)
    edited[5] = "5 " + " ".join(POSITIVE[:4])
    cached_model = last_layer(base)
    retrained = fit(cached_model, "last_layer", OPTIONS, examples(base, edited, labels), empty, Hooks(), cache=cache)
    assert retrained.embedded_rows == 1

    plain_model = last_layer(base)
    plain = examples(base, edited, labels)
    plain.keys = None  # no keys: no cache
    uncached = fit(plain_model, "last_layer", OPTIONS, plain, empty, Hooks(), cache=cache)
    assert uncached.embedded_rows == len(rows)
    # The same training: the edited row was embedded alone here and in a padded batch there, so its embedding
    # may differ in the last bits (the matrix products sum in another order), no more.
    losses = [epoch["train_loss"] for epoch in uncached.history]
    assert [epoch["train_loss"] for epoch in retrained.history] == pytest.approx(losses, rel=1e-5)
    for (name, want), (_, got) in zip(plain_model.named_parameters(), cached_model.named_parameters(), strict=True):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5, msg=name)


def test_cached_embeddings_equal_the_encoders_and_another_encoders_are_apart(base: Path, tmp_path: Path) -> None:
    rows, labels = texts(24)
    rows[3] = rows[1]  # an input twice in the rows: both read from the cache
    data = examples(base, rows, labels)
    encoder = last_layer(base)
    fresh = embed(encoder, data.inputs)
    hidden = fresh.shape[1]
    assert data.keys is not None

    def compute(part: object) -> torch.Tensor:
        return embed(encoder, part)  # type: ignore[arg-type]

    one = EmbeddingCache(tmp_path, "tiny-bert:fp32:cpu")
    assert one.embed(data.inputs, data.keys, hidden, compute).computed == 24
    read = one.embed(data.inputs, data.keys, hidden, compute)
    assert read.computed == 0
    torch.testing.assert_close(read.vectors, fresh, rtol=0, atol=0)
    other = EmbeddingCache(tmp_path, "tiny-bert:bf16:cpu")  # another precision: other vectors
    assert other.embed(data.inputs, data.keys, hidden, compute).computed == 24
    with pytest.raises(ValueError, match="3 keys for 24 inputs"):
        one.embed(data.inputs, data.keys[:3], hidden, compute)


def test_the_least_recently_used_chunks_go_once_the_cache_is_full(base: Path, tmp_path: Path) -> None:
    rows, labels = texts(30)
    encoder = last_layer(base)
    parts = [examples(base, rows[start : start + 10], labels[start : start + 10]) for start in (0, 10, 20)]
    hidden = embed(encoder, parts[0].inputs).shape[1]

    def compute(part: object) -> torch.Tensor:
        return embed(encoder, part)  # type: ignore[arg-type]

    cache = EmbeddingCache(tmp_path, "tiny", max_bytes=10**9)
    for part in parts:
        assert part.keys is not None
        cache.embed(part.inputs, part.keys, hidden, compute)
    chunk_bytes = max(chunk.stat().st_size for chunk in cache.folder.iterdir())
    assert len(list(cache.folder.iterdir())) == 3

    small = EmbeddingCache(tmp_path, "tiny", max_bytes=int(chunk_bytes * 2.5))
    assert parts[0].keys is not None
    small.embed(parts[0].inputs, parts[0].keys, hidden, compute)  # read: rows 0-9's chunk used lately
    later = examples(base, [*rows[20:], "a new row"], np.append(labels[20:], 1))
    assert later.keys is not None
    # Rows 20-29 read, the new one written in a chunk of its own; over the bound, rows 10-19's chunk (the least
    # recently used) is deleted.
    assert small.embed(later.inputs, later.keys, hidden, compute).computed == 1
    assert len(list(small.folder.iterdir())) == 3
    assert small.embed(parts[0].inputs, parts[0].keys, hidden, compute).computed == 0
    assert parts[1].keys is not None
    assert small.embed(parts[1].inputs, parts[1].keys, hidden, compute).computed == 10
