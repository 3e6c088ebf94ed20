"""Retraining a last-layer head after an edit, with the embedding cache: MiniLM-L6 on the SMS spam collection,
through the platform's own code as the worker runs it (tokenise, then modelkit's ``fit`` with the org's
``EmbeddingCache``), in one run:

- the first training (an empty cache: every row embedded);
- the retraining after ``--edited`` percent of the rows were edited (their texts changed), as the platform
  retrains a model (a new model with the first as its parent): only those rows embedded, the others read from
  the cache, the heads continued from the first model's in the method's continued epochs
  (``CONTINUED_MAX_EPOCHS``);
- the ratio of the second time to the first (its baseline, measured in the same run). Target: <= 0.1;
- for comparison, the same retraining without a parent (the heads from scratch, the method's default epochs).

The runs use the type's last-layer defaults (batch size, learning rate; epochs as said). Run:
`python -m bench.retrain_embeddings [--rows 5000] [--edited 1]`.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torch import nn

from automl_proto.models import CONTINUED_MAX_EPOCHS, TrainingOptions
from bench.train_text import MAX_LENGTH, SEED, minilm_dir, new_model
from deploy.local.sms_spam import rows as sms_rows
from modelkit import model_types
from modelkit.losses import HeadTargets
from modelkit.model_types.text_classification import load_tokenizer
from modelkit.model_types.text_classification.tokens import tokenize
from modelkit.training.data import Examples, validation_split
from modelkit.training.embedding_cache import EmbeddingCache, row_key
from modelkit.training.loop import NoHooks
from modelkit.training.trainer import fit

TARGET = 0.1


@dataclass(frozen=True)
class Run:
    seconds: float
    embedded_rows: int
    loading_s: float  # the base model and tokenizer loaded, the texts tokenised
    embedding_s: float  # the embeddings: computed, or read from the cache
    head_s: float  # the heads' epochs and evaluations
    best_epoch: float
    best_value: float


def train(
    model_dir: Path, texts: list[str], labels: np.ndarray, cache: EmbeddingCache, parent: nn.Module | None = None
) -> tuple[Run, nn.Module]:
    """Tokenise, split and train a last-layer head as the worker does (from ``parent``'s heads, as a run with a
    parent model continues); where its time went, and the trained heads."""
    defaults = model_types.info("text_classification").method_defaults.get("last_layer")
    continued = {"max_epochs": CONTINUED_MAX_EPOCHS["last_layer"]} if parent is not None else {}
    options = TrainingOptions(seed=SEED, **continued).resolved("last_layer", defaults)
    started = time.perf_counter()
    model = new_model(model_dir, "last_layer")
    if parent is not None:
        model.heads.load_state_dict(parent.state_dict())  # the same classes: the worker copies every one
    inputs = tokenize(load_tokenizer(model_dir), texts, MAX_LENGTH)
    everything = Examples(inputs, [HeadTargets(labels, False)], [row_key(text) for text in texts])
    train_positions, validation_positions = validation_split(everything.targets, options.validation_pct, SEED)
    loaded = time.perf_counter()
    result = fit(
        model, "last_layer", options, everything.subset(train_positions), everything.subset(validation_positions),
        NoHooks(), cache=cache,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    embedding_s = result.embedding_s or 0.0
    run = Run(
        seconds, result.embedded_rows, loaded - started, embedding_s, result.seconds - embedding_s,
        result.best_epoch or 0.0, result.best_value or 0.0,
    )  # fmt: skip
    return run, model.heads


def measure(rows: int, edited_pct: float) -> None:
    """Train, edit ``edited_pct`` percent of the rows, retrain; print both times and their ratio."""
    data = sms_rows()[:rows]
    texts = [text for _, text in data]
    labels = np.array([1 if label == "spam" else 0 for label, _ in data])
    rng = np.random.default_rng(SEED)
    changed = rng.choice(len(texts), size=max(1, round(len(texts) * edited_pct / 100)), replace=False)
    edited = list(texts)
    for position in changed:
        edited[position] = f"{edited[position]} (edited)"
    with tempfile.TemporaryDirectory(prefix="bench-retrain-") as work:
        model_dir = minilm_dir(Path(work))
        cache = EmbeddingCache(Path(work) / "cache", "text_classification:minilm-l6:fp32:cpu")
        first, heads = train(model_dir, texts, labels, cache)
        second, _ = train(model_dir, edited, labels, cache, parent=heads)
        scratch, _ = train(model_dir, edited, labels, cache)
    print(f"{len(texts)} texts; {len(changed)} edited ({edited_pct:g}%)")
    for name, run, note in (
        ("first training", first, ""),
        ("retraining", second, " (the others from the cache; from the first model's heads)"),
        ("without a parent", scratch, " (the heads from scratch)"),
    ):
        print(
            f"{name + ':':18s} {run.seconds:6.2f} s, {run.embedded_rows} rows embedded{note}: loading "
            f"{run.loading_s:.2f} s, embeddings {run.embedding_s:.2f} s, heads {run.head_s:.2f} s "
            f"(best epoch {run.best_epoch:g}, validation {run.best_value:.4f})"
        )
    print(
        f"retraining / first training (its baseline): ratio {second.seconds / first.seconds:.3f} (target <= {TARGET})"
    )
    print(f"retraining without a parent / first training: ratio {scratch.seconds / first.seconds:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--edited", type=float, default=1.0, help="percent of the rows edited before retraining")
    args = parser.parse_args()
    measure(args.rows, args.edited)


if __name__ == "__main__":
    main()
